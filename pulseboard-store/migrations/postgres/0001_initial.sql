-- Users own events; emails are unique regardless of case.
CREATE TABLE users (
    id            BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email         TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    full_name     TEXT,
    created_at    TIMESTAMPTZ NOT NULL
);
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE TABLE events (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id          BIGINT NOT NULL REFERENCES users (id),
    task_id          TEXT NOT NULL,
    event_name       TEXT NOT NULL,
    event_type       TEXT NOT NULL,
    source           TEXT,
    session_id       TEXT,
    -- `json`, not `jsonb`: keeps the payload byte-for-byte as received, and accepts \u0000 so the
    -- worker (not the insert) reports a payload that is not JSON-safe.
    payload          JSON NOT NULL,
    properties       JSONB,
    status           TEXT NOT NULL CHECK (status IN
                         ('enqueued', 'processing', 'retrying', 'processed', 'validation_error', 'failed')),
    processing_error TEXT,
    attempts         INTEGER NOT NULL DEFAULT 0,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL,
    processed_at     TIMESTAMPTZ
);
-- An owner's events, newest first (listing with keyset pagination).
CREATE INDEX events_user_id_id ON events (user_id, id DESC);
-- The recovery sweep: unfinished events by last change.
CREATE INDEX events_unfinished_updated_at ON events (updated_at)
    WHERE status IN ('enqueued', 'processing', 'retrying');
-- Dashboard: a task's events, recent final events, accepted per minute.
CREATE INDEX events_task_id ON events (task_id);
CREATE INDEX events_final_updated_at ON events (updated_at)
    WHERE status IN ('processed', 'validation_error', 'failed');
CREATE INDEX events_created_at ON events (created_at);
