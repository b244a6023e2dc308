-- food-saga's PostgreSQL roles: one login role per process that keeps state, owning only its own schemas, and
-- the read grants the gateway needs. Run by psql as a superuser, connected to the application database, with
-- each role's password in an environment variable FOOD_PG_PW_<SERVICE> (ORCHESTRATOR STORE DELIVERY COUPON
-- NOTIFICATION GATEWAY; the chart's Secret keys database-password-<service>):
--     psql -X -v ON_ERROR_STOP=1 -d food -f postgresql-roles.sql
-- The bundled PostgreSQL runs it at every start of its container; against an external server a DBA runs it
-- once per release (and after an upgrade of the chart). Idempotent; it also converts a database whose schemas
-- one role made (installs from before the per-service roles): their objects go to the schema's owner.
--
--   role                schemas it owns (it migrates them at start)   it reads besides
--   food_orchestrator   orchestrator, readmodel                        writes notification (member of food_notification)
--   food_notification   notification
--   food_store          store
--   food_delivery       delivery
--   food_coupon         coupon
--   food_gateway        catalog                                        readmodel.orders, readmodel.deliveries,
--                                                                      notification.notifications, coupon.coupons
-- The payment worker keeps no state and has no role. Roles are cluster-wide: one release per PostgreSQL server.
\set ON_ERROR_STOP on
\getenv pw_orchestrator FOOD_PG_PW_ORCHESTRATOR
\getenv pw_notification FOOD_PG_PW_NOTIFICATION
\getenv pw_store FOOD_PG_PW_STORE
\getenv pw_delivery FOOD_PG_PW_DELIVERY
\getenv pw_coupon FOOD_PG_PW_COUPON
\getenv pw_gateway FOOD_PG_PW_GATEWAY

BEGIN;
-- One migrator of this script at a time (two pods of a rolling update may start together).
SELECT pg_advisory_xact_lock(hashtext('food-saga roles'));

DO $roles$
DECLARE
        r text;
BEGIN
        FOREACH r IN ARRAY ARRAY['food_orchestrator', 'food_notification', 'food_store', 'food_delivery', 'food_coupon',
                                 'food_gateway'] LOOP
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
                        EXECUTE format('CREATE ROLE %I LOGIN', r);
                END IF;
        END LOOP;
END
$roles$;

-- No attribute beyond LOGIN; INHERIT so that the orchestrator has the rights of food_notification.
ALTER ROLE food_orchestrator WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'pw_orchestrator';
ALTER ROLE food_notification WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'pw_notification';
ALTER ROLE food_store WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'pw_store';
ALTER ROLE food_delivery WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'pw_delivery';
ALTER ROLE food_coupon WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'pw_coupon';
ALTER ROLE food_gateway WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS INHERIT PASSWORD :'pw_gateway';

-- The database: only these roles connect. CREATE because every process's migrator starts with CREATE SCHEMA IF
-- NOT EXISTS (lib/pg.c pg_migrate), which PostgreSQL checks against the database before it sees the schema
-- exists; the schemas themselves already exist, made below with their owners.
REVOKE ALL ON DATABASE :"DBNAME" FROM PUBLIC;
GRANT CONNECT, CREATE ON DATABASE :"DBNAME" TO food_orchestrator, food_notification, food_store, food_delivery,
        food_coupon, food_gateway;
REVOKE ALL ON SCHEMA public FROM PUBLIC;

-- The orchestrator writes the customers' notification rows with its saga transitions and migrates that schema
-- too (orchestrator/main.c): it acts as food_notification there, nowhere else.
GRANT food_notification TO food_orchestrator;

-- Each schema owned by its role; what an earlier single-role install made in it goes to that owner.
DO $schemas$
DECLARE
        s record;
        o record;
