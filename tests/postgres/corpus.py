"""Attack and legit SQL for warden-postgres, by the classes of security.md §1.1.

Attacks use the shop's objects (tests/postgres/shop.py). `{owner}` and `{readonly}` are replaced with
the test's role names; `{canary}` with a unique file path that must never appear. CONTRIB_ATTACKS need
the contrib modules of the machine's PostgreSQL (tests/postgres/test_contrib_attacks.py); `{victim}` is
the backend pid of a session that must survive, `{database}` the shop database.
"""

from __future__ import annotations

# --- Attacks, by class. ------------------------------------------------------------------------------

TRANSACTION_CONTROL = [
    "COMMIT; DROP TABLE customers",
    "COMMIT; DROP SCHEMA public CASCADE",
    "ROLLBACK; DELETE FROM orders",
    "END; TRUNCATE orders CASCADE",
    "ABORT; UPDATE customers SET full_name = 'pwned'",
    "SELECT 1; COMMIT; DROP TABLE orders",
    "COMMIT",
    "ROLLBACK",
    "COMMIT AND CHAIN",
    "SET TRANSACTION READ WRITE",
    "SET TRANSACTION READ WRITE; DELETE FROM orders",
    "SET SESSION CHARACTERISTICS AS TRANSACTION READ WRITE",
    "BEGIN READ WRITE",
    "START TRANSACTION READ WRITE; DELETE FROM orders",
    "SAVEPOINT s1",
    "PREPARE TRANSACTION 'warden'",
    "COMMIT PREPARED 'warden'",
]

SESSION_STATE = [
    "SET statement_timeout = 0",
    "SET search_path = internal, public",
    "SET ROLE {owner}",
    "SET SESSION AUTHORIZATION {owner}",
    "RESET ROLE",
    "RESET ALL",
    "SET default_transaction_read_only = off",
    "SELECT set_config('statement_timeout', '0', false)",
    "SELECT set_config('default_transaction_read_only', 'off', false)",
    "SELECT pg_catalog.set_config('search_path', 'internal', false)",
    "LISTEN warden_channel",
    "UNLISTEN *",
    "NOTIFY warden_channel, 'hello'",
    "SELECT pg_notify('warden_channel', 'hello')",
    "DECLARE warden_cursor CURSOR WITH HOLD FOR SELECT * FROM customers",
    "PREPARE warden_plan AS SELECT * FROM customers",
    "EXECUTE warden_plan",
    "DEALLOCATE ALL",
    "DISCARD ALL",
    "SELECT pg_advisory_lock(4242)",
    "SELECT pg_advisory_lock_shared(4242)",
    "SELECT pg_try_advisory_lock(4242)",
    "SELECT pg_advisory_xact_lock(4242)",
    "SELECT setseed(0.5)",
    "FETCH ALL FROM warden_cursor",
    "CLOSE ALL",
]

SIDE_EFFECT_FUNCTIONS = [
    # target list
    "SELECT nextval('orders_id_seq')",
    "SELECT setval('orders_id_seq', 1)",
    "SELECT currval('orders_id_seq')",
    "SELECT txid_current()",
    "SELECT pg_current_xact_id()",
    "SELECT pg_cancel_backend(pg_backend_pid())",
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity",
    "SELECT pg_reload_conf()",
    "SELECT pg_stat_reset()",
    "SELECT pg_switch_wal()",
    "SELECT pg_create_restore_point('warden')",
    "SELECT gin_clean_pending_list('products_attributes_idx')",
    "SELECT brin_summarize_new_values('orders_ordered_at_idx')",
    "SELECT lo_from_bytea(0, 'x')",
    "SELECT lo_unlink(1)",
    "SELECT lo_creat(-1)",
    "SELECT pg_sleep(1)",
    "SELECT pg_sleep_for('1 second')",
    "SELECT query_to_xml('select * from internal.staff_notes', true, true, '')",
    "SELECT table_to_xml('internal.staff_notes', true, true, '')",
    "SELECT database_to_xml(true, true, '')",
    "SELECT ts_stat('select 1')",
    "SELECT dblink_exec('dbname=postgres', 'DROP TABLE customers')",
    # FROM / RangeFunction, ROWS FROM, LATERAL
    "SELECT * FROM pg_read_file('/etc/passwd')",
    "SELECT * FROM pg_catalog.pg_read_binary_file('/etc/hostname')",
    "SELECT * FROM pg_ls_dir('.')",
    "SELECT * FROM ROWS FROM (pg_ls_dir('.'), generate_series(1, 3))",
    "SELECT * FROM customers c, LATERAL (SELECT nextval('orders_id_seq')) AS x",
    "SELECT * FROM generate_series(1, 2) AS g, LATERAL pg_advisory_lock(g) AS l",
    "SELECT * FROM pg_stat_file('postgresql.conf')",
    # WHERE, HAVING, ORDER BY, GROUP BY, window, FILTER, CASE, COALESCE, VALUES, LIMIT
    "SELECT 1 WHERE pg_advisory_lock(1) IS NOT NULL",
    "SELECT * FROM orders WHERE id = nextval('orders_id_seq')",
    "SELECT count(*) FROM orders HAVING pg_try_advisory_lock(1)",
    "SELECT id FROM orders ORDER BY pg_advisory_lock(id)",
    "SELECT count(*) FROM orders GROUP BY nextval('orders_id_seq')",
    "SELECT row_number() OVER (ORDER BY nextval('orders_id_seq')) FROM orders",
    "SELECT count(*) FILTER (WHERE pg_try_advisory_lock(1)) FROM orders",
    "SELECT CASE WHEN true THEN setval('orders_id_seq', 1) END",
    "SELECT COALESCE(NULL, pg_advisory_lock(1)::text)",
    "VALUES (nextval('orders_id_seq'))",
    "SELECT 1 LIMIT nextval('orders_id_seq')",
    "SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id AND pg_try_advisory_lock(2)",
    # subqueries and CTEs
    "SELECT (SELECT pg_notify('warden_channel', 'x'))",
    "SELECT EXISTS (SELECT set_config('a.b', 'c', false))",
    "SELECT 1 WHERE 1 IN (SELECT setval('orders_id_seq', 1))",
    "WITH x AS (SELECT setval('orders_id_seq', 1)) SELECT * FROM x",
    "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT nextval('orders_id_seq')::int FROM r WHERE n < 3) "
    "SELECT * FROM r",
    "SELECT * FROM (SELECT * FROM (SELECT pg_advisory_lock(7)) a) b",
    # functions reached indirectly: operators, casts, defaults, aggregates (see the traps schema)
    "SELECT traps.looks_stable()",
    "SELECT 1 OPERATOR(traps.===) 2",
    "SELECT traps.locking_sum(x) FROM generate_series(1, 3) AS x",
    "SELECT traps.volatile_fn()",
    # explain
    "EXPLAIN ANALYZE SELECT nextval('orders_id_seq')",
    "EXPLAIN (ANALYZE) SELECT 1",
    "EXPLAIN (ANALYZE, FORMAT JSON) SELECT * FROM customers",
]

