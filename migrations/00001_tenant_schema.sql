-- The schema of the memories, feedback and experiments domains.
--
-- Runs as the owner role. The gateway connects as the application role
-- codingbrain_app (NOSUPERUSER NOBYPASSRLS, owning nothing; see
-- e2e/services/postgres/setup.sql), which gets only the privileges granted at
-- the end of this file.
--
-- Tenant isolation: every table carrying org_id has ENABLE and FORCE ROW LEVEL
-- SECURITY (FORCE: the owner is bound too) and policies on the transaction-local
-- settings app.org_id / app.user_id that stores/postgres sets with
-- set_config(..., true) at the start of every transaction.
--   * Unset setting: current_setting(name, true) is NULL, or '' once any
--     transaction of the session has set it and ended (PostgreSQL keeps the
--     placeholder with an empty reset value). nullif(..., '') turns both into
--     NULL, the comparison is NULL, and no row matches: fail closed.
--   * A malformed value raises invalid_text_representation on the ::uuid
--     cast: an error, never rows.
--   * (select ...) makes the planner evaluate the setting once per statement
--     (an InitPlan) instead of once per row.
-- Foreign keys are composite (org_id, id), so a row can only ever refer to a
-- row of its own organisation even though referential checks bypass row level
-- security.
--
-- Names (apps, categories, experiments, variant keys) use COLLATE "C": lists
-- ordered by name come back in byte order on every server, as in stores/embedded.

-- +goose Up

-- +goose StatementBegin
CREATE FUNCTION app_org_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.org_id', true), '')::uuid $$;
-- +goose StatementEnd

-- +goose StatementBegin
CREATE FUNCTION app_user_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT nullif(current_setting('app.user_id', true), '')::uuid $$;
-- +goose StatementEnd

COMMENT ON FUNCTION app_org_id() IS 'The organisation bound to the current transaction (set_config(''app.org_id'', ..., true)), NULL when none is.';
COMMENT ON FUNCTION app_user_id() IS 'The user bound to the current transaction (set_config(''app.user_id'', ..., true)), NULL when none is.';

CREATE TABLE apps (
    org_id      uuid NOT NULL,
    id          uuid NOT NULL,
    name        text COLLATE "C" NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT apps_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT apps_name_key UNIQUE (org_id, name)
);

CREATE TABLE memories (
    org_id     uuid NOT NULL,
    id         uuid NOT NULL,
    app_id     uuid NOT NULL,
    author_id  uuid NOT NULL,
    content    text NOT NULL CHECK (content <> '' AND octet_length(content) <= 65536),
    metadata   jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(metadata) = 'object'),
    state      text NOT NULL DEFAULT 'ACTIVE' CHECK (state IN ('ACTIVE', 'PAUSED', 'ARCHIVED', 'DELETED')),
    version    bigint NOT NULL DEFAULT 1 CHECK (version >= 1),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    deleted_at timestamptz,
    CONSTRAINT memories_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT memories_app_fkey FOREIGN KEY (org_id, app_id) REFERENCES apps (org_id, id),
    CONSTRAINT memories_deleted_check CHECK ((state = 'DELETED') = (deleted_at IS NOT NULL))
);
-- Lists, newest first (scanned backwards), with or without an app filter.
CREATE INDEX memories_newest_idx ON memories (org_id, created_at, id);
CREATE INDEX memories_app_newest_idx ON memories (org_id, app_id, created_at, id);
-- No trigram index for the text filter (content ILIKE '%...%'): under row
-- level security only leakproof operators may become index conditions, and
-- ILIKE is not one, so PostgreSQL would never use it. The filter reads the
-- org's memories newest first and stops at the page size; full-text search
-- goes through OpenSearch.

CREATE TABLE categories (
    org_id     uuid NOT NULL,
    id         uuid NOT NULL DEFAULT gen_random_uuid(),
    name       text COLLATE "C" NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    created_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT categories_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT categories_name_key UNIQUE (org_id, name)
);

