-- The tenant registry and the lifecycle jobs (erase an organisation, erase a
-- user, purge an orphan), and the operator's way through row level security.
--
-- organizations: every tenant the gateway knows, with its status. The gateway
-- (application role) reads the whole table into a cache refreshed every few
-- seconds, so checking a token's org costs no round trip; it registers an
-- unknown org on first use (GATEWAY_UNKNOWN_ORGS=register) and moves an org to
-- ERASING when its admin asks for an erasure. The table is not per tenant
-- (no org_id column, no RLS): it holds ids, names and statuses only.
--
-- tenant_jobs: one row per lifecycle job. It is the job's durable state (the
-- progress of each store, resumable after a crash) and its audit record:
-- who asked, when, and what each store removed. Its org column is
-- target_org, not org_id, so that the erasure, which removes every row of
-- every table with an org_id column, leaves the record of itself behind.
--
-- The operator (the owner role, DATABASE_OWNER_URL, which runs `gateway
-- tenant ...` and the background jobs) is bound by FORCE ROW LEVEL SECURITY
-- like the application role. It gets through with policies of its own (TO the
-- role running this migration, the tables' owner), on its own
-- transaction-local binding:
--   * app.operator_org = <uuid>: every row of that organisation, in every
--     command, whatever its user or visibility (erase, user erase, audit);
--   * app.operator_all = 'on': every row of every organisation (the orphan
--     listing and the retention purges).
-- The application role's policies are untouched: the operator policies do
-- not apply to it, and the per-user restrictive policies of 00003 now apply
-- to codingbrain_app only (they were TO PUBLIC, the owner included). As a
-- second guard, app_operator_org() and app_operator_all() answer NULL / false
-- unless the current role is a member of the tables' owner.

-- +goose Up
CREATE TABLE organizations (
    id         uuid NOT NULL,
    name       text NOT NULL DEFAULT '' CHECK (char_length(name) <= 200),
    status     text NOT NULL DEFAULT 'ACTIVE' CHECK (status IN ('ACTIVE', 'SUSPENDED', 'ERASING', 'ERASED')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT organizations_pkey PRIMARY KEY (id)
);
-- The gateways' registry refresh reads the rows changed since the last one.
CREATE INDEX organizations_updated_idx ON organizations (updated_at);

CREATE TABLE tenant_jobs (
    id           bigint GENERATED ALWAYS AS IDENTITY,
    kind         text NOT NULL CHECK (kind IN ('ERASE_ORG', 'ERASE_USER', 'PURGE_ORPHAN')),
    target_org   uuid NOT NULL,
    target_user  uuid,
    -- ERASE_USER: the user who receives the erased user's memories (NULL:
    -- they are erased).
    reassign_to  uuid,
    state        text NOT NULL DEFAULT 'PENDING' CHECK (state IN ('PENDING', 'RUNNING', 'DONE')),
    requested_by text NOT NULL CHECK (char_length(requested_by) BETWEEN 1 AND 200),
    -- The stores still to do, in order; a store leaves the list when it is done.
    pending      text[] NOT NULL,
    -- Per store, per kind: how many items were removed (or reassigned).
    counts       jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(counts) = 'object'),
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    CONSTRAINT tenant_jobs_pkey PRIMARY KEY (id),
    CONSTRAINT tenant_jobs_user_check CHECK ((kind = 'ERASE_USER') = (target_user IS NOT NULL))
);
-- At most one unfinished organisation erasure per org.
CREATE UNIQUE INDEX tenant_jobs_one_erase_idx ON tenant_jobs (target_org)
    WHERE kind IN ('ERASE_ORG', 'PURGE_ORPHAN') AND state IN ('PENDING', 'RUNNING');
-- The job runner: unfinished jobs, oldest first.
CREATE INDEX tenant_jobs_unfinished_idx ON tenant_jobs (id) WHERE state IN ('PENDING', 'RUNNING');
CREATE INDEX tenant_jobs_org_idx ON tenant_jobs (target_org, id);

