-- Login attempts, for throttling password guessing (one row per attempt and key, where a key is
-- an account or a client address). A row is written before the password is checked and
-- deleted again when the password was right, so what stays counts failures and attempts still
-- in flight. Rows older than a day are deleted by the worker's upkeep.
CREATE TABLE login_attempts (
    id           BIGSERIAL PRIMARY KEY,
    key          TEXT NOT NULL,
    attempted_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX login_attempts_key_time ON login_attempts (key, attempted_at DESC);
CREATE INDEX login_attempts_time ON login_attempts (attempted_at);