UTILITY_COMMANDS = [
    "ANALYZE customers",
    "ANALYZE",
    "VACUUM customers",
    "VACUUM FULL customers",
    "CLUSTER customers USING customers_pkey",
    "REINDEX TABLE customers",
    "REINDEX INDEX orders_customer_idx",
    "LOCK TABLE customers IN ACCESS EXCLUSIVE MODE",
    "CHECKPOINT",
    "LOAD 'auto_explain'",
    "ALTER SYSTEM SET work_mem = '1GB'",
    "REFRESH MATERIALIZED VIEW customer_revenue",
    "CREATE TEMP TABLE warden_tmp (x int)",
    "CREATE TABLE warden_new (x int)",
    "CREATE TABLE warden_new AS SELECT * FROM customers",
    "SELECT * INTO warden_new FROM customers",
    "SELECT * INTO TEMP warden_tmp FROM customers",
    "DO $$ BEGIN DELETE FROM order_items; END $$",
    "CALL warden_procedure()",
    "DROP TABLE order_items",
    "TRUNCATE order_items",
    "DELETE FROM order_items",
    "UPDATE customers SET full_name = 'pwned'",
    "INSERT INTO products (sku, name, price) VALUES ('X', 'x', 1)",
    "MERGE INTO products p USING (SELECT 1 AS id) s ON p.id = s.id WHEN MATCHED THEN DELETE",
    "COMMENT ON TABLE customers IS 'pwned'",
    "GRANT ALL ON customers TO PUBLIC",
    "CREATE ROLE warden_evil SUPERUSER",
    "ALTER ROLE {readonly} SUPERUSER",
    "CREATE EXTENSION IF NOT EXISTS dblink",
    "SECURITY LABEL ON TABLE customers IS 'x'",
    "SELECT * FROM customers FOR UPDATE",
    "SELECT * FROM customers FOR SHARE",
    "SELECT * FROM orders FOR NO KEY UPDATE SKIP LOCKED",
    "SELECT * FROM (SELECT * FROM orders FOR UPDATE) AS o",
    "EXPLAIN DELETE FROM orders",
    "EXPLAIN ANALYZE DELETE FROM orders",
    "EXPLAIN EXECUTE warden_plan",
    "EXPLAIN CREATE TABLE warden_new AS SELECT 1",
    "IMPORT FOREIGN SCHEMA public FROM SERVER nowhere INTO public",
]

FILE_AND_PROGRAM = [
    "COPY customers TO '{canary}'",
    "COPY (SELECT 1) TO PROGRAM 'touch {canary}'",
    "COPY order_items FROM '/etc/hostname'",
    "COPY customers TO STDOUT",
    "SELECT lo_import('/etc/passwd')",
    "SELECT lo_export(1, '{canary}')",
    "SELECT pg_read_file('/etc/passwd')",
    "SELECT pg_read_file('postgresql.auto.conf', 0, 100, true)",
    "SELECT * FROM pg_ls_dir('/')",
    "SELECT pg_ls_waldir()",
    "SELECT * FROM pg_ls_logdir()",
    "SELECT pg_stat_file('/etc/passwd')",
    "SELECT pg_file_write('{canary}', 'x', false)",
    "SHOW data_directory",
    "SHOW config_file",
    "SHOW hba_file",
    "SHOW ALL",
]

