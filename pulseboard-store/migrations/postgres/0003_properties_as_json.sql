-- `properties` is written once per event by the worker, as serde_json output, and only ever read
-- back as text: nothing queries inside it. `jsonb` parsed and re-encoded it on every outcome write
-- (≈ 5 µs per typical event in `jsonb_in`, against ≈ 1 µs for `json`'s syntax check) and
-- re-serialized it on every read. `json` stores the worker's text as is.
--
-- Upgrading rewrites the table under an exclusive lock: plan a pause for a large `events` table.
ALTER TABLE events ALTER COLUMN properties TYPE json USING properties::json;
