-- Message ids move from a unique index on `events` to a table of their own, written once per
-- event and never updated. The outcome write cannot be a HOT update (it changes indexed
-- columns), so every index on `events` takes a second entry for it: the unique index cost each
-- event two entries and a uniqueness check per entry. A narrow row here costs one. Measured with
-- pgbench (insert 100 events, then their outcomes), CPU per event over events without ids:
-- +5.6 and +9.5 µs with the index, +3.1 and +4.9 µs with this table (BENCHMARKS.md).
-- `events.message_id` stays, unindexed: the event resource and the listing show it.
-- Writes wait while the ids are copied, so none is missed between the copy and the drop.
LOCK TABLE events IN SHARE MODE;
CREATE TABLE event_message_ids (
    user_id    BIGINT NOT NULL,
    message_id TEXT COLLATE "C" NOT NULL,
    event_id   BIGINT NOT NULL,
    PRIMARY KEY (user_id, message_id)
);
INSERT INTO event_message_ids (user_id, message_id, event_id)
SELECT user_id, message_id, id FROM events WHERE message_id IS NOT NULL;
DROP INDEX IF EXISTS events_owner_message_id;