WRITABLE_CTES = [
    "WITH d AS (DELETE FROM order_items RETURNING *) SELECT count(*) FROM d",
    "WITH u AS (UPDATE customers SET full_name = 'pwned' RETURNING 1) SELECT 1",
    "WITH i AS (INSERT INTO products (sku, name, price) VALUES ('X', 'x', 1) RETURNING id) SELECT * FROM i",
    "WITH a AS (SELECT 1), d AS (DELETE FROM orders WHERE false RETURNING 1) SELECT * FROM a",
    "SELECT * FROM (WITH d AS (DELETE FROM order_items RETURNING 1) SELECT * FROM d) AS s",
    "SELECT (WITH d AS (DELETE FROM order_items RETURNING 1) SELECT count(*) FROM d)",
    "WITH RECURSIVE d AS (DELETE FROM order_items RETURNING 1) SELECT 1",
    "WITH m AS (MERGE INTO products p USING (SELECT 1 AS id) s ON p.id = s.id WHEN MATCHED THEN DELETE "
    "RETURNING p.id) SELECT 1",
    "EXPLAIN WITH d AS (DELETE FROM order_items RETURNING 1) SELECT * FROM d",
]

LEXICAL_EVASION = [
    "SeLeCt/**/SeTvAl('orders_id_seq', 1)",
    "SELECT U&\"s\\0065tval\"('orders_id_seq', 1)",
    "SELECT U&\"!0073etval\" UESCAPE '!' ('orders_id_seq', 1)",
    "SELECT \"setval\"('orders_id_seq', 1)",
    "SELECT pg_catalog.setval('orders_id_seq', 1)",
    "SELECT PG_CATALOG.SETVAL('orders_id_seq', 1)",
    'SELECT "pg_catalog"."setval"(\'orders_id_seq\', 1)',
    "SELECT pg_catalog . setval ( 'orders_id_seq' , 1 )",
    "SELECT 1 /* ; */ ; DROP TABLE customers",
    "SELECT 1 -- comment\n; DROP TABLE customers",
    "SELECT $$;$$; DROP TABLE customers",
    "SELECT $tag$ $$ ; $tag$; DROP TABLE customers",
    "SELECT 'a;'; DELETE FROM orders",
    "SELECT E'\\';'; DELETE FROM orders --'",
    "/* leading comment */ DELETE FROM orders",
    "-- line comment\nDELETE FROM orders",
    "/* nested /* comment */ still comment */ DROP TABLE customers",
    "(SELECT 1); DROP TABLE customers",
    'DELETE FROM U&"\\006frders"',
    'SELECT * FROM U&"pg_\\0061uthid"',
    'SELECT rolpassword FROM "pg_catalog"."pg_authid"',
    "SELECT * FROM pg_catalog . pg_shadow",
    "TABLE pg_authid",
    "SELECT * FROM pg_catalog.pg_user_mappings",
    "SELECT * FROM pg_hba_file_rules",
    "SELECT * FROM pg_file_settings",
    "SELECT * FROM pg_statistic",
    "WITH x AS (SELECT * FROM pg_authid) SELECT * FROM x",
    "SELECT (SELECT rolpassword FROM pg_authid LIMIT 1)",
    "SELECT * FROM internal.staff_notes",
    "SELECT * FROM customers c JOIN internal.staff_notes s ON true",
    "WITH staff_notes AS (SELECT 1) SELECT * FROM internal.staff_notes",
    'SELECT * FROM "internal"."staff_notes"',
    'SELECT * FROM U&"intern\\0061l".staff_notes',
    "SELECT * FROM pg_toast.pg_toast_2619",
    "SELECT * FROM {database}.internal.staff_notes",
    "",
    ";",
    "-- only a comment",
]

# A volatile function PostgreSQL picks itself: behind an operator that IN, CASE, BETWEEN or IS DISTINCT FROM
# use implicitly, or an implicit cast of a function argument (objects in `public`, see PUBLIC_TRAPS_SQL).
IMPLICIT_CALLS = [
    "SELECT 1::lockint IN (SELECT 2::lockint)",
    "SELECT 1::lockint = ANY (SELECT 2::lockint)",
    "SELECT CASE 1::lockint WHEN 2::lockint THEN 'x' END",
    "SELECT 1::lockint BETWEEN 0::lockint AND 2::lockint",
    "SELECT 1::lockint IS DISTINCT FROM 2::lockint",
    "SELECT NULLIF(1::lockint, 2::lockint)",
    "SELECT (1::lockint, 1) IS DISTINCT FROM (2::lockint, 1)",
    "SELECT 1 FROM (VALUES (1::lockint)) v(x) WHERE x = 2::lockint",
    "SELECT count(*) FROM (VALUES (1::lockint), (2::lockint)) v(x) WHERE NOT (x = 1::lockint)",
    "SELECT unbox('x'::text)",
    "SELECT x FROM (VALUES ('a'::text)) v(x) WHERE unbox(x) = 'a'",
]