CREATE TABLE memory_categories (
    org_id      uuid NOT NULL,
    memory_id   uuid NOT NULL,
    category_id uuid NOT NULL,
    -- Also serves CategoriesByMemory (memory_id = ANY(...)).
    CONSTRAINT memory_categories_pkey PRIMARY KEY (org_id, memory_id, category_id),
    CONSTRAINT memory_categories_memory_fkey FOREIGN KEY (org_id, memory_id) REFERENCES memories (org_id, id),
    CONSTRAINT memory_categories_category_fkey FOREIGN KEY (org_id, category_id) REFERENCES categories (org_id, id)
);
-- The category filter of the memory list.
CREATE INDEX memory_categories_category_idx ON memory_categories (org_id, category_id, memory_id);

CREATE TABLE experiments (
    org_id      uuid NOT NULL,
    id          uuid NOT NULL,
    name        text COLLATE "C" NOT NULL CHECK (char_length(name) BETWEEN 1 AND 64),
    description text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'DRAFT' CHECK (status IN ('DRAFT', 'RUNNING', 'PAUSED', 'COMPLETED', 'ARCHIVED')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT experiments_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT experiments_name_key UNIQUE (org_id, name)
);
CREATE INDEX experiments_newest_idx ON experiments (org_id, created_at, id);

CREATE TABLE experiment_variants (
    org_id        uuid NOT NULL,
    id            uuid NOT NULL,
    experiment_id uuid NOT NULL,
    key           text COLLATE "C" NOT NULL CHECK (char_length(key) BETWEEN 1 AND 64),
    weight        bigint NOT NULL CHECK (weight > 0),
    config        jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(config) = 'object'),
    position      integer NOT NULL CHECK (position >= 0),
    CONSTRAINT experiment_variants_pkey PRIMARY KEY (org_id, id),
    -- Target of feedback_events' variant reference.
    CONSTRAINT experiment_variants_key_key UNIQUE (org_id, experiment_id, key),
    -- Serves VariantsByExperiment in position order.
    CONSTRAINT experiment_variants_position_key UNIQUE (org_id, experiment_id, position),
    -- Target of the assignments' reference: the variant belongs to the experiment.
    CONSTRAINT experiment_variants_experiment_id_key UNIQUE (org_id, experiment_id, id),
    CONSTRAINT experiment_variants_experiment_fkey FOREIGN KEY (org_id, experiment_id) REFERENCES experiments (org_id, id)
);

CREATE TABLE experiment_assignments (
    org_id        uuid NOT NULL,
    experiment_id uuid NOT NULL,
    user_id       uuid NOT NULL,
    variant_id    uuid NOT NULL,
    assigned_at   timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT experiment_assignments_pkey PRIMARY KEY (org_id, experiment_id, user_id),
    CONSTRAINT experiment_assignments_variant_fkey FOREIGN KEY (org_id, experiment_id, variant_id)
        REFERENCES experiment_variants (org_id, experiment_id, id)
);

CREATE TABLE experiment_status_history (
    id            bigint GENERATED ALWAYS AS IDENTITY,
    org_id        uuid NOT NULL,
    experiment_id uuid NOT NULL,
    from_status   text,
    to_status     text NOT NULL,
    changed_by    uuid NOT NULL,
    reason        text NOT NULL DEFAULT '',
    changed_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT experiment_status_history_pkey PRIMARY KEY (id),
    CONSTRAINT experiment_status_history_experiment_fkey FOREIGN KEY (org_id, experiment_id) REFERENCES experiments (org_id, id)
);
-- StatusHistory, oldest first.
CREATE INDEX experiment_status_history_experiment_idx ON experiment_status_history (org_id, experiment_id, id);

