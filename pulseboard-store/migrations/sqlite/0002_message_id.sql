-- Client message ids: one event per owner and message id (see the PostgreSQL migrations).
ALTER TABLE events ADD COLUMN message_id TEXT;
CREATE UNIQUE INDEX events_owner_message_id ON events (user_id, message_id)
    WHERE message_id IS NOT NULL;