# What the role may read, but the server's policy keeps out: other schemas (through functions, statistics,
# views, partitions and inheritance children, function bodies), FDW passwords, role and database settings.
CATALOG_LEAKS = [
    "SELECT internal.get_secret(1)",
    "SELECT * FROM internal.get_secret(1)",
    "SELECT most_common_vals::text FROM pg_stats WHERE schemaname = 'internal'",
    "SELECT histogram_bounds::text FROM pg_stats",
    "SELECT tablename, most_common_elems::text FROM pg_stats",
    "SELECT s::text FROM pg_stats s",
    "SELECT (SELECT most_common_vals::text FROM pg_stats LIMIT 1)",
    "SELECT most_common_vals::text FROM pg_stats_ext",
    "SELECT * FROM pg_stats_ext",
    "SELECT * FROM information_schema.user_mapping_options",
    "SELECT option_value FROM information_schema.user_mapping_options",
    "SELECT * FROM pg_user_mappings",
    "SELECT rolconfig FROM pg_roles",
    "SELECT * FROM pg_roles",
    "SELECT r::text FROM pg_roles r",
    "SELECT rolname FROM pg_roles WHERE rolconfig IS NOT NULL",
    "SELECT useconfig FROM pg_user",
    "SELECT * FROM pg_db_role_setting",
    "SELECT current_setting('app.secret')",
    "SELECT current_setting('app.secret', true)",
    "SELECT current_setting('app.db_secret', true)",
    "SELECT pg_catalog.current_setting(name, true) FROM (VALUES ('app.secret')) AS v(name)",
    "SELECT current_setting(lower('APP.SECRET'), true)",
    "SHOW app.secret",
    "SELECT setting FROM pg_settings WHERE name = 'app.secret'",
    "SELECT * FROM pg_show_all_settings()",
    "SELECT prosrc FROM pg_proc WHERE proname = 'get_secret'",
    "SELECT p::text FROM pg_proc p WHERE proname = 'get_secret'",
    "SELECT pg_get_functiondef('internal.get_secret'::regproc)",
    "SELECT pg_get_functiondef(oid) FROM pg_proc WHERE proname = 'get_secret'",
    "SELECT routine_definition FROM information_schema.routines WHERE routine_name = 'get_secret'",
    "SELECT definition FROM pg_views WHERE viewname = 'notes_view'",
    "SELECT pg_get_viewdef('notes_view'::regclass)",
    "SELECT * FROM events",
    "SELECT count(*) FROM events WHERE id > 0",
    "SELECT * FROM events_parent_only",
    "SELECT * FROM parent_t",
    "SELECT * FROM notes_view",
    "WITH n AS (SELECT * FROM notes_view) SELECT count(*) FROM n",
    "SELECT * FROM innocent_view",
]

# XPath runs inside one libxml2 call that neither a cancel nor pg_terminate_backend interrupts: a cubic
# expression over a large document keeps a backend busy for hours after the tool has answered.
UNINTERRUPTIBLE = [
    "SELECT xpath('count(//a[count(following::a) > 0])', ('<r>' || repeat('<a/>', 20000) || '</r>')::xml)",
    "SELECT xpath_exists('//a[count(following::a) > 0]', '<r><a/></r>'::xml)",
    "SELECT XMLEXISTS('//a[count(following::a) > 0]' PASSING ('<r><a/></r>'::xml))",
    "SELECT * FROM XMLTABLE('//a' PASSING ('<r><a/></r>'::xml) COLUMNS n int PATH 'count(following::a)')",
    "SELECT pg_catalog.xpath('//a', '<r/>'::xml)",
]

ATTACK_CLASSES = {
    "transaction_control": TRANSACTION_CONTROL,
    "session_state": SESSION_STATE,
    "side_effect_functions": SIDE_EFFECT_FUNCTIONS,
    "utility_commands": UTILITY_COMMANDS,
    "file_and_program": FILE_AND_PROGRAM,
    "writable_ctes": WRITABLE_CTES,
    "lexical_evasion": LEXICAL_EVASION,
    "implicit_calls": IMPLICIT_CALLS,
    "catalog_leaks": CATALOG_LEAKS,
    "uninterruptible": UNINTERRUPTIBLE,
}

ATTACKS = [(cls, sql) for cls, items in ATTACK_CLASSES.items() for sql in items]

