-- Counters the dashboard reads instead of scanning `events`: events per status, and events
-- accepted / processed / failed per minute.
--
-- Statement-level triggers append what each statement changed to two delta tables, one row
-- per status (or minute) per statement, and never update a row: updating a few shared counter
-- rows from every write leaves long chains of dead row versions that each later update must
-- walk, and it doubled the database's CPU per event under load (measured). Appending costs
-- about nothing (BENCHMARKS.md). `fold_event_counters()` sums the deltas into the counter
-- tables; the worker calls it every few seconds, so the deltas a reader adds up stay few.

CREATE TABLE event_status_counts (
    status TEXT PRIMARY KEY,
    events BIGINT NOT NULL
);
CREATE TABLE event_status_deltas (
    status TEXT NOT NULL,
    events BIGINT NOT NULL
);

CREATE TABLE event_activity_minutes (
    minute    TIMESTAMPTZ PRIMARY KEY,
    accepted  BIGINT NOT NULL DEFAULT 0,
    processed BIGINT NOT NULL DEFAULT 0,
    failed    BIGINT NOT NULL DEFAULT 0
);
CREATE TABLE event_activity_deltas (
    minute    TIMESTAMPTZ NOT NULL,
    accepted  BIGINT NOT NULL DEFAULT 0,
    processed BIGINT NOT NULL DEFAULT 0,
    failed    BIGINT NOT NULL DEFAULT 0
);

CREATE FUNCTION count_inserted_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_status_deltas (status, events)
    SELECT status, count(*) FROM new_rows GROUP BY status;
    -- An event refused at the door is inserted final: accepted and failed in the same minute.
    INSERT INTO event_activity_deltas (minute, accepted, processed, failed)
    SELECT date_trunc('minute', created_at), count(*),
           count(*) FILTER (WHERE status = 'processed'),
           count(*) FILTER (WHERE status IN ('validation_error', 'failed'))
    FROM new_rows GROUP BY 1;
    RETURN NULL;
END $$;

-- No statement of the store moves an event from one final status to another, so every final
-- row an update leaves behind has just become final: that is the activity counted. (A replay
-- moves final events back to `enqueued`; they count again when they are final again.)
CREATE FUNCTION count_updated_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_status_deltas (status, events)
    SELECT status, sum(delta) FROM
        (SELECT status, 1 AS delta FROM new_rows UNION ALL SELECT status, -1 FROM old_rows) moves
    GROUP BY status HAVING sum(delta) <> 0;
    INSERT INTO event_activity_deltas (minute, processed, failed)
    SELECT date_trunc('minute', updated_at),
           count(*) FILTER (WHERE status = 'processed'),
           count(*) FILTER (WHERE status IN ('validation_error', 'failed'))
    FROM new_rows WHERE status IN ('processed', 'validation_error', 'failed')
    GROUP BY 1;
    RETURN NULL;
END $$;

-- A deleted event leaves the status counts; the activity of its minutes stays what happened.
CREATE FUNCTION count_deleted_events() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_status_deltas (status, events)
    SELECT status, -count(*) FROM old_rows GROUP BY status;
    RETURN NULL;
END $$;

CREATE FUNCTION clear_event_counters() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE event_status_counts, event_status_deltas, event_activity_minutes,
             event_activity_deltas;
    RETURN NULL;
END $$;

-- Moves the deltas into the counters, and drops minutes older than two hours (the dashboard
-- shows one). One caller at a time (others return at once); readers see the deltas before or
-- after, never half, since it is one transaction.
CREATE FUNCTION fold_event_counters() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtext('pulseboard.fold_event_counters')) THEN
        RETURN;
    END IF;
    WITH moved AS (DELETE FROM event_status_deltas RETURNING status, events)
    INSERT INTO event_status_counts AS c (status, events)
    SELECT status, sum(events) FROM moved GROUP BY status
    ON CONFLICT (status) DO UPDATE SET events = c.events + excluded.events;
    WITH moved AS (DELETE FROM event_activity_deltas RETURNING *)
    INSERT INTO event_activity_minutes AS a (minute, accepted, processed, failed)
    SELECT minute, sum(accepted), sum(processed), sum(failed) FROM moved GROUP BY minute
    ON CONFLICT (minute) DO UPDATE SET accepted = a.accepted + excluded.accepted,
        processed = a.processed + excluded.processed, failed = a.failed + excluded.failed;
    DELETE FROM event_activity_minutes WHERE minute < now() - interval '2 hours';
END $$;

-- The counters start from what is there, with writes held off while they are counted and the
-- triggers created, so nothing is counted twice or missed (measured in the README's upgrade notes).
LOCK TABLE events IN SHARE ROW EXCLUSIVE MODE;

INSERT INTO event_status_counts (status, events)
SELECT status, count(*) FROM events GROUP BY status;

INSERT INTO event_activity_minutes (minute, accepted)
SELECT date_trunc('minute', created_at), count(*) FROM events
WHERE created_at >= now() - interval '2 hours' GROUP BY 1;

INSERT INTO event_activity_minutes AS a (minute, processed, failed)
SELECT date_trunc('minute', updated_at),
       count(*) FILTER (WHERE status = 'processed'),
       count(*) FILTER (WHERE status IN ('validation_error', 'failed'))
FROM events
WHERE updated_at >= now() - interval '2 hours' AND status IN ('processed', 'validation_error', 'failed')
GROUP BY 1
ON CONFLICT (minute) DO UPDATE SET processed = excluded.processed, failed = excluded.failed;

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
