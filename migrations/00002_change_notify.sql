-- Change notifications for subscriptions. A NOTIFY sent inside the writing
-- transaction is delivered only if, and when, that transaction commits, and
-- PostgreSQL delivers the notifications of committed transactions in commit
-- order: every gateway replica's LISTEN connection (events.ListenPostgres)
-- learns of exactly what committed, in order, and publishes it to its local
-- subscribers. The payload carries ids and a version only, never content: a
-- subscriber reads the row back under its own tenant binding (RLS).
--
-- Memory changes ride on the outbox insert that every memory write already
-- makes in its transaction; feedback on the event insert.

-- +goose Up
-- +goose StatementBegin
CREATE FUNCTION notify_memory_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('codingbrain_changes', json_build_object(
        'k', 'MEMORY', 'o', NEW.org_id, 'm', NEW.memory_id, 'v', NEW.memory_version, 'op', NEW.op)::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER memory_outbox_notify AFTER INSERT ON memory_outbox
    FOR EACH ROW EXECUTE FUNCTION notify_memory_change();

-- +goose StatementBegin
CREATE FUNCTION notify_feedback_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('codingbrain_changes', json_build_object('k', 'FEEDBACK', 'o', NEW.org_id)::text);
    RETURN NULL;
END
$$;
-- +goose StatementEnd
CREATE TRIGGER feedback_events_notify AFTER INSERT ON feedback_events
    FOR EACH ROW EXECUTE FUNCTION notify_feedback_change();

-- +goose Down
DROP TRIGGER feedback_events_notify ON feedback_events;
DROP FUNCTION notify_feedback_change();
DROP TRIGGER memory_outbox_notify ON memory_outbox;
DROP FUNCTION notify_memory_change();
