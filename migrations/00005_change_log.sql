-- The change log: an ordered, durable record of every committed memory
-- change, kept for a retention window (GATEWAY_CHANGE_LOG_RETENTION, pruned
-- in bounded batches by stores/postgres' ChangeListener), so that a
-- subscriber can resume after a cursor (memoryChanged(after:)) and a
-- listener that lost its LISTEN connection can replay what it missed. Rows
-- hold ids and versions only, never content: a subscriber reads the memory
-- back under its own tenant binding.
--
-- Ordering. A number taken when the row is inserted is not commit order: T1
-- takes 10, T2 takes 11 and commits first, and a reader that saw 11 and
-- moved its cursor past it would skip 10 when T1 commits. So a write only
-- inserts its row, unnumbered (seq NULL), in its own transaction; positions
-- are given after commit, by number_memory_changes(), which the gateways'
-- listeners run when a write notifies them (and every few seconds):
--   * a numbering pass first locks the counter row, and holds that lock
--     until its transaction has ended, after it became visible (PostgreSQL
--     makes a commit visible, then releases its locks), so passes run one
--     at a time and each sees every pass before it;
--   * it numbers only rows that are committed (those its snapshot sees),
--     above every number given before.
-- Hence whoever sees position n also sees every position below n (numbered
-- by the same pass or by an earlier, visible one), and "seq > cursor" never
-- skips a row. Changes of one memory keep their order: its second write
-- waits for the first's row lock, so its log row has the higher id, and
-- cannot be visible (so numbered) before the first's. Writes stay
-- concurrent: a pass costs one commit for up to a batch of rows, off the
-- write path.
--
-- The memory notification moves here from the outbox trigger of 00002 (it
-- no longer depends on the outbox's shape): a constant wake-up, which
-- PostgreSQL sends once per transaction, telling the listeners to number
-- and read the log. Feedback keeps its own notification.

-- +goose Up
CREATE TABLE memory_changes (
    id             bigint GENERATED ALWAYS AS IDENTITY,
    -- The position in the log, given after commit (NULL until then).
    seq            bigint,
    org_id         uuid NOT NULL,
    memory_id      uuid NOT NULL,
    memory_version bigint NOT NULL,
    op             text NOT NULL CHECK (op IN ('upsert', 'delete')),
    -- The author of a PRIVATE memory (NULL for ORG): another user of the org
    -- does not even see that the memory changed.
    private_author uuid,
    committed_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT memory_changes_pkey PRIMARY KEY (id),
    CONSTRAINT memory_changes_seq_key UNIQUE (seq)
);
-- A tenant's replay: its rows after a cursor, in order.
CREATE INDEX memory_changes_org_idx ON memory_changes (org_id, seq) WHERE seq IS NOT NULL;
-- The rows a numbering pass has to number.
CREATE INDEX memory_changes_pending_idx ON memory_changes (id) WHERE seq IS NULL;

-- The log's bounds, one row: the last position given, and how far pruning
-- has gone (a cursor below pruned_through has lost rows: it is expired).
CREATE TABLE memory_change_log (
    single         boolean NOT NULL DEFAULT true CHECK (single),
    last_seq       bigint NOT NULL DEFAULT 0,
    pruned_through bigint NOT NULL DEFAULT 0,
    CONSTRAINT memory_change_log_pkey PRIMARY KEY (single)
);
INSERT INTO memory_change_log DEFAULT VALUES;

-- +goose StatementBegin
CREATE FUNCTION log_memory_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO memory_changes (org_id, memory_id, memory_version, op, private_author)
    VALUES (NEW.org_id, NEW.id, NEW.version, CASE WHEN NEW.state = 'DELETED' THEN 'delete' ELSE 'upsert' END,
            CASE WHEN NEW.visibility = 'PRIVATE' THEN NEW.author_id END);
    PERFORM pg_notify('codingbrain_changes', '{"k":"MEMORY_LOG"}');
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER memories_change_log_insert AFTER INSERT ON memories
    FOR EACH ROW EXECUTE FUNCTION log_memory_change();
CREATE TRIGGER memories_change_log_update AFTER UPDATE ON memories
    FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version) EXECUTE FUNCTION log_memory_change();
-- Replaced by the trigger above (IF EXISTS: 00004 may have reshaped the outbox).
DROP TRIGGER IF EXISTS memory_outbox_notify ON memory_outbox;

-- +goose StatementBegin
CREATE FUNCTION number_memory_changes(batch integer) RETURNS integer LANGUAGE plpgsql AS $$
DECLARE
    base bigint;
    numbered integer;
BEGIN
    -- An idle poll stays read-only.
    IF NOT EXISTS (SELECT 1 FROM memory_changes WHERE seq IS NULL) THEN
        RETURN 0;
    END IF;
    -- One pass at a time, each after the previous one's commit (see the top
    -- of this file). Each statement below takes a new snapshot, so it sees
    -- what committed while this pass waited for the lock.
    SELECT last_seq INTO base FROM memory_change_log FOR UPDATE;
    WITH pending AS (
        SELECT id, base + row_number() OVER (ORDER BY id) AS seq
        FROM memory_changes WHERE seq IS NULL ORDER BY id LIMIT batch)
    UPDATE memory_changes c SET seq = p.seq FROM pending p WHERE c.id = p.id;
    GET DIAGNOSTICS numbered = ROW_COUNT;
    UPDATE memory_change_log SET last_seq = base + numbered;
    RETURN numbered;
