-- A least-privilege role for warden-postgres.
--
-- Run it as the owner of the tables (or a superuser), connected to the database the server will
-- query:   psql "postgresql://owner@db.example.com/shop" -f readonly_role.sql
-- Change the password first. If your tables are not in schema `public`, repeat the three GRANT /
-- ALTER DEFAULT PRIVILEGES lines for each schema (and list the schemas in WARDEN_POSTGRES_SCHEMAS).
-- Use this role for warden-postgres only: never share it with an application, because a role can
-- cancel and terminate the sessions of its own role.

CREATE ROLE warden_readonly
    LOGIN
    PASSWORD 'change-me-to-a-long-random-secret'
    NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
    CONNECTION LIMIT 10;

-- Second line of defence inside the database, in case a client ever connects without Warden.
ALTER ROLE warden_readonly SET default_transaction_read_only = on;
ALTER ROLE warden_readonly SET statement_timeout = '15s';
ALTER ROLE warden_readonly SET lock_timeout = '2s';
ALTER ROLE warden_readonly SET idle_in_transaction_session_timeout = '10s';
ALTER ROLE warden_readonly SET work_mem = '16MB';
-- A superuser can also cap temporary files per query:
-- ALTER ROLE warden_readonly SET temp_file_limit = '1GB';

DO $$
BEGIN
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO warden_readonly', current_database());
END
$$;

-- PostgreSQL 14 and older let every role create objects in schema public; take that away.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;

-- Read access to the tables the agent may see, now and later (tables created later by the role
-- running this script).
GRANT USAGE ON SCHEMA public TO warden_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO warden_readonly;
ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT ON TABLES TO warden_readonly;

-- Only for the `dba` tool group (see the README), to see other roles' sessions and statements:
-- GRANT pg_monitor TO warden_readonly;

-- Nothing else: no INSERT/UPDATE/DELETE/TRUNCATE, no ownership, no CREATE, no membership of
-- pg_read_server_files, pg_write_server_files, pg_execute_server_program or pg_signal_backend,
-- no EXECUTE on dblink. `warden-postgres --strict-role` checks all of this at start.
