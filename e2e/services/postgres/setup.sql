-- Roles, database and schema privileges for the gateway. Idempotent: run as a
-- superuser on every start by e2e/services/postgres/service.sh, and once by the
-- postgres image's init hook (docker-init.sh) in docker-compose.yml.
-- psql variables: owner_pw, app_pw (the two roles' passwords).
-- Table privileges are granted by the migrations, which run as the owner; no
-- ALTER DEFAULT PRIVILEGES on purpose (grants are explicit there).
\set ON_ERROR_STOP on

SELECT 'CREATE ROLE codingbrain_owner'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'codingbrain_owner') \gexec
SELECT 'CREATE ROLE codingbrain_app'
WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'codingbrain_app') \gexec

-- The owner runs migrations and owns the tables, but is no superuser. The
-- application role is subject to row level security: no superuser, no
-- BYPASSRLS, and it owns nothing.
ALTER ROLE codingbrain_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS PASSWORD :'owner_pw';
ALTER ROLE codingbrain_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION PASSWORD :'app_pw';

SELECT 'CREATE DATABASE codingbrain OWNER codingbrain_owner'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'codingbrain') \gexec
ALTER DATABASE codingbrain OWNER TO codingbrain_owner;
REVOKE ALL ON DATABASE codingbrain FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE codingbrain TO codingbrain_app;

\connect codingbrain
ALTER SCHEMA public OWNER TO codingbrain_owner;
REVOKE ALL ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO codingbrain_app;
-- Needs shared_preload_libraries = 'pg_stat_statements' to return data; lets
-- benchmarks count statements per request.
CREATE EXTENSION IF NOT EXISTS pg_stat_statements;
