-- Client message ids: a client may name each event, and a repeat of (owner, message id) is
-- stored once. A nullable column without a default is a catalog change: no table rewrite.
-- The unique index is partial (only events that carry a message id are in it), so events
-- without one cost nothing. Building it scans `events` while writes wait: 0.2 s per 1,000,000
-- events here (README, upgrade notes). It is not built CONCURRENTLY: that cannot run inside the
-- migration's transaction, and a server and a worker migrating at the same moment deadlocked
-- on it. On a very large table, create it CONCURRENTLY by hand before upgrading; this
-- migration then finds it.
-- COLLATE "C": ids are only ever compared for equality, and the index compares bytes instead
-- of calling the database locale's collation.
ALTER TABLE events ADD COLUMN IF NOT EXISTS message_id TEXT COLLATE "C";
CREATE UNIQUE INDEX IF NOT EXISTS events_owner_message_id
    ON events (user_id, message_id) WHERE message_id IS NOT NULL;