# Functions of contrib modules that run the SQL text they are given, or reach another database. Each one, run,
# reads schema `internal`, kills the session {victim}, changes settings, notifies, locks, commits a row through a
# second connection, blocks readers, or (as a superuser) reads files and password hashes or runs a program.
CONTRIB_ATTACKS = [
    "SELECT * FROM crosstab('SELECT 1::text, 1::text, body FROM internal.staff_notes') AS t(a text, b text)",
    "SELECT * FROM crosstab('SELECT 1::text, 1::text, pg_terminate_backend({victim})::text') AS t(a text, b text)",
    "SELECT * FROM crosstab('SELECT 1::text, 1::text, txid_current()::text') AS t(a text, b text)",
    "SELECT * FROM crosstab('SELECT 1::text, 1::text, set_config(''statement_timeout'', ''0'', false)') "
    "AS t(a text, b text)",
    "SELECT * FROM crosstab('SELECT 1::text, 1::text, pg_notify(''warden_channel'', ''x'')::text') "
    "AS t(a text, b text)",
    "SELECT * FROM crosstab('SELECT 1::text, 1::text, pg_advisory_lock(4242)::text') AS t(a text, b text)",
    "SELECT * FROM crosstab('SELECT 1::text, 1::text, pg_read_file(''/etc/passwd'')') AS t(a text, b text)",
    "SELECT * FROM crosstab('SELECT 1::text, 1::text, rolpassword::text FROM pg_authid') AS t(a text, b text)",
    "SELECT * FROM crosstab('CREATE TABLE warden_new (x int)') AS t(a text, b text)",
    "SELECT * FROM crosstab('COPY (SELECT 1) TO PROGRAM ''touch {canary}''') AS t(a text, b text)",
    "SELECT * FROM crosstab('CLUSTER customers USING customers_pkey') AS t(a text, b text)",
    "SELECT * FROM crosstab('REINDEX TABLE customers') AS t(a text, b text)",
    "SELECT * FROM crosstab('SELECT 1::text, 1::text, 1::text', 'SELECT pg_terminate_backend({victim})::text') "
    "AS t(a text, b text)",
    "SELECT * FROM public.crosstab2('SELECT ''a''::text, ''b''::text, body FROM internal.staff_notes')",
    "SELECT * FROM crosstab3('SELECT ''a''::text, ''b''::text, pg_advisory_lock(4242)::text')",
    "SELECT * FROM connectby('internal.staff_notes', 'id', 'id', '1', 0) AS t(id int, parent int, level int)",
    "SELECT * FROM connectby('(SELECT pg_terminate_backend({victim})::int AS id, 1 AS parent) s', 'id', 'parent', "
    "'1', 0) AS t(id int, parent int, level int)",
    "SELECT * FROM xpath_table('id', 'body', 'internal.staff_notes', '/a', 'true') AS t(id int, a text)",
    "SELECT * FROM xpath_table('id', 'x', '(SELECT 1 AS id, pg_advisory_lock(4242)::text AS x) s', '/a', 'true') "
    "AS t(id int, a text)",
    "SELECT * FROM xpath_table('id', 'note', 'orders', '/a', 'pg_terminate_backend({victim})') AS t(id int, a text)",
    "SELECT dblink_exec('warden_loop', 'INSERT INTO public.dblink_target VALUES (1)')",
    "SELECT dblink_exec('dbname={database}', 'INSERT INTO public.dblink_target VALUES (1)')",
    "SELECT * FROM dblink('warden_loop', 'SELECT body FROM internal.staff_notes') AS t(b text)",
    "SELECT * FROM dblink('warden_loop', 'SELECT pg_terminate_backend({victim})') AS t(b boolean)",
    "SELECT dblink_connect('warden', 'warden_loop')",
    "SELECT * FROM dblink_get_connections()",
    "SELECT query_to_xml('SELECT pg_terminate_backend({victim})', true, true, '')",
    "SELECT umoptions FROM pg_user_mappings",
    "SELECT option_value FROM information_schema.user_mapping_options WHERE option_name = 'password'",
    "SELECT postgres_fdw_disconnect_all()",
    "SELECT * FROM postgres_fdw_get_connections()",
    "SELECT count(*) FROM loop_notes",
    "SELECT * FROM pivot_view",
]

CONTRIB_SQL = """
CREATE EXTENSION tablefunc;
CREATE EXTENSION xml2;
CREATE EXTENSION dblink;
CREATE EXTENSION postgres_fdw;
CREATE TABLE public.dblink_target (x int);
GRANT SELECT ON public.dblink_target TO {readonly};
CREATE SERVER warden_loop FOREIGN DATA WRAPPER postgres_fdw
    OPTIONS (host '{host}', port '{port}', dbname '{database}');
CREATE USER MAPPING FOR PUBLIC SERVER warden_loop OPTIONS (user 'postgres', password 'canary-fdw-password');
GRANT USAGE ON FOREIGN SERVER warden_loop TO {owner}, {readonly};
CREATE FOREIGN TABLE internal.loop_notes_remote (body text) SERVER warden_loop
    OPTIONS (schema_name 'internal', table_name 'staff_notes');
CREATE VIEW public.loop_notes AS SELECT * FROM internal.loop_notes_remote;
GRANT SELECT ON public.loop_notes, internal.loop_notes_remote TO {owner}, {readonly};
CREATE VIEW public.pivot_view AS
    SELECT * FROM crosstab('SELECT 1::text, 1::text, pg_advisory_lock(4242)::text') AS t(a text, b text);
GRANT SELECT ON public.pivot_view TO {owner}, {readonly};
"""
"""Run by a superuser on the shop database: the contrib modules, and a foreign server that loops back to this
database with a stored password (the user mapping a read-only role must never see)."""

