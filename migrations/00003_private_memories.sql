-- Private memories and personal feedback events.
--
-- A memory is PRIVATE (visible to its author only) or ORG (to every member of
-- its organisation, the default, so existing rows and clients keep working).
-- The rule lives in RESTRICTIVE policies: they are ANDed with the org
-- policies of 00001, so a row must pass both.
--   * Unset user (app_user_id() is NULL): author_id = NULL is NULL, a private
--     row matches nothing: fail closed. A malformed app.user_id raises on the
--     ::uuid cast: an error, never rows.
--   * Reads, updates and deletes see the ORG rows and the user's own private
--     ones; another user's private row behaves exactly like a missing one.
--   * A new row must be written by the bound user (author_id), so nobody can
--     plant a private memory under another user's name.
--   * An update may make a visible row private (the author, or an org admin
--     hiding an ORG memory): the new row need not stay visible to the updater.
--
-- memory_categories follows its memory: a link of an invisible memory is
-- invisible too (the category itself is org-wide). Only reads are checked: a
-- link is written in the statement that inserts its memory, whose new row a
-- subquery of that statement cannot see yet, and the composite foreign key
-- already ties it to a memory of the org.
--
-- The outbox records the author of each change, so that the indexer reads a
-- private memory under its author's binding instead of a binding that would
-- see it as gone.
--
-- Feedback events: the raw events are the user's own; aggregates and org
-- admins read every event of the org through app.feedback_all = 'on', which
-- stores/postgres sets in those transactions only.

-- +goose Up
ALTER TABLE memories ADD COLUMN visibility text NOT NULL DEFAULT 'ORG'
    CONSTRAINT memories_visibility_check CHECK (visibility IN ('PRIVATE', 'ORG'));

CREATE POLICY memories_private_select ON memories AS RESTRICTIVE FOR SELECT
    USING (visibility = 'ORG' OR author_id = (SELECT app_user_id()));
CREATE POLICY memories_private_update ON memories AS RESTRICTIVE FOR UPDATE
    USING (visibility = 'ORG' OR author_id = (SELECT app_user_id()))
    WITH CHECK (true);
CREATE POLICY memories_private_insert ON memories AS RESTRICTIVE FOR INSERT
    WITH CHECK (author_id = (SELECT app_user_id()));

CREATE POLICY memory_categories_private ON memory_categories AS RESTRICTIVE FOR SELECT
    USING (EXISTS (SELECT 1 FROM memories m WHERE m.org_id = memory_categories.org_id AND m.id = memory_categories.memory_id));

ALTER TABLE memory_outbox ADD COLUMN author_id uuid;

-- +goose StatementBegin
CREATE FUNCTION app_feedback_all() RETURNS boolean
LANGUAGE sql STABLE PARALLEL SAFE
AS $$ SELECT coalesce(current_setting('app.feedback_all', true), '') = 'on' $$;
-- +goose StatementEnd
COMMENT ON FUNCTION app_feedback_all() IS 'Whether the current transaction reads every feedback event of its org (aggregates, org admins), not only the user''s own.';
REVOKE ALL ON FUNCTION app_feedback_all() FROM PUBLIC;
GRANT EXECUTE ON FUNCTION app_feedback_all() TO codingbrain_app;

CREATE POLICY feedback_events_own ON feedback_events AS RESTRICTIVE FOR SELECT
    USING (user_id = (SELECT app_user_id()) OR (SELECT app_feedback_all()));
CREATE POLICY feedback_events_own_delete ON feedback_events AS RESTRICTIVE FOR DELETE
    USING ((SELECT app_feedback_all()));
CREATE POLICY feedback_events_own_insert ON feedback_events AS RESTRICTIVE FOR INSERT
    WITH CHECK (user_id = (SELECT app_user_id()));

-- +goose Down
DROP POLICY feedback_events_own_insert ON feedback_events;
DROP POLICY feedback_events_own_delete ON feedback_events;
DROP POLICY feedback_events_own ON feedback_events;
DROP FUNCTION app_feedback_all();
ALTER TABLE memory_outbox DROP COLUMN author_id;
DROP POLICY memory_categories_private ON memory_categories;
DROP POLICY memories_private_insert ON memories;
DROP POLICY memories_private_update ON memories;
DROP POLICY memories_private_select ON memories;
ALTER TABLE memories DROP COLUMN visibility;
