-- Leases on upkeep work that one process at a time should do (see the PostgreSQL migration).
-- Expiry in Unix milliseconds: every holder of an embedded store runs on one machine's clock.
CREATE TABLE upkeep_leases (
    name          TEXT PRIMARY KEY,
    holder        TEXT NOT NULL,
    expires_at_ms INTEGER NOT NULL
);