# Functions reached only indirectly, created in schema `traps` by the table owner.
TRAPS_SQL = """
CREATE SCHEMA traps;
CREATE FUNCTION traps.volatile_fn() RETURNS int LANGUAGE sql VOLATILE AS 'SELECT 1';
CREATE FUNCTION traps.locking(bigint) RETURNS bigint LANGUAGE sql VOLATILE
    AS 'SELECT pg_advisory_lock($1); SELECT $1';
CREATE FUNCTION traps.looks_stable(seq bigint DEFAULT nextval('orders_id_seq')) RETURNS bigint
    LANGUAGE sql STABLE AS 'SELECT $1';
CREATE FUNCTION traps.locking_eq(int, int) RETURNS boolean LANGUAGE sql VOLATILE
    AS 'SELECT pg_advisory_lock(99); SELECT $1 = $2';
CREATE OPERATOR traps.=== (LEFTARG = int, RIGHTARG = int, FUNCTION = traps.locking_eq);
CREATE FUNCTION traps.locks(int) RETURNS boolean LANGUAGE plpgsql VOLATILE
    AS 'BEGIN PERFORM pg_advisory_lock($1); RETURN true; END';
CREATE FUNCTION traps.locking_step(bigint, int) RETURNS bigint LANGUAGE sql VOLATILE
    AS 'SELECT pg_advisory_lock(98); SELECT coalesce($1, 0) + $2';
CREATE AGGREGATE traps.locking_sum(int) (SFUNC = traps.locking_step, STYPE = bigint);
CREATE FUNCTION traps.harmless(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x * 2';
"""

# Objects on the search path (`public`) that PostgreSQL may call without the statement naming them, and objects
# outside it that the catalog or a public table could leak. Created by the table owner after the read-only
# role, so it grants exactly what it means to. `{readonly}`, `{owner}`, `{database}` are filled in.
PUBLIC_TRAPS_SQL = """
CREATE DOMAIN lockint AS int;
CREATE FUNCTION lockint_cmp(lockint, lockint) RETURNS boolean LANGUAGE plpgsql VOLATILE
    AS 'BEGIN PERFORM pg_advisory_lock(97); RETURN $1::int = $2::int; END';
CREATE FUNCTION lockint_ne(lockint, lockint) RETURNS boolean LANGUAGE plpgsql VOLATILE
    AS 'BEGIN PERFORM pg_advisory_lock(96); RETURN $1::int <> $2::int; END';
CREATE OPERATOR = (LEFTARG = lockint, RIGHTARG = lockint, FUNCTION = lockint_cmp, NEGATOR = <>);
CREATE OPERATOR <> (LEFTARG = lockint, RIGHTARG = lockint, FUNCTION = lockint_ne, NEGATOR = =);
CREATE OPERATOR <= (LEFTARG = lockint, RIGHTARG = lockint, FUNCTION = lockint_cmp);
CREATE OPERATOR >= (LEFTARG = lockint, RIGHTARG = lockint, FUNCTION = lockint_cmp);
CREATE TYPE boxed AS (v text);
CREATE FUNCTION box_it(text) RETURNS boxed LANGUAGE plpgsql VOLATILE
    AS 'BEGIN PERFORM pg_advisory_lock(95); RETURN ROW($1)::boxed; END';
CREATE CAST (text AS boxed) WITH FUNCTION box_it(text) AS IMPLICIT;
CREATE FUNCTION unbox(boxed) RETURNS text LANGUAGE sql IMMUTABLE AS 'SELECT ($1).v';

CREATE FUNCTION internal.get_secret(int) RETURNS text LANGUAGE sql STABLE AS $$SELECT 'canary-function-body'$$;
GRANT EXECUTE ON FUNCTION internal.get_secret(int) TO {readonly};
CREATE STATISTICS internal.notes_stats (mcv) ON author, body FROM internal.staff_notes;
ANALYZE internal.staff_notes;
CREATE VIEW notes_view AS SELECT * FROM internal.staff_notes;
CREATE VIEW innocent_view AS SELECT id, internal.get_secret(id) AS note FROM generate_series(1, 2) AS id;
CREATE TABLE events (id int, note text) PARTITION BY RANGE (id);
CREATE TABLE events_public PARTITION OF events FOR VALUES FROM (100) TO (200);
CREATE TABLE internal.events_secret PARTITION OF events FOR VALUES FROM (0) TO (100);
INSERT INTO events VALUES (1, 'canary-partition-row'), (150, 'public row');
CREATE VIEW events_parent_only AS SELECT * FROM events;
CREATE TABLE parent_t (x int, note text);
CREATE TABLE internal.child_t () INHERITS (parent_t);
INSERT INTO parent_t VALUES (1, 'public row');
INSERT INTO internal.child_t VALUES (2, 'canary-child-row');
GRANT SELECT ON notes_view, innocent_view, events, events_public, events_parent_only, parent_t TO {readonly};
GRANT SELECT ON internal.events_secret, internal.child_t TO {readonly};
SELECT lo_from_bytea(0, 'a large object the role may read');
DO $$ BEGIN
    EXECUTE format('GRANT SELECT ON LARGE OBJECT %s TO {readonly}', (SELECT max(oid) FROM pg_largeobject_metadata));
END $$;
"""

