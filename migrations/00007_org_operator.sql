-- The org operator binding: tenant export and import (tenantio/) read and
-- write every row of ONE organisation, including the PRIVATE memories and the
-- personal feedback events and experiment assignments of every user, which
-- the per-user policies of 00001 and 00003 hide from any single user binding.
--
-- The binding is app.org_id as always plus app.org_operator = 'on'. It
-- counts only for the role that owns the tables (the operator's
-- DATABASE_OWNER_URL): the application role the gateway serves with may set
-- the setting but gains nothing, so a compromised gateway still sees one
-- user's private rows at a time. It never widens the org: every permissive
-- policy still requires org_id = app_org_id(), and the owner is bound by
-- them too (FORCE ROW LEVEL SECURITY), so an unbound or wrongly bound
-- operator transaction sees no row or only that org's rows.

-- +goose Up

-- +goose StatementBegin
CREATE FUNCTION app_org_operator() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$
SELECT coalesce(current_setting('app.org_operator', true), '') = 'on'
   AND pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = 'memories'::regclass), 'USAGE')
$$;
-- +goose StatementEnd
COMMENT ON FUNCTION app_org_operator() IS 'Whether the current transaction is an operator''s (the table owner with app.org_operator = ''on''), which sees every user''s rows of the bound org.';
REVOKE ALL ON FUNCTION app_org_operator() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_org_operator() TO codingbrain_app;

ALTER POLICY memories_private_select ON memories
    USING (visibility = 'ORG' OR author_id = (SELECT app_user_id()) OR (SELECT app_org_operator()));
ALTER POLICY memories_private_update ON memories
    USING (visibility = 'ORG' OR author_id = (SELECT app_user_id()) OR (SELECT app_org_operator()))
    WITH CHECK (true);
ALTER POLICY memories_private_insert ON memories
    WITH CHECK (author_id = (SELECT app_user_id()) OR (SELECT app_org_operator()));

-- Assignments: a permissive policy of its own, ORed with the user's. The
-- user's comparison then no longer starts the scan (it is tried row by
-- row), so both policies match the org through app_user_org_id(), which
-- reads app.user_id too: the org condition is evaluated once before the
-- scan, and a malformed user binding stays an error for every statement,
-- rows or not, as it was before.
-- +goose StatementBegin
CREATE FUNCTION app_user_org_id() RETURNS uuid
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT CASE WHEN app_user_id() IS NULL THEN app_org_id() ELSE app_org_id() END $$;
-- +goose StatementEnd
COMMENT ON FUNCTION app_user_org_id() IS 'app_org_id(), after checking that app.user_id is unset, empty or a uuid (an error otherwise).';
REVOKE ALL ON FUNCTION app_user_org_id() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_user_org_id() TO codingbrain_app;
ALTER POLICY experiment_assignments_user ON experiment_assignments
    USING (org_id = (SELECT app_user_org_id()) AND user_id = (SELECT app_user_id()))
    WITH CHECK (org_id = (SELECT app_user_org_id()) AND user_id = (SELECT app_user_id()));
CREATE POLICY experiment_assignments_operator ON experiment_assignments
    USING (org_id = (SELECT app_user_org_id()) AND (SELECT app_org_operator()))
    WITH CHECK (org_id = (SELECT app_user_org_id()) AND (SELECT app_org_operator()));

ALTER POLICY feedback_events_own ON feedback_events
    USING (user_id = (SELECT app_user_id()) OR (SELECT app_feedback_all()) OR (SELECT app_org_operator()));
ALTER POLICY feedback_events_own_insert ON feedback_events
    WITH CHECK (user_id = (SELECT app_user_id()) OR (SELECT app_org_operator()));

-- +goose Down
ALTER POLICY feedback_events_own_insert ON feedback_events
    WITH CHECK (user_id = (SELECT app_user_id()));
ALTER POLICY feedback_events_own ON feedback_events
    USING (user_id = (SELECT app_user_id()) OR (SELECT app_feedback_all()));
DROP POLICY experiment_assignments_operator ON experiment_assignments;
ALTER POLICY experiment_assignments_user ON experiment_assignments
    USING (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()))
    WITH CHECK (org_id = (SELECT app_org_id()) AND user_id = (SELECT app_user_id()));
DROP FUNCTION app_user_org_id();
ALTER POLICY memories_private_insert ON memories
    WITH CHECK (author_id = (SELECT app_user_id()));
ALTER POLICY memories_private_update ON memories
    USING (visibility = 'ORG' OR author_id = (SELECT app_user_id()))
    WITH CHECK (true);
ALTER POLICY memories_private_select ON memories
    USING (visibility = 'ORG' OR author_id = (SELECT app_user_id()));
DROP FUNCTION app_org_operator();