BEGIN
        FOR s IN SELECT * FROM (VALUES ('orchestrator', 'food_orchestrator'), ('readmodel', 'food_orchestrator'),
                                       ('notification', 'food_notification'), ('store', 'food_store'),
                                       ('delivery', 'food_delivery'), ('coupon', 'food_coupon'),
                                       ('catalog', 'food_gateway')) AS x(name, owner) LOOP
                EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', s.name, s.owner);
                EXECUTE format('ALTER SCHEMA %I OWNER TO %I', s.name, s.owner);
                EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', s.name);
                -- Tables (their indexes and serial sequences follow), then views, free sequences, routines.
                FOR o IN SELECT c.oid::regclass AS id, c.relkind FROM pg_class c
                         WHERE c.relnamespace = s.name::regnamespace AND c.relowner <> s.owner::regrole
                           AND c.relkind IN ('r', 'p', 'f', 'v', 'm', 'S')
                         ORDER BY c.relkind IN ('r', 'p', 'f') DESC, c.relkind = 'S' LOOP
                        CONTINUE WHEN o.relkind = 'S' AND EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                                                  AND d.objid = o.id AND d.deptype IN ('a', 'i'));
                        CONTINUE WHEN (SELECT relowner FROM pg_class WHERE oid = o.id) = s.owner::regrole;
                        EXECUTE format('ALTER %s %s OWNER TO %I', CASE o.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                                       WHEN 'S' THEN 'SEQUENCE' WHEN 'f' THEN 'FOREIGN TABLE' ELSE 'TABLE' END, o.id, s.owner);
                END LOOP;
                FOR o IN SELECT p.oid::regprocedure AS id FROM pg_proc p
                         WHERE p.pronamespace = s.name::regnamespace AND p.proowner <> s.owner::regrole LOOP
                        EXECUTE format('ALTER ROUTINE %s OWNER TO %I', o.id, s.owner);
                END LOOP;
        END LOOP;
END
$schemas$;

-- The gateway reads these tables and nothing else of the other schemas (gateway/gateway-readmodel.c).
GRANT USAGE ON SCHEMA readmodel, notification, coupon TO food_gateway;
DO $reads$
DECLARE
        t record;
BEGIN
        FOR t IN SELECT * FROM (VALUES ('readmodel', 'orders'), ('readmodel', 'deliveries'), ('notification', 'notifications'),
                                       ('coupon', 'coupons')) AS x(s, n) WHERE to_regclass(format('%I.%I', s, n)) IS NOT NULL LOOP
                EXECUTE format('GRANT SELECT ON %I.%I TO food_gateway', t.s, t.n);
        END LOOP;
END
$reads$;

-- Objects the migrations create later: each becomes its schema owner's (the orchestrator may be the first to
-- migrate the notification schema), and a table the gateway reads gets its SELECT grant.
CREATE OR REPLACE FUNCTION public.food_saga_new_object() RETURNS event_trigger
        LANGUAGE plpgsql SET search_path = pg_catalog AS $fn$
DECLARE
        c record;
        owner name;
BEGIN
        FOR c IN SELECT * FROM pg_event_trigger_ddl_commands()
                 WHERE command_tag LIKE 'CREATE %' AND object_type IN ('table', 'view', 'materialized view', 'sequence', 'function')
                   AND schema_name IN ('orchestrator', 'readmodel', 'notification', 'store', 'delivery', 'coupon', 'catalog') LOOP
                CONTINUE WHEN c.object_type = 'sequence' AND EXISTS (SELECT FROM pg_depend d WHERE d.classid = 'pg_class'::regclass
                                                                      AND d.objid = c.objid AND d.deptype IN ('a', 'i'));
                SELECT nspowner::regrole::name INTO owner FROM pg_namespace WHERE nspname = c.schema_name;
                EXECUTE format('ALTER %s %s OWNER TO %I', upper(c.object_type), c.object_identity, owner);
                IF c.object_type = 'table' AND (c.schema_name, (SELECT relname FROM pg_class WHERE oid = c.objid)) IN
                        (('readmodel', 'orders'), ('readmodel', 'deliveries'), ('notification', 'notifications'), ('coupon', 'coupons')) THEN
                        EXECUTE format('GRANT SELECT ON %s TO food_gateway', c.object_identity);
                END IF;
        END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION public.food_saga_new_object() FROM PUBLIC;
DROP EVENT TRIGGER IF EXISTS food_saga_new_object;
CREATE EVENT TRIGGER food_saga_new_object ON ddl_command_end EXECUTE FUNCTION public.food_saga_new_object();
COMMIT;