SECRETS_SQL = """
ALTER ROLE {readonly} SET app.secret = 'canary-role-setting';
ALTER DATABASE "{database}" SET app.db_secret = 'canary-database-setting';
"""
"""Secrets planted as settings by a superuser (role- and database-level custom settings)."""

CANARIES = (
    "canary-function-body",
    "canary-partition-row",
    "canary-child-row",
    "canary-role-setting",
    "canary-database-setting",
    "canary-fdw-password",
    "Refund approvals",
)
"""Text that must never come back from a call: planted secrets, and the rows of schema `internal`."""

# --- Legit analytics SQL: must pass every layer and return rows. --------------------------------

LEGIT = [
    "SELECT 1",
    "select count(*) from customers",
    "WITH recent AS (SELECT * FROM orders WHERE ordered_at > '2024-03-15') "
    "SELECT status, count(*) FROM recent GROUP BY status ORDER BY 2 DESC, 1",
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10) SELECT sum(i) FROM n",
    "WITH a AS (SELECT customer_id, count(*) AS n FROM orders GROUP BY 1), b AS (SELECT max(n) AS m FROM a) "
    "SELECT a.* FROM a, b WHERE a.n = b.m ORDER BY 1",
    "SELECT id, ordered_at, row_number() OVER (PARTITION BY customer_id ORDER BY ordered_at), "
    "lag(ordered_at) OVER w, sum(id) OVER (ORDER BY id ROWS BETWEEN 2 PRECEDING AND CURRENT ROW) "
    "FROM orders WINDOW w AS (PARTITION BY customer_id ORDER BY ordered_at) ORDER BY id LIMIT 5",
    "SELECT c.full_name, o.id, o.ordered_at FROM customers c CROSS JOIN LATERAL "
    "(SELECT id, ordered_at FROM orders WHERE customer_id = c.id ORDER BY ordered_at DESC LIMIT 1) o ORDER BY 1",
    "SELECT name, attributes->>'colour' AS colour, attributes @> '{\"colour\": \"black\"}' AS black "
    "FROM products WHERE attributes ? 'colour' ORDER BY id",
    "SELECT jsonb_path_query_array(attributes, '$.*'), attributes #> '{colour}' FROM products ORDER BY id LIMIT 2",
    "SELECT jsonb_agg(to_jsonb(p) - 'attributes' ORDER BY p.id) FROM products p",
    "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY price), mode() WITHIN GROUP (ORDER BY active), "
    "percentile_disc(ARRAY[0.25, 0.75]) WITHIN GROUP (ORDER BY price) FROM products",
    "SELECT status, count(*) FILTER (WHERE note IS NOT NULL) FROM orders GROUP BY ROLLUP (status) ORDER BY 1",
    "SELECT 'DROP TABLE customers; COMMIT' AS advice -- DELETE FROM orders",
    'SELECT 1 AS "delete", 2 AS "COMMIT; DROP TABLE x", 3 AS "pg_sleep(10)"',
    "/* UPDATE orders SET status = 'x'; */ SELECT count(*) FROM orders WHERE note LIKE '%DROP TABLE%'",
    "SELECT $$ INSERT INTO x VALUES (1); COMMIT; $$ AS text",
    "SELECT E'set_config(\\'x\\'); pg_read_file(\\'/etc/passwd\\')' AS text",
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
    "SELECT relname, reltuples FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r' ORDER BY 1",
    "SELECT pg_size_pretty(pg_total_relation_size('orders')), pg_relation_size('customers') >= 0",
    "SELECT current_user = session_user, current_database() IS NOT NULL, version() LIKE 'PostgreSQL%'",
    "SELECT count(*) >= 1 FROM pg_stat_activity",
    "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = 'orders'::regclass ORDER BY 1",
    "SELECT a.attname, format_type(a.atttypid, a.atttypmod) FROM pg_attribute a "
    "WHERE a.attrelid = 'customers'::regclass AND a.attnum > 0 ORDER BY a.attnum",
    "EXPLAIN SELECT * FROM orders WHERE customer_id = '00000000-0000-0000-0000-000000000000'",
    "EXPLAIN (FORMAT JSON, COSTS false) SELECT count(*) FROM orders",
    "EXPLAIN (ANALYZE false) SELECT 1",
    "SHOW search_path",
    "SHOW server_version",
    'SHOW "TimeZone"',
    "SHOW transaction_read_only",
    "VALUES (1, 'a'), (2, 'b')",
    "SELECT * FROM (VALUES (1), (2)) AS v(x)",
    "SELECT id::text FROM customers UNION ALL SELECT gen_random_uuid()::text LIMIT 3",
    "SELECT random() < 2, clock_timestamp() IS NOT NULL",
    "SELECT now()::date IS NOT NULL, interval '1 day' * 3, '2024-01-01'::timestamptz + interval '1 month'",
    "SELECT email ~ '@example\\.com$', email LIKE 'customer1%', email ILIKE 'CUSTOMER%', email SIMILAR TO '%1%' "
    "FROM customers ORDER BY email LIMIT 3",
    "TABLE products",
    "SELECT tags, array_length(tags, 1), 'vip' = ANY(tags) FROM customers ORDER BY email LIMIT 3",
    "SELECT upper(full_name), substring(email from 1 for 5), format('%s-%s', country, id), "
    "position('@' in email), trim(both ' ' from full_name), extract(year from signed_up) FROM customers LIMIT 2",
    "SELECT full_name FROM customers c WHERE EXISTS (SELECT 1 FROM orders o WHERE o.customer_id = c.id "
    "AND o.status = 'delivered') ORDER BY 1",
    "SELECT * FROM customer_revenue ORDER BY revenue DESC, customer_id LIMIT 3",
    "SELECT DISTINCT ON (customer_id) customer_id, ordered_at FROM orders ORDER BY customer_id, ordered_at DESC",
    "SELECT count(*) >= 0 FROM orders TABLESAMPLE SYSTEM (50) REPEATABLE (1)",
    "SELECT d::date FROM generate_series('2024-01-01'::timestamp, '2024-01-05', '1 day') AS d",
    "SELECT * FROM generate_series(1, 3) WITH ORDINALITY AS g(v, n)",
    "SELECT * FROM unnest(ARRAY['a', 'b']) AS u(letter)",
    "WITH staff_notes AS (SELECT 1 AS x) SELECT * FROM staff_notes",
    "WITH pg_authid AS (SELECT 'not a secret' AS rolpassword) SELECT * FROM pg_authid",
    "SELECT full_name FROM customers WHERE to_tsvector('simple', full_name) @@ to_tsquery('simple', 'grace')",
    "SELECT 'customers'::regclass::oid > 0, 'public.orders'::regclass",
    "SELECT NULLIF(1, 1), GREATEST(1, 2), LEAST(3, 4), COALESCE(NULL, 5)",
    "SELECT 1 IS DISTINCT FROM 2, 3 BETWEEN 1 AND 5, 4 NOT BETWEEN SYMMETRIC 9 AND 1",
    "SELECT 1 OPERATOR(pg_catalog.+) 2",
    'SELECT "full_name" FROM "public"."customers" ORDER BY 1 LIMIT 1',
    'SELECT U&"full\\005fname" FROM customers ORDER BY 1 LIMIT 1',
    "SELECT count(*) FROM ONLY parent_t",
    "SELECT convert_from(lo_get(oid), 'UTF8') FROM pg_largeobject_metadata",
    "SELECT customer_id, count(*) FILTER (WHERE status = 'paid') AS paid, "
    "count(*) FILTER (WHERE status = 'delivered') AS delivered FROM orders GROUP BY 1 ORDER BY 1 LIMIT 3",
    "SELECT rolname, rolsuper FROM pg_roles WHERE rolname = current_user",
    "SELECT schemaname, tablename, attname, null_frac, n_distinct FROM pg_stats WHERE schemaname = 'public' LIMIT 3",
    "SELECT proname, pronargs FROM pg_proc WHERE proname = 'unbox'",
    "SELECT current_setting('search_path'), current_setting('TimeZone')",
    "SELECT viewname FROM pg_views WHERE schemaname = 'public' ORDER BY 1",
    "SELECT * FROM events_public ORDER BY id",
    "SELECT id FROM customers WHERE email = 'customer1@example.com' AND country IN ('GB', 'US')",
    "SELECT count(*) FROM orders WHERE status BETWEEN 'a' AND 'z' AND customer_id IS DISTINCT FROM NULL",
    "SELECT CASE status WHEN 'paid' THEN 1 ELSE 0 END FROM orders ORDER BY id LIMIT 2",
    "SELECT count(*) FROM products WHERE id IN (SELECT product_id FROM order_items)",
    "SELECT o.status, round(avg(i.quantity * i.unit_price), 2) AS avg_line, sum(i.quantity) "
    "FROM orders o JOIN order_items i ON i.order_id = o.id JOIN products p ON p.id = i.product_id "
    "WHERE p.active GROUP BY o.status HAVING sum(i.quantity) > 0 ORDER BY 1",
    "SELECT date_trunc('week', ordered_at) AS week, count(*) FROM orders GROUP BY 1 ORDER BY 1 LIMIT 3",
    "SELECT string_agg(sku, ',' ORDER BY sku), array_agg(DISTINCT active) FROM products",
    "SELECT corr(price, id), stddev(price), regr_slope(price, id) FROM products",
    "SELECT id FROM orders o WHERE status = ANY (ARRAY['paid', 'shipped']) ORDER BY id LIMIT 3",
    "SELECT to_char(signed_up, 'YYYY-MM'), age(timestamptz '2025-01-01', signed_up) FROM customers LIMIT 2",
    "SELECT md5(email), encode(sha256(email::bytea), 'hex') FROM customers LIMIT 1",
    "SELECT avatar, octet_length(avatar) FROM customers WHERE avatar IS NOT NULL ORDER BY email LIMIT 1",
    "SELECT count(*) FROM orders WHERE ordered_at BETWEEN '2024-03-01' AND '2024-04-01' AND note IS NULL",
    "SELECT * FROM orders ORDER BY id FETCH FIRST 2 ROWS ONLY",
    "SELECT x, x * 2 FROM generate_series(1, 5) AS x ORDER BY x DESC OFFSET 1",
]
