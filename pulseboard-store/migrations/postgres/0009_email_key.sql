-- One account per email key: the email trimmed, NFKC-normalized and lowercased in full Unicode
-- (pulseboard_core::account::email_key), computed by the application, the same for both stores.
-- lower(email) alone folds only ASCII under the C collation (and SQLite's always).
-- Rows from before get their key here when their email is ASCII, where the key is exactly
-- lower(email); the others keep NULL and are still found by lower(email).
ALTER TABLE users ADD COLUMN email_key TEXT;
UPDATE users SET email_key = lower(email) WHERE octet_length(email) = char_length(email);
CREATE UNIQUE INDEX users_email_key ON users (email_key);
