-- What SDK messages carry besides the native fields (DESIGN §8: nothing sent is dropped), and
-- the write keys they authenticate with. Nullable columns without defaults are catalog changes:
-- no table rewrite, no long lock on a large `events` table.
-- `client_user_id`: the app's id of its end user (`userId`, PostHog `distinct_id`); `user_id`
-- already names the owner.
ALTER TABLE events
    ADD COLUMN IF NOT EXISTS client_user_id TEXT,
    ADD COLUMN IF NOT EXISTS anonymous_id   TEXT,
    ADD COLUMN IF NOT EXISTS occurred_at    TIMESTAMPTZ,
    ADD COLUMN IF NOT EXISTS context        JSON;

-- Write keys authenticate ingest only. The key itself is never stored: `key_hash` is the
-- SHA-256 of it, in hex (keys are 256-bit random tokens, so a fast hash is enough).
CREATE TABLE IF NOT EXISTS write_keys (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    user_id      BIGINT NOT NULL REFERENCES users (id),
    name         TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    created_at   TIMESTAMPTZ NOT NULL,
    revoked_at   TIMESTAMPTZ,
    last_used_at TIMESTAMPTZ,
    event_count  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS write_keys_user_id ON write_keys (user_id, id);
