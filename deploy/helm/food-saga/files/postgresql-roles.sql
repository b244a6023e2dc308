-- food-saga's PostgreSQL roles: the migrator, which owns every schema and is the only role with DDL rights (the
-- migration Job, food-migrate, connects as it), and one login role per process that keeps state, with USAGE on its
-- schemas and DML on their tables and sequences only, plus the read grants the reader needs. Run by psql as a
-- superuser, connected to the application database, with each role's password in an environment variable
-- FOOD_PG_PW_<ROLE> (MIGRATOR ORCHESTRATOR STORE DELIVERY COUPON NOTIFICATION READER; the chart's Secret keys
-- database-password-<role>):
--     psql -X -v ON_ERROR_STOP=1 -d food -f postgresql-roles.sql
-- The bundled PostgreSQL runs it at every start of its container; against an external server a DBA runs it
-- once per release (and after an upgrade of the chart). Idempotent; it also converts a database from before the
-- migrator (schemas owned by each process's role, or everything by one role): every object goes to food_migrator;
-- and one from before the reader: the gateway's former role food_gateway is dropped (below).
--
--   role                owns / may use                                 DML on (tables, sequences)     reads besides
--   food_migrator       owns every schema below; CREATE on the database  (owner)
--   food_orchestrator   orchestrator, readmodel                        those + notification (member of food_notification)
--   food_notification   notification                                   notification
--   food_store          store                                          store
--   food_delivery       delivery                                       delivery
--   food_coupon         coupon                                         coupon
--   food_reader         catalog                                        catalog                        readmodel.orders, readmodel.deliveries,
--                                                                                                     notification.notifications, coupon.coupons
-- No process role may create, alter or drop anything (they run with MIGRATIONS=check). Tables the migrator creates
-- later are granted by default privileges; an event trigger also hands objects someone else creates in these
-- schemas (a superuser by hand) to the migrator with the same grants. The payment worker keeps no state and has no
-- role, nor has the gateway (it asks the reader). Roles are cluster-wide: one release per PostgreSQL server.
\set ON_ERROR_STOP on
\getenv pw_migrator FOOD_PG_PW_MIGRATOR
\getenv pw_orchestrator FOOD_PG_PW_ORCHESTRATOR
\getenv pw_notification FOOD_PG_PW_NOTIFICATION
\getenv pw_store FOOD_PG_PW_STORE
\getenv pw_delivery FOOD_PG_PW_DELIVERY
\getenv pw_coupon FOOD_PG_PW_COUPON
\getenv pw_reader FOOD_PG_PW_READER

BEGIN;
-- One migrator of this script at a time (two pods of a rolling update may start together).
SELECT pg_advisory_xact_lock(hashtext('food-saga roles'));

DO $roles$
DECLARE
        r text;
BEGIN
        FOREACH r IN ARRAY ARRAY['food_migrator', 'food_orchestrator', 'food_notification', 'food_store', 'food_delivery', 'food_coupon',
                                 'food_reader'] LOOP
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
                        EXECUTE format('CREATE ROLE %I LOGIN', r);
                END IF;
        END LOOP;
END
$roles$;

-- No attribute beyond LOGIN; INHERIT so that the orchestrator has the rights of food_notification.
ALTER ROLE food_migrator WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'pw_migrator';
ALTER ROLE food_orchestrator WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'pw_orchestrator';
ALTER ROLE food_notification WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'pw_notification';
ALTER ROLE food_store WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'pw_store';
ALTER ROLE food_delivery WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'pw_delivery';
ALTER ROLE food_coupon WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'pw_coupon';
ALTER ROLE food_reader WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'pw_reader';

-- The gateway's role before the reader took its PostgreSQL sessions (food_gateway: DML on the catalog, the four
-- reads, now food_reader's). While a session of it is open — a gateway of the previous release still running,
-- e.g. when a DBA runs this before the upgrade — it is left as it is, so that gateway keeps working, and a later
-- run (after the upgrade; the bundled server runs this at every start) removes it: what it owns goes to the
-- migrator, its privileges here are revoked, and the role is dropped unless it still holds privileges in another
-- database of the server (this script, run there, drops it). Nothing to do on a fresh install.
DO $former$
DECLARE
        sessions int;
        elsewhere text;
BEGIN
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'food_gateway') THEN
                RETURN;
        END IF;
        SELECT count(*) INTO sessions FROM pg_stat_activity WHERE usename = 'food_gateway';
        IF sessions > 0 THEN
                RAISE NOTICE 'food_gateway (the gateway''s role before the reader) has % open session(s): kept; run this script again once no gateway of the previous release is left',
                        sessions;
                RETURN;
        END IF;
        EXECUTE 'REASSIGN OWNED BY food_gateway TO food_migrator';
        EXECUTE 'DROP OWNED BY food_gateway';
        SELECT string_agg(DISTINCT coalesce(d.datname, 'shared objects'), ', ') INTO elsewhere
          FROM pg_shdepend s LEFT JOIN pg_database d ON d.oid = s.dbid
         WHERE s.refclassid = 'pg_authid'::regclass AND s.refobjid = 'food_gateway'::regrole;
        IF elsewhere IS NOT NULL THEN
                RAISE NOTICE 'food_gateway (the gateway''s role before the reader) still has privileges in database(s) %: kept; run this script there too',
                        elsewhere;
                RETURN;
        END IF;
        EXECUTE 'DROP ROLE food_gateway';
