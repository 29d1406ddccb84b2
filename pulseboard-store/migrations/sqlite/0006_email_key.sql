-- One account per email key (see the PostgreSQL migration). SQLite's lower() folds only ASCII,
-- so `Ä@b.co` and `ä@b.co` could be two accounts here before.
ALTER TABLE users ADD COLUMN email_key TEXT;
UPDATE users SET email_key = lower(email) WHERE length(email) = length(CAST(email AS BLOB));
CREATE UNIQUE INDEX users_email_key ON users (email_key);
