-- Counters the dashboard reads instead of scanning `events`: events per status, and events
-- accepted / processed / failed per minute. Statement-level triggers keep them, so a batch of
-- 100 events costs one counter write, not 100.
--
-- Writers never wait on each other for a counter: each database session adds to rows of its
-- own (`session` = pg_backend_pid()), and readers sum the rows. Sessions that have ended are
-- folded into `session` 0 by `fold_event_counters()`, which the worker calls every minute.

CREATE TABLE event_status_counts (
    session INTEGER NOT NULL,
    status  TEXT NOT NULL,
    events  BIGINT NOT NULL,
    PRIMARY KEY (session, status)
);

CREATE TABLE event_activity_minutes (
    minute    TIMESTAMPTZ NOT NULL,
    session   INTEGER NOT NULL,
    accepted  BIGINT NOT NULL DEFAULT 0,
    processed BIGINT NOT NULL DEFAULT 0,
    failed    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (minute, session)
);

CREATE FUNCTION count_inserted_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_status_counts AS c (session, status, events)
    SELECT pg_backend_pid(), status, count(*) FROM new_rows GROUP BY status
    ON CONFLICT (session, status) DO UPDATE SET events = c.events + excluded.events;
    -- An event refused at the door is inserted final: accepted and failed in the same minute.
    INSERT INTO event_activity_minutes AS a (minute, session, accepted, processed, failed)
    SELECT date_trunc('minute', created_at), pg_backend_pid(), count(*),
           count(*) FILTER (WHERE status = 'processed'),
           count(*) FILTER (WHERE status IN ('validation_error', 'failed'))
    FROM new_rows GROUP BY 1
    ON CONFLICT (minute, session) DO UPDATE SET accepted = a.accepted + excluded.accepted,
        processed = a.processed + excluded.processed, failed = a.failed + excluded.failed;
    RETURN NULL;
END $$;

CREATE FUNCTION count_updated_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_status_counts AS c (session, status, events)
    SELECT pg_backend_pid(), status, sum(delta) FROM
        (SELECT status, 1 AS delta FROM new_rows UNION ALL SELECT status, -1 FROM old_rows) moves
    GROUP BY status HAVING sum(delta) <> 0
    ON CONFLICT (session, status) DO UPDATE SET events = c.events + excluded.events;
    -- Only a move into a final status is activity; lease touches and claims are not.
    INSERT INTO event_activity_minutes AS a (minute, session, processed, failed)
    SELECT date_trunc('minute', n.updated_at), pg_backend_pid(),
           count(*) FILTER (WHERE n.status = 'processed'),
           count(*) FILTER (WHERE n.status IN ('validation_error', 'failed'))
    FROM new_rows n JOIN old_rows o USING (id)
    WHERE n.status <> o.status AND n.status IN ('processed', 'validation_error', 'failed')
    GROUP BY 1
    ON CONFLICT (minute, session) DO UPDATE SET
        processed = a.processed + excluded.processed, failed = a.failed + excluded.failed;
    RETURN NULL;
END $$;

-- A deleted event leaves the status counts; the activity of its minute stays what happened.
CREATE FUNCTION count_deleted_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_status_counts AS c (session, status, events)
    SELECT pg_backend_pid(), status, -count(*) FROM old_rows GROUP BY status
    ON CONFLICT (session, status) DO UPDATE SET events = c.events + excluded.events;
    RETURN NULL;
END $$;

CREATE FUNCTION clear_event_counters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM event_status_counts;
    DELETE FROM event_activity_minutes;
    RETURN NULL;
END $$;

-- Sessions that have ended (their pid is gone) are folded into session 0, and minutes older
-- than two hours are dropped; the dashboard shows the last hour.
CREATE FUNCTION fold_event_counters() RETURNS void LANGUAGE sql AS $$
    WITH ended AS (
        DELETE FROM event_status_counts
        WHERE session <> 0 AND session NOT IN (SELECT pid FROM pg_stat_activity)
        RETURNING status, events)
    INSERT INTO event_status_counts AS c (session, status, events)
    SELECT 0, status, sum(events) FROM ended GROUP BY status
    ON CONFLICT (session, status) DO UPDATE SET events = c.events + excluded.events;
    DELETE FROM event_activity_minutes WHERE minute < now() - interval '2 hours';
$$;

-- The counters start from what is there, with writes held off while they are counted and the
-- triggers created, so nothing is counted twice or missed (measured in the README's upgrade notes).
LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO event_status_counts (session, status, events)
SELECT 0, status, count(*) FROM events GROUP BY status;

INSERT INTO event_activity_minutes (minute, session, accepted)
SELECT date_trunc('minute', created_at), 0, count(*) FROM events
WHERE created_at >= now() - interval '2 hours' GROUP BY 1;

INSERT INTO event_activity_minutes AS a (minute, session, processed, failed)
SELECT date_trunc('minute', updated_at), 0,
       count(*) FILTER (WHERE status = 'processed'),
       count(*) FILTER (WHERE status IN ('validation_error', 'failed'))
FROM events
WHERE updated_at >= now() - interval '2 hours' AND status IN ('processed', 'validation_error', 'failed')
GROUP BY 1
ON CONFLICT (minute, session) DO UPDATE SET processed = excluded.processed, failed = excluded.failed;

CREATE TRIGGER events_count_inserts AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_inserted_events();
CREATE TRIGGER events_count_updates AFTER UPDATE ON events
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION count_updated_events();
CREATE TRIGGER events_count_deletes AFTER DELETE ON events
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_deleted_events();
CREATE TRIGGER events_clear_counters AFTER TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION clear_event_counters();

-- The dashboard's recent failures, newest first, without reading the processed events. Only
-- failures are in it, so an event that is processed never pays for it.
CREATE INDEX IF NOT EXISTS events_failures_updated_at ON events (updated_at)
    WHERE status IN ('validation_error', 'failed');