CREATE TABLE feedback_events (
    org_id        uuid NOT NULL,
    id            uuid NOT NULL,
    user_id       uuid NOT NULL,
    query_id      text NOT NULL CHECK (char_length(query_id) BETWEEN 1 AND 128),
    memory_id     uuid,
    tool          text COLLATE "C" NOT NULL CHECK (char_length(tool) BETWEEN 1 AND 64),
    query_type    text COLLATE "C" NOT NULL CHECK (char_length(query_type) BETWEEN 1 AND 64),
    outcome       text NOT NULL CHECK (outcome IN ('ACCEPTED', 'REJECTED', 'IGNORED', 'EDITED')),
    latency_ms    bigint CHECK (latency_ms >= 0),
    experiment_id uuid,
    variant_key   text COLLATE "C",
    created_at    timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT feedback_events_pkey PRIMARY KEY (org_id, id),
    CONSTRAINT feedback_events_variant_check CHECK (variant_key IS NULL OR experiment_id IS NOT NULL),
    CONSTRAINT feedback_events_memory_fkey FOREIGN KEY (org_id, memory_id) REFERENCES memories (org_id, id),
    CONSTRAINT feedback_events_experiment_fkey FOREIGN KEY (org_id, experiment_id) REFERENCES experiments (org_id, id),
    CONSTRAINT feedback_events_variant_fkey FOREIGN KEY (org_id, experiment_id, variant_key)
        REFERENCES experiment_variants (org_id, experiment_id, key)
);
-- Lists newest first, time windows of the aggregates, the retention purge.
CREATE INDEX feedback_events_newest_idx ON feedback_events (org_id, created_at, id);
-- The memory and experiment filters.
CREATE INDEX feedback_events_memory_idx ON feedback_events (org_id, memory_id, created_at) WHERE memory_id IS NOT NULL;
CREATE INDEX feedback_events_experiment_idx ON feedback_events (org_id, experiment_id, created_at) WHERE experiment_id IS NOT NULL;

-- The outbox of derived indexes: one row per change of a memory, written in
-- the transaction of the change, drained by the indexer into OpenSearch and
-- Qdrant. It holds ids and versions only, never content.
CREATE TABLE memory_outbox (
    id             bigint GENERATED ALWAYS AS IDENTITY,
    org_id         uuid NOT NULL,
    memory_id      uuid NOT NULL,
    op             text NOT NULL CHECK (op IN ('upsert', 'delete')),
    memory_version bigint NOT NULL,
    attempts       integer NOT NULL DEFAULT 0,
    last_error     text,
    available_at   timestamptz NOT NULL DEFAULT now(),
    created_at     timestamptz NOT NULL DEFAULT now(),
    parked_at      timestamptz,
    CONSTRAINT memory_outbox_pkey PRIMARY KEY (id)
);
-- Claim: the oldest available rows that are not parked.
CREATE INDEX memory_outbox_ready_idx ON memory_outbox (available_at, id) WHERE parked_at IS NULL;
-- Pending: what is still queued for some memories (memory_id = ANY(...); the
-- policies' org check is a filter on top).
CREATE INDEX memory_outbox_memory_idx ON memory_outbox (memory_id);

-- Row level security.
ALTER TABLE apps ENABLE ROW LEVEL SECURITY;
ALTER TABLE apps FORCE ROW LEVEL SECURITY;
CREATE POLICY apps_org ON apps
    USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()));

ALTER TABLE memories ENABLE ROW LEVEL SECURITY;
ALTER TABLE memories FORCE ROW LEVEL SECURITY;
CREATE POLICY memories_org ON memories
    USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()));

ALTER TABLE categories ENABLE ROW LEVEL SECURITY;
ALTER TABLE categories FORCE ROW LEVEL SECURITY;
CREATE POLICY categories_org ON categories
    USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()));

ALTER TABLE memory_categories ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory_categories FORCE ROW LEVEL SECURITY;
CREATE POLICY memory_categories_org ON memory_categories
    USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()));

ALTER TABLE experiments ENABLE ROW LEVEL SECURITY;
ALTER TABLE experiments FORCE ROW LEVEL SECURITY;
CREATE POLICY experiments_org ON experiments
    USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()));

ALTER TABLE experiment_variants ENABLE ROW LEVEL SECURITY;
ALTER TABLE experiment_variants FORCE ROW LEVEL SECURITY;
CREATE POLICY experiment_variants_org ON experiment_variants
    USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()));

