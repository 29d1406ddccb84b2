-- no-transaction
-- One event per owner and message id. Built CONCURRENTLY, so writes to `events` go on while it
-- builds (that needs its own migration, outside a transaction). Partial: only events that carry
-- a message id are in it, so events without one cost nothing.
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS events_owner_message_id
    ON events (user_id, message_id) WHERE message_id IS NOT NULL;
