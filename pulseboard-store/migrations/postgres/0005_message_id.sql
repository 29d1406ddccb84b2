-- Client message ids: a client may name each event, and a repeat of (owner, message id) is
-- stored once. A nullable column without a default is a catalog change: no table rewrite,
-- whatever the size of `events`. Its unique index comes in the next migration.
ALTER TABLE events ADD COLUMN message_id TEXT;
