-- Counters the dashboard reads instead of scanning `events`: events per status, and events
-- accepted / processed / failed per minute, kept by triggers. SQLite has one writer at a time,
-- so one row per status (and per minute) is enough. Minutes are the first 16 characters of
-- the fixed-width RFC 3339 timestamps ("2026-11-30T05:29").

CREATE TABLE event_status_counts (
    status TEXT PRIMARY KEY,
    events INTEGER NOT NULL
);

CREATE TABLE event_activity_minutes (
    minute    TEXT PRIMARY KEY,
    accepted  INTEGER NOT NULL DEFAULT 0,
    processed INTEGER NOT NULL DEFAULT 0,
    failed    INTEGER NOT NULL DEFAULT 0
);

INSERT INTO event_status_counts (status, events)
SELECT status, count(*) FROM events GROUP BY status;

INSERT INTO event_activity_minutes (minute, accepted)
SELECT substr(created_at, 1, 16), count(*) FROM events
WHERE created_at >= strftime('%Y-%m-%dT%H:%M', 'now', '-2 hours') GROUP BY 1;

INSERT INTO event_activity_minutes (minute, processed, failed)
SELECT substr(updated_at, 1, 16), sum(status = 'processed'), sum(status <> 'processed') FROM events
WHERE updated_at >= strftime('%Y-%m-%dT%H:%M', 'now', '-2 hours')
  AND status IN ('processed', 'validation_error', 'failed')
GROUP BY 1
ON CONFLICT (minute) DO UPDATE SET processed = excluded.processed, failed = excluded.failed;

CREATE TRIGGER events_count_insert AFTER INSERT ON events BEGIN
    INSERT INTO event_status_counts (status, events) VALUES (NEW.status, 1)
    ON CONFLICT (status) DO UPDATE SET events = events + 1;
    -- An event refused at the door is inserted final: accepted and failed in the same minute.
    INSERT INTO event_activity_minutes (minute, accepted, processed, failed)
    VALUES (substr(NEW.created_at, 1, 16), 1, NEW.status = 'processed',
            NEW.status IN ('validation_error', 'failed'))
    ON CONFLICT (minute) DO UPDATE SET accepted = accepted + 1,
        processed = processed + excluded.processed, failed = failed + excluded.failed;
END;

CREATE TRIGGER events_count_status_change AFTER UPDATE OF status ON events
WHEN OLD.status <> NEW.status BEGIN
    UPDATE event_status_counts SET events = events - 1 WHERE status = OLD.status;
    INSERT INTO event_status_counts (status, events) VALUES (NEW.status, 1)
    ON CONFLICT (status) DO UPDATE SET events = events + 1;
END;

-- Only a move into a final status is activity.
CREATE TRIGGER events_count_finished AFTER UPDATE OF status ON events
WHEN OLD.status <> NEW.status AND NEW.status IN ('processed', 'validation_error', 'failed') BEGIN
    INSERT INTO event_activity_minutes (minute, processed, failed)
    VALUES (substr(NEW.updated_at, 1, 16), NEW.status = 'processed', NEW.status <> 'processed')
    ON CONFLICT (minute) DO UPDATE SET
        processed = processed + excluded.processed, failed = failed + excluded.failed;
END;

-- A deleted event leaves the status counts; the activity of its minute stays what happened.
CREATE TRIGGER events_count_delete AFTER DELETE ON events BEGIN
    UPDATE event_status_counts SET events = events - 1 WHERE status = OLD.status;
END;

-- The dashboard's recent failures, newest first, without reading the processed events. Only
-- failures are in it, so an event that is processed never pays for it.
CREATE INDEX events_failures_updated_at ON events (updated_at)
    WHERE status IN ('validation_error', 'failed');
