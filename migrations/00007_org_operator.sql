-- The operator binding, as the tenant lifecycle's migration 00006 defines it
-- (same functions, same policies, same names): tenant export and import
-- (tenantio/) read and write every row of ONE organisation, including the
-- PRIVATE memories and the personal feedback events and experiment
-- assignments of every user, which the per-user policies hide from any
-- single user binding. This file stands in for 00006 on a branch without
-- it; where 00006 is present, it does all of this and this file goes.
--
-- The binding is app.operator_org = <org> (tenantio sets app.org_id to the
-- same org). It counts only for the role that owns the tables (the
-- operator's DATABASE_OWNER_URL): an operator policy per table lets the
-- owner reach the bound org's rows, and the per-user policies bind the
-- application role only. The application role may set the setting and
-- gains nothing; the owner bound to no org reaches nothing (FORCE ROW LEVEL
-- SECURITY binds it too).

-- +goose Up

-- +goose StatementBegin
CREATE FUNCTION app_is_operator() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'public.memories'::regclass), 'MEMBER') $$;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE FUNCTION app_operator_org() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN app_is_operator() THEN nullif(current_setting('app.operator_org', true), '')::uuid END $$;
-- +goose StatementEnd
COMMENT ON FUNCTION app_operator_org() IS 'The organisation the operator (the tables'' owner) bound with app.operator_org; NULL for any other role.';

-- An operator policy on every table with an org_id column: permissive, for
-- the owner only.
-- +goose StatementBegin
DO $$
DECLARE t text;
BEGIN
    FOR t IN SELECT c.table_name FROM information_schema.columns c
             JOIN information_schema.tables tb ON tb.table_schema = c.table_schema AND tb.table_name = c.table_name
             WHERE c.table_schema = 'public' AND c.column_name = 'org_id' AND tb.table_type = 'BASE TABLE'
    LOOP
        EXECUTE format('CREATE POLICY %I ON %I TO %I USING (org_id = (SELECT app_operator_org())) '
                       'WITH CHECK (org_id = (SELECT app_operator_org()))', t || '_operator', t, current_user);
    END LOOP;
END
$$;
-- +goose StatementEnd

-- The restrictive per-user policies of 00003 bind the application role
-- only: the operator reaches every user's rows.
ALTER POLICY memories_private_select ON memories TO codingbrain_app;
ALTER POLICY memories_private_update ON memories TO codingbrain_app;
ALTER POLICY memories_private_insert ON memories TO codingbrain_app;
ALTER POLICY memory_categories_private ON memory_categories TO codingbrain_app;
ALTER POLICY feedback_events_own ON feedback_events TO codingbrain_app;
ALTER POLICY feedback_events_own_delete ON feedback_events TO codingbrain_app;
ALTER POLICY feedback_events_own_insert ON feedback_events TO codingbrain_app;

-- +goose Down
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
DROP FUNCTION app_operator_org();
DROP FUNCTION app_is_operator();