END
$$;
-- +goose StatementEnd

-- A tenant reads (and, through the trigger, writes) its own rows, and not
-- the private memories of others. The listeners' numbering, replay and
-- pruning work across tenants with app.change_feed = 'on' in their
-- transaction; they see ids and versions only.
ALTER TABLE memory_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory_changes FORCE ROW LEVEL SECURITY;
CREATE POLICY memory_changes_tenant_insert ON memory_changes FOR INSERT
    WITH CHECK (org_id = (SELECT app_org_id()));
CREATE POLICY memory_changes_tenant_select ON memory_changes FOR SELECT
    USING (org_id = (SELECT app_org_id()));
CREATE POLICY memory_changes_feed_select ON memory_changes FOR SELECT
    USING ((SELECT current_setting('app.change_feed', true)) = 'on');
CREATE POLICY memory_changes_feed_update ON memory_changes FOR UPDATE
    USING ((SELECT current_setting('app.change_feed', true)) = 'on');
CREATE POLICY memory_changes_feed_delete ON memory_changes FOR DELETE
    USING ((SELECT current_setting('app.change_feed', true)) = 'on');
CREATE POLICY memory_changes_private ON memory_changes AS RESTRICTIVE FOR SELECT
    USING (private_author IS NULL OR private_author = (SELECT app_user_id())
           OR (SELECT current_setting('app.change_feed', true)) = 'on');

REVOKE ALL ON FUNCTION number_memory_changes(integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION number_memory_changes(integer) TO codingbrain_app;
GRANT SELECT, INSERT, UPDATE (seq), DELETE ON memory_changes TO codingbrain_app;
GRANT SELECT, UPDATE ON memory_change_log TO codingbrain_app;

-- +goose Down
-- Back to the notification of migration 00004: one per change (its full-text row).
CREATE TRIGGER memory_outbox_notify AFTER INSERT ON memory_outbox
    FOR EACH ROW WHEN (NEW.index_name = 'FULL_TEXT') EXECUTE FUNCTION notify_memory_change();
DROP FUNCTION number_memory_changes(integer);
DROP TRIGGER memories_change_log_update ON memories;
DROP TRIGGER memories_change_log_insert ON memories;
DROP FUNCTION log_memory_change();
DROP TABLE memory_change_log;
DROP TABLE memory_changes;