END
$former$;

-- The database: only these roles connect; only the migrator creates schemas (food-migrate's CREATE SCHEMA IF NOT
-- EXISTS is checked against the database before PostgreSQL sees that the schema exists). Installs from before the
-- migrator gave every role CREATE: taken back.
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
REVOKE CREATE, TEMPORARY ON DATABASE :"DBNAME" FROM food_orchestrator, food_notification, food_store, food_delivery,
        food_coupon, food_reader;
GRANT CONNECT ON DATABASE :"DBNAME" TO food_migrator, food_orchestrator, food_notification, food_store, food_delivery,
        food_coupon, food_reader;
GRANT CREATE ON DATABASE :"DBNAME" TO food_migrator;
REVOKE ALL ON SCHEMA public FROM PUBLIC;

-- The orchestrator writes the customers' notification rows with its saga transitions (orchestrator/main.c): it
-- acts as food_notification there, nowhere else.
GRANT food_notification TO food_orchestrator;

-- Each schema and everything in it owned by the migrator; its process role may use it and read and write its
-- tables and sequences, now and (default privileges) those the migrator creates later.
DO $schemas$
DECLARE
        s record;
        o record;
BEGIN
        FOR s IN SELECT * FROM (VALUES ('orchestrator', 'food_orchestrator'), ('readmodel', 'food_orchestrator'),
                                       ('notification', 'food_notification'), ('store', 'food_store'),
                                       ('delivery', 'food_delivery'), ('coupon', 'food_coupon'),
                                       ('catalog', 'food_reader')) AS x(name, rolename) LOOP
                EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION food_migrator', s.name);
                EXECUTE format('ALTER SCHEMA %I OWNER TO food_migrator', s.name);
                EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC, %I', s.name, s.rolename);
                -- Tables (their indexes and serial sequences follow), then views, free sequences, routines.
                FOR o IN SELECT c.oid::regclass AS id, c.relkind FROM pg_class c
                         WHERE c.relnamespace = s.name::regnamespace AND c.relowner <> 'food_migrator'::regrole
                           AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
                         ORDER BY c.relkind IN ('r', 'p', 'f') DESC, c.relkind = 'S' LOOP
                        CONTINUE WHEN o.relkind = 'S' AND EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                                                  AND d.objid = o.id AND d.deptype IN ('a', 'i'));
                        CONTINUE WHEN (SELECT relowner FROM pg_class WHERE oid = o.id) = 'food_migrator'::regrole;
                        EXECUTE format('ALTER %s %s OWNER TO food_migrator', CASE o.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                       WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, o.id);
                END LOOP;
                FOR o IN SELECT p.oid::regprocedure AS id FROM pg_proc p
                         WHERE p.pronamespace = s.name::regnamespace AND p.proowner <> 'food_migrator'::regrole LOOP
                        EXECUTE format('ALTER ROUTINE %s OWNER TO food_migrator', o.id);
                END LOOP;
                -- What a former owner kept (ownership moves its grants to the new owner; these are belt and braces).
                EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA %I FROM %I', s.name, s.rolename);
                EXECUTE format('REVOKE ALL ON ALL SEQUENCES IN SCHEMA %I FROM %I', s.name, s.rolename);
                EXECUTE format('GRANT USAGE ON SCHEMA %I TO %I', s.name, s.rolename);
                EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO %I', s.name, s.rolename);
                EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO %I', s.name, s.rolename);
                EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE food_migrator IN SCHEMA %I GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO %I',
                               s.name, s.rolename);
                EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE food_migrator IN SCHEMA %I GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO %I',
                               s.name, s.rolename);
        END LOOP;
