-- Timestamps are TEXT written by the application in one format, so they compare correctly.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    full_name     TEXT,
    created_at    TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE events (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id          INTEGER NOT NULL REFERENCES users (id),
    task_id          TEXT NOT NULL,
    event_name       TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    source           TEXT,
    session_id       TEXT,
    payload          TEXT NOT NULL,
    properties       TEXT,
    status           TEXT NOT NULL CHECK (status IN
                         ('enqueued', 'processing', 'retrying', 'processed', 'validation_error', 'failed')),
    processing_error TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT NOT NULL,
    updated_at       TEXT NOT NULL,
    processed_at     TEXT
);
CREATE INDEX events_user_id_id ON events (user_id, id DESC);
CREATE INDEX events_unfinished_updated_at ON events (updated_at)
    WHERE status IN ('enqueued', 'processing', 'retrying');
CREATE INDEX events_task_id ON events (task_id);
CREATE INDEX events_final_updated_at ON events (updated_at)
    WHERE status IN ('processed', 'validation_error', 'failed');
CREATE INDEX events_created_at ON events (created_at);
