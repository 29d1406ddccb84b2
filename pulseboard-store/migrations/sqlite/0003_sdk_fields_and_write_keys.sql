-- SDK message fields and write keys (see the PostgreSQL migrations for the reasons).
ALTER TABLE events ADD COLUMN client_user_id TEXT;
ALTER TABLE events ADD COLUMN anonymous_id TEXT;
ALTER TABLE events ADD COLUMN occurred_at TEXT;
ALTER TABLE events ADD COLUMN context TEXT;

CREATE TABLE write_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   TEXT NOT NULL,
    revoked_at   TEXT,
    last_used_at TEXT,
    event_count  INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX write_keys_user_id ON write_keys (user_id, id);