END
$schemas$;

-- The reader reads these tables and nothing else of the other schemas (services/reader/reader-queries.c).
GRANT USAGE ON SCHEMA readmodel, notification, coupon TO food_reader;
DO $reads$
DECLARE
        t record;
BEGIN
        FOR t IN SELECT * FROM (VALUES ('readmodel', 'orders'), ('readmodel', 'deliveries'), ('notification', 'notifications'),
                                       ('coupon', 'coupons')) AS x(s, n) WHERE to_regclass(format('%I.%I', s, n)) IS NOT NULL LOOP
                EXECUTE format('GRANT SELECT ON %I.%I TO food_reader', t.s, t.n);
        END LOOP;
END
$reads$;

-- Objects created later in these schemas: by the migrator, default privileges grant them; by anyone else (a
-- superuser by hand), this hands them to the migrator and grants the process role as the defaults would. Either
-- way a table the reader reads gets its SELECT grant.
CREATE OR REPLACE FUNCTION public.food_saga_new_object() RETURNS event_trigger
        LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
DECLARE
        c record;
        rolename name;
        owned boolean;
BEGIN
        FOR c IN SELECT * FROM pg_event_trigger_ddl_commands()
                 WHERE command_tag LIKE 'CREATE %' AND object_type IN ('table', 'view', 'materialized view', 'sequence', 'function')
                   AND schema_name IN ('orchestrator', 'readmodel', 'notification', 'store', 'delivery', 'coupon', 'catalog') LOOP
                -- A serial's sequence follows its table's owner, but needs its own grant.
                owned := c.object_type = 'sequence' AND EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                                                AND d.objid = c.objid AND d.deptype IN ('a', 'i'));
                rolename := CASE c.schema_name WHEN 'orchestrator' THEN 'food_orchestrator' WHEN 'readmodel' THEN 'food_orchestrator'
                                WHEN 'notification' THEN 'food_notification' WHEN 'store' THEN 'food_store'
                                WHEN 'delivery' THEN 'food_delivery' WHEN 'coupon' THEN 'food_coupon' ELSE 'food_reader' END;
                IF current_user <> 'food_migrator' THEN
                        IF NOT owned THEN
                                EXECUTE format('ALTER %s %s OWNER TO food_migrator', upper(c.object_type), c.object_identity);
                        END IF;
                        IF c.object_type IN ('table', 'view', 'materialized view') THEN
                                EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON %s TO %I', c.object_identity, rolename);
                        ELSIF c.object_type = 'sequence' THEN
                                EXECUTE format('GRANT USAGE, SELECT, UPDATE ON SEQUENCE %s TO %I', c.object_identity, rolename);
                        END IF;
                END IF;
                IF c.object_type = 'table' AND (c.schema_name, (SELECT relname FROM pg_class WHERE oid = c.objid)) IN
                        (('readmodel', 'orders'), ('readmodel', 'deliveries'), ('notification', 'notifications'), ('coupon', 'coupons')) THEN
                        EXECUTE format('GRANT SELECT ON %s TO food_reader', c.object_identity);
                END IF;
        END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION public.food_saga_new_object() FROM PUBLIC;
DROP EVENT TRIGGER IF EXISTS food_saga_new_object;
CREATE EVENT TRIGGER food_saga_new_object ON ddl_command_end EXECUTE FUNCTION public.food_saga_new_object();
COMMIT;
