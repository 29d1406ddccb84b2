-- Leases on upkeep work that one process at a time should do (the retention purge): every
-- server and worker runs the upkeep, and the one holding a task's lease does it. A lease expires
-- on the database's clock, so a holder that died frees it without anyone's help.
CREATE TABLE upkeep_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