-- +goose StatementBegin
CREATE FUNCTION app_is_operator() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'public.organizations'::regclass), 'MEMBER') $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION app_operator_org() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN app_is_operator() THEN nullif(current_setting('app.operator_org', true), '')::uuid END $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION app_operator_all() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(current_setting('app.operator_all', true), '') = 'on' AND app_is_operator() $$;
-- +goose StatementEnd
COMMENT ON FUNCTION app_operator_org() IS 'The organisation the operator (the tables'' owner) bound with app.operator_org; NULL for any other role.';
COMMENT ON FUNCTION app_operator_all() IS 'Whether the operator (the tables'' owner) bound every organisation with app.operator_all = on; false for any other role.';

-- An operator policy on every table with an org_id column, those of earlier
-- migrations whatever they are: permissive, for the owner only. A later
-- migration that adds such a table adds its <table>_operator policy too; the
-- lifecycle jobs refuse to run without it (they would see no rows there).
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT c.table_name FROM information_schema.columns c
             JOIN information_schema.tables tb ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
             WHERE c.table_schema = 'public' AND c.column_name = 'org_id' AND tb.table_type = 'BASE TABLE'
    LOOP
        EXECUTE format('CREATE POLICY %I ON %I TO %I USING (org_id = (SELECT app_operator_org()) OR (SELECT app_operator_all())) '
                       'WITH CHECK (org_id = (SELECT app_operator_org()) OR (SELECT app_operator_all()))', t || '_operator', t, current_user);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- The restrictive per-user policies of 00003 bind the application role
-- only: the operator erases every user's rows.
ALTER POLICY memories_private_select ON memories TO codingbrain_app;
ALTER POLICY memories_private_update ON memories TO codingbrain_app;
ALTER POLICY memories_private_insert ON memories TO codingbrain_app;
ALTER POLICY memory_categories_private ON memory_categories TO codingbrain_app;
ALTER POLICY feedback_events_own ON feedback_events TO codingbrain_app;
ALTER POLICY feedback_events_own_delete ON feedback_events TO codingbrain_app;
ALTER POLICY feedback_events_own_insert ON feedback_events TO codingbrain_app;

-- The application role reads the registry, registers orgs on first use, and
-- starts an erasure (status ERASING plus the job row, in one transaction).
-- It never deletes either table's rows; only the operator does DELETEs.
GRANT SELECT, INSERT ON organizations TO codingbrain_app;
GRANT UPDATE (status, updated_at) ON organizations TO codingbrain_app;
GRANT SELECT, INSERT ON tenant_jobs TO codingbrain_app;

-- +goose Down
REVOKE ALL ON tenant_jobs FROM codingbrain_app;
REVOKE ALL ON organizations FROM codingbrain_app;
ALTER POLICY feedback_events_own_insert ON feedback_events TO PUBLIC;
ALTER POLICY feedback_events_own_delete ON feedback_events TO PUBLIC;
ALTER POLICY feedback_events_own ON feedback_events TO PUBLIC;
ALTER POLICY memory_categories_private ON memory_categories TO PUBLIC;
ALTER POLICY memories_private_insert ON memories TO PUBLIC;
ALTER POLICY memories_private_update ON memories TO PUBLIC;
ALTER POLICY memories_private_select ON memories TO PUBLIC;
-- +goose StatementBegin
DO $$
DECLARE p record;
BEGIN
    FOR p IN SELECT policyname, tablename FROM pg_policies WHERE schemaname = 'public' AND policyname LIKE '%\_operator' LOOP
        EXECUTE format('DROP POLICY %I ON %I', p.policyname, p.tablename);
    END LOOP;
END
$$;
-- +goose StatementEnd
DROP FUNCTION app_operator_all();
DROP FUNCTION app_operator_org();
DROP FUNCTION app_is_operator();
DROP TABLE tenant_jobs;
DROP TABLE organizations;
