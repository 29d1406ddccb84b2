-- Login attempts, for throttling password guessing (see the PostgreSQL migration).
CREATE TABLE login_attempts (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    key          TEXT NOT NULL,
    attempted_at TEXT NOT NULL
);
CREATE INDEX login_attempts_key_time ON login_attempts (key, attempted_at DESC);
CREATE INDEX login_attempts_time ON login_attempts (attempted_at);
