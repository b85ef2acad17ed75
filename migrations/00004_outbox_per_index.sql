-- One outbox row per change and per derived index (FULL_TEXT, VECTOR).
--
-- The indexer used to apply a change to every index at once, so full text
-- waited for the embedding server and the status of one index was copied to
-- all. Now each index drains its own rows: full text is searchable while the
-- embedder is slow or down, and a memory's status tells what each index
-- holds. A change of the memory adds one row per index the deployment keeps,
-- in the write's transaction as before.
--
-- An entry is parked only when retrying cannot help (content the index
-- rejects, a vector of the wrong dimension); last_error then holds the
-- reason. Unavailability is retried forever. `gateway outbox retry` re-queues
-- parked entries.
--
-- `gateway outbox reindex` queues every memory of an organisation, private
-- ones included, so it must see ids, versions and authors of every author's
-- memories: app.outbox_reindex = 'on', set by stores/postgres in that one
-- statement only, lifts the private-memory restriction for reads (the org
-- policy still applies).

-- +goose Up
ALTER TABLE memory_outbox ADD COLUMN index_name text NOT NULL DEFAULT 'FULL_TEXT'
    CONSTRAINT memory_outbox_index_name_check CHECK (index_name IN ('FULL_TEXT', 'VECTOR'));
ALTER TABLE memory_outbox ALTER COLUMN index_name DROP DEFAULT;

-- Entries queued before this migration were meant for every index: the copy
-- keeps them for the vectors. Only an indexer with an embedder claims vector
-- entries, and the backlog each indexer reports counts only the indexes it
-- serves, so in a deployment without vectors the copies are inert (`gateway
-- outbox status` lists them).
-- Row security is lifted for the owner while it copies every org's rows.
ALTER TABLE memory_outbox NO FORCE ROW LEVEL SECURITY;
INSERT INTO memory_outbox (org_id, memory_id, op, memory_version, attempts, last_error, available_at, created_at, parked_at, author_id, index_name)
SELECT org_id, memory_id, op, memory_version, attempts, last_error, available_at, created_at, parked_at, author_id, 'VECTOR'
FROM memory_outbox;
ALTER TABLE memory_outbox FORCE ROW LEVEL SECURITY;

-- Claim: the oldest available rows of one index that are not parked.
DROP INDEX memory_outbox_ready_idx;
CREATE INDEX memory_outbox_ready_idx ON memory_outbox (index_name, available_at, id) WHERE parked_at IS NULL;

-- One change notification per change, not per index row.
DROP TRIGGER memory_outbox_notify ON memory_outbox;
CREATE TRIGGER memory_outbox_notify AFTER INSERT ON memory_outbox
    FOR EACH ROW WHEN (NEW.index_name = 'FULL_TEXT') EXECUTE FUNCTION notify_memory_change();

DROP POLICY memories_private_select ON memories;
CREATE POLICY memories_private_select ON memories AS RESTRICTIVE FOR SELECT
    USING (visibility = 'ORG' OR author_id = (SELECT app_user_id())
        OR (SELECT coalesce(current_setting('app.outbox_reindex', true), '')) = 'on');

-- +goose Down
DROP POLICY memories_private_select ON memories;
CREATE POLICY memories_private_select ON memories AS RESTRICTIVE FOR SELECT
    USING (visibility = 'ORG' OR author_id = (SELECT app_user_id()));
DROP TRIGGER memory_outbox_notify ON memory_outbox;
CREATE TRIGGER memory_outbox_notify AFTER INSERT ON memory_outbox
    FOR EACH ROW EXECUTE FUNCTION notify_memory_change();
ALTER TABLE memory_outbox NO FORCE ROW LEVEL SECURITY;
DELETE FROM memory_outbox WHERE index_name = 'VECTOR';
ALTER TABLE memory_outbox FORCE ROW LEVEL SECURITY;
DROP INDEX memory_outbox_ready_idx;
CREATE INDEX memory_outbox_ready_idx ON memory_outbox (available_at, id) WHERE parked_at IS NULL;
ALTER TABLE memory_outbox DROP COLUMN index_name;
