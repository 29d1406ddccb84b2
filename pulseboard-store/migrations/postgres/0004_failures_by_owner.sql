-- Listing an owner's failed events (`?status=failed` or `validation_error`) had no index to
-- follow: it scanned the whole table (30 ms at 300,000 events, growing with the table). This
-- index holds failures only, so it stays small and costs nothing on the rows that succeed.
--
-- Upgrading builds it under a lock that pauses writes: plan a pause for a large `events` table.
CREATE INDEX events_failures_by_owner ON events (user_id, id DESC)
    WHERE status IN ('validation_error', 'failed');