-- Assignments are personal: the org and the user must both match.
ALTER TABLE experiment_assignments ENABLE ROW LEVEL SECURITY;
ALTER TABLE experiment_assignments FORCE ROW LEVEL SECURITY;
CREATE POLICY experiment_assignments_user ON experiment_assignments
    USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()))
    WITH CHECK (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()));

ALTER TABLE experiment_status_history ENABLE ROW LEVEL SECURITY;
ALTER TABLE experiment_status_history FORCE ROW LEVEL SECURITY;
CREATE POLICY experiment_status_history_org ON experiment_status_history
    USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()));

ALTER TABLE feedback_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE feedback_events FORCE ROW LEVEL SECURITY;
CREATE POLICY feedback_events_org ON feedback_events
    USING (org_id = (SELECT app_org_id())) WITH CHECK (org_id = (SELECT app_org_id()));

-- The outbox: a tenant writes and reads its own rows (reads serve the index
-- status of its memories). The indexer works across tenants: with
-- app.outbox_worker = 'on' in its transaction it may read, claim (update) and
-- complete (delete) every org's rows. That policy exposes only ids, versions
-- and error text of the indexer itself, never content: memory content is read
-- back under the memory's own org binding.
ALTER TABLE memory_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE memory_outbox FORCE ROW LEVEL SECURITY;
CREATE POLICY memory_outbox_tenant_insert ON memory_outbox FOR INSERT
    WITH CHECK (org_id = (SELECT app_org_id()));
CREATE POLICY memory_outbox_tenant_select ON memory_outbox FOR SELECT
    USING (org_id = (SELECT app_org_id()));
CREATE POLICY memory_outbox_worker_select ON memory_outbox FOR SELECT
    USING ((SELECT current_setting('app.outbox_worker', true)) = 'on');
CREATE POLICY memory_outbox_worker_update ON memory_outbox FOR UPDATE
    USING ((SELECT current_setting('app.outbox_worker', true)) = 'on');
CREATE POLICY memory_outbox_worker_delete ON memory_outbox FOR DELETE
    USING ((SELECT current_setting('app.outbox_worker', true)) = 'on');

-- The application role: only what stores/postgres runs. No TRUNCATE, no
-- REFERENCES or TRIGGER, no DDL (it has no CREATE on the schema), no DELETE
-- where rows are soft-deleted or kept for history.
REVOKE ALL ON FUNCTION app_org_id(), app_user_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_org_id(), app_user_id() TO codingbrain_app;
GRANT SELECT, INSERT ON apps TO codingbrain_app;
GRANT SELECT, INSERT, UPDATE ON memories TO codingbrain_app;
GRANT SELECT, INSERT ON categories TO codingbrain_app;
GRANT SELECT, INSERT, DELETE ON memory_categories TO codingbrain_app;
GRANT SELECT, INSERT, UPDATE ON experiments TO codingbrain_app;
GRANT SELECT, INSERT ON experiment_variants TO codingbrain_app;
GRANT SELECT, INSERT ON experiment_assignments TO codingbrain_app;
GRANT SELECT, INSERT ON experiment_status_history TO codingbrain_app;
GRANT SELECT, INSERT, DELETE ON feedback_events TO codingbrain_app;
GRANT SELECT, INSERT, UPDATE, DELETE ON memory_outbox TO codingbrain_app;
-- The gateway checks at start that the schema is at the version it was built for.
GRANT SELECT ON goose_db_version TO codingbrain_app;

-- +goose Down
REVOKE SELECT ON goose_db_version FROM codingbrain_app;
DROP TABLE memory_outbox;
DROP TABLE feedback_events;
DROP TABLE experiment_status_history;
DROP TABLE experiment_assignments;
DROP TABLE experiment_variants;
DROP TABLE experiments;
DROP TABLE memory_categories;
DROP TABLE categories;
DROP TABLE memories;
DROP TABLE apps;
DROP FUNCTION app_user_id();
DROP FUNCTION app_org_id();
