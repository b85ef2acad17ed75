-- The change log: an ordered, durable record of every committed memory
-- change, kept for a retention window (GATEWAY_CHANGE_LOG_RETENTION, pruned
-- in bounded batches by stores/postgres' ChangeListener), so that a
-- subscriber can resume after a cursor (memoryChanged(after:)) and a
-- listener that lost its LISTEN connection can replay what it missed. Rows
-- hold ids and versions only, never content: a subscriber reads the memory
-- back under its own tenant binding.
--
-- Ordering. A sequence value taken at insert is not commit order: T1 takes
-- seq 10, T2 takes 11 and commits first, and a reader that saw 11 and moved
-- its cursor past it would skip 10 when T1 commits. So the sequence is taken
-- at commit time, in a lock-serialised step: the log row is written by a
-- DEFERRABLE INITIALLY DEFERRED constraint trigger, which runs while the
-- transaction commits (after every statement), and which first takes a
-- transaction-level advisory lock. That lock is released only when the
-- transaction has ended, after it became visible (PostgreSQL makes a commit
-- visible, then releases its locks). Hence, for any two logged transactions,
-- the one that took the lock first got the lower numbers and was visible
-- before the other could take any: whoever sees seq n also sees every
-- committed seq below n, and "seq > cursor" never skips a row that commits
-- later. Aborted transactions leave gaps, which skip nothing. The NOTIFY is
-- sent in the same step, and PostgreSQL delivers notifications in commit
-- order, so a listener receives the sequence numbers in increasing order.
-- The price: the commits of memory writes (their WAL flush) are serialised
-- with each other, across tenants; statements still run concurrently, and a
-- batch of memories is one commit.
--
-- The memory notification moves here from the outbox trigger of 00002 (so
-- it carries its sequence number and no longer depends on the outbox's
-- shape); feedback keeps its own notification.

-- +goose Up
CREATE SEQUENCE memory_change_seq AS bigint;

CREATE TABLE memory_changes (
    seq            bigint NOT NULL,
    org_id         uuid NOT NULL,
    memory_id      uuid NOT NULL,
    memory_version bigint NOT NULL,
    op             text NOT NULL CHECK (op IN ('upsert', 'delete')),
    -- The author of a PRIVATE memory (NULL for ORG): another user of the org
    -- does not even see that the memory changed.
    private_author uuid,
    committed_at   timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT memory_changes_pkey PRIMARY KEY (seq)
);
-- A tenant's replay: its rows after a cursor, in order.
CREATE INDEX memory_changes_org_idx ON memory_changes (org_id, seq);

-- How far pruning has gone: a cursor below pruned_through has lost rows and
-- is expired. One row.
CREATE TABLE memory_change_horizon (
    single         boolean NOT NULL DEFAULT true CHECK (single),
    pruned_through bigint NOT NULL DEFAULT 0,
    CONSTRAINT memory_change_horizon_pkey PRIMARY KEY (single)
);
INSERT INTO memory_change_horizon DEFAULT VALUES;

-- +goose StatementBegin
CREATE FUNCTION log_memory_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    change_op text := CASE WHEN NEW.state = 'DELETED' THEN 'delete' ELSE 'upsert' END;
    change_seq bigint;
BEGIN
    -- Serialises the commit of logged transactions (see the top of this
    -- file); re-entrant within the transaction.
    PERFORM pg_advisory_xact_lock(7276830117153062405);
    change_seq := nextval('memory_change_seq');
    INSERT INTO memory_changes (seq, org_id, memory_id, memory_version, op, private_author)
    VALUES (change_seq, NEW.org_id, NEW.id, NEW.version, change_op,
            CASE WHEN NEW.visibility = 'PRIVATE' THEN NEW.author_id END);
    PERFORM pg_notify('codingbrain_changes', json_build_object(
        'k', 'MEMORY', 'o', NEW.org_id, 'm', NEW.id, 'v', NEW.version, 'op', change_op, 'c', change_seq)::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE CONSTRAINT TRIGGER memories_change_log_insert AFTER INSERT ON memories
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION log_memory_change();
CREATE CONSTRAINT TRIGGER memories_change_log_update AFTER UPDATE ON memories
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.version IS DISTINCT FROM NEW.version)
    EXECUTE FUNCTION log_memory_change();
-- Replaced by the trigger above (IF EXISTS: 00004 may have reshaped the outbox).
DROP TRIGGER IF EXISTS memory_outbox_notify ON memory_outbox;

-- A tenant reads (and, through the trigger, writes) its own rows, and not
-- the private memories of others. The listener's replay and the pruning
-- work across tenants with app.change_feed = 'on' in their transaction;
-- they see ids and versions only.
ALTER TABLE memory_changes ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory_changes FORCE ROW LEVEL SECURITY;
CREATE POLICY memory_changes_tenant_insert ON memory_changes FOR INSERT
    WITH CHECK (org_id = (SELECT app_org_id()));
CREATE POLICY memory_changes_tenant_select ON memory_changes FOR SELECT
    USING (org_id = (SELECT app_org_id()));
CREATE POLICY memory_changes_feed_select ON memory_changes FOR SELECT
    USING ((SELECT current_setting('app.change_feed', true)) = 'on');
CREATE POLICY memory_changes_feed_delete ON memory_changes FOR DELETE
    USING ((SELECT current_setting('app.change_feed', true)) = 'on');
CREATE POLICY memory_changes_private ON memory_changes AS RESTRICTIVE FOR SELECT
    USING (private_author IS NULL OR private_author = (SELECT app_user_id())
           OR (SELECT current_setting('app.change_feed', true)) = 'on');

GRANT USAGE, SELECT ON SEQUENCE memory_change_seq TO codingbrain_app;
GRANT SELECT, INSERT, DELETE ON memory_changes TO codingbrain_app;
GRANT SELECT, UPDATE ON memory_change_horizon TO codingbrain_app;

-- +goose Down
CREATE TRIGGER memory_outbox_notify AFTER INSERT ON memory_outbox
    FOR EACH ROW EXECUTE FUNCTION notify_memory_change();
DROP TRIGGER memories_change_log_update ON memories;
DROP TRIGGER memories_change_log_insert ON memories;
DROP FUNCTION log_memory_change();
DROP TABLE memory_change_horizon;
DROP TABLE memory_changes;
DROP SEQUENCE memory_change_seq;
