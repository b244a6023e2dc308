// The chart's PostgreSQL roles script (deploy/helm/food-saga/files/postgresql-roles.sql) against a real, throwaway
// PostgreSQL (test/harness.mjs, PostgreSQL only): the migrator role migrates every schema with the real migrations
// (the built food-migrate, as the chart's migration Job runs it; the migration files through psql, as lib/pg.c
// pg_migrate applies them, when it is not built), each process's role may read and write its own schemas' tables
// and create, alter or drop nothing, cannot touch another role's schema, the reader reads exactly the tables
// services/reader/*.c query (the gateway none: it has no role); tables the migrator (or a superuser) creates later
// are granted; no role is a superuser; the script is idempotent, converts a database from before the migrator (one
// role, or a role per process) and one from before the reader (the gateway's former role food_gateway goes, once no
// gateway of the previous release is connected, what it owned to the migrator).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startPlatform } from '../harness.mjs';
import { ROOT, CHART, topology } from './tools.mjs';

const execFileP = promisify(execFile);
const SCRIPT = process.env.FOOD_ROLES_SQL || path.join(CHART, 'files/postgresql-roles.sql'); // a variant, to check that this test catches it
const read = (p) => fs.readFileSync(path.join(ROOT, p), 'utf8');
const PSQL = ['/usr/bin/psql', '/usr/lib/postgresql/15/bin/psql'].find((p) => fs.existsSync(p)) || 'psql';

// Which process migrates which schemas, from the code: the service_start name and ServiceSchema lists of each
// main.c (the payment worker has none), each schema's migration files from its folder.
function services() {
        const mains = ['gateway/main.c', 'orchestrator/main.c', ...fs.readdirSync(path.join(ROOT, 'services'))
                .map((d) => `services/${d}/main.c`).filter((f) => fs.existsSync(path.join(ROOT, f)))];
        const out = {};
        for (const f of mains) {
                const src = read(f);
                const name = src.match(/service_start(?:_on|_with)?\([^,]+,\s*"([a-z-]+)"/)?.[1];
                if (!name) continue;
                const schemas = [...src.matchAll(/\{"([a-z_]+)",\s*[a-z_]+_migrations,/g)].map((m) => m[1]);
                if (schemas.length) out[name] = { dir: path.dirname(f), schemas };
        }
        return out;
}
const SERVICES = services();
const READER = topology().readQueue; // the process answering the gateway's reads, named after its queue group
function migrationDir(schema, declaringDir) {
        for (const d of [`services/${schema}/migrations`, `lib/migrations/${schema}`, `${declaringDir}/migrations`])
                if (fs.existsSync(path.join(ROOT, d))) return d;
        throw new Error(`no migrations folder for schema ${schema}`);
}
// The tables a folder's SQL names (schema-qualified, as the queries are written), but those of `own` schemas.
function tablesRead(dir, own = []) {
        const reads = new Set();
        for (const f of fs.readdirSync(path.join(ROOT, dir)).filter((x) => x.endsWith('.c') && !x.startsWith('test-')))
                for (const m of read(`${dir}/${f}`).matchAll(/\b(?:FROM|JOIN)\s+([a-z_]+)\.([a-z_]+)/g))
                        if (!own.includes(m[1])) reads.add(`${m[1]}.${m[2]}`);
        return [...reads].sort();
}
// The tables of other schemas the reader reads (the gateway's reads, which it answers).
const readerReads = () => tablesRead(SERVICES[READER].dir, SERVICES[READER].schemas);
const role = (service) => `food_${service}`;
const MIGRATOR = 'food_migrator';
const PASSWORDS = Object.fromEntries([...Object.keys(SERVICES), 'migrator'].map((s) => [`FOOD_PG_PW_${s.toUpperCase()}`, `pw-${s}-${Date.now()}`]));
const FOOD_MIGRATE = path.resolve(ROOT, process.env.BUILD_DIR || 'build', 'tools/food-migrate');

let p;
before(async () => {
        p = await startPlatform({ name: 'helm-pg-roles', only: ['pg'] });
});
after(async () => {
        await p?.stop();
});

async function psql(user, db, args, env = {}) {
        const pw = Object.entries(PASSWORDS).find(([k]) => k === `FOOD_PG_PW_${user.replace(/^food_/, '').toUpperCase()}`)?.[1];
        return execFileP(PSQL, ['-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(p.pgPort), '-U', user, '-d', db, ...args],
                { timeout: 60_000, env: { ...process.env, ...(pw ? { PGPASSWORD: pw } : {}), ...env } });
}
const sqlAs = async (user, db, query) => (await psql(user, db, ['-c', query])).stdout.trim();
const applyScript = (db) => psql('postgres', db, ['-f', SCRIPT], PASSWORDS);
// What pg_migrate does for `schema`, as `user` with the service's search path: pending files in one transaction.
async function migrate(user, db, schema, searchPath, dir, extra = []) {
        const q = `"${schema}"`;
        await sqlAs(user, db, `CREATE SCHEMA IF NOT EXISTS ${q}; CREATE TABLE IF NOT EXISTS ${q}.schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
        const current = Number(await sqlAs(user, db, `SELECT coalesce(max(version), 0) FROM ${q}.schema_migrations`));
        const files = [...fs.readdirSync(path.join(ROOT, dir)).filter((f) => /^\d+.*\.sql$/.test(f)).sort().map((f) => [f, read(`${dir}/${f}`)]), ...extra];
        let body = `SET search_path = ${searchPath};\n`;
        for (const [f, text] of files) {
                const v = Number(f.match(/^(\d+)/)[1]);
                if (v > current) body += `${text}\n;INSERT INTO ${q}.schema_migrations(version, name) VALUES (${v}, '${f}');\n`;
        }
        await psql(user, db, ['-1', '-c', body]).catch((e) => assert.fail(`${user} migrating ${schema}: ${e.stderr}`));
}
// Every schema migrated as `user`: by food-migrate when built (what the chart's Job runs), else by psql as above.
async function migrateAll(db, user) {
        if (user === MIGRATOR && fs.existsSync(FOOD_MIGRATE)) {
                await execFileP(FOOD_MIGRATE, [], {
                        timeout: 120_000,
                        env: { ...process.env, DATABASE_URL: `postgresql://${user}@127.0.0.1:${p.pgPort}/${db}`, PGPASSWORD: PASSWORDS.FOOD_PG_PW_MIGRATOR,
                                DEMO_CATALOG: 'true', LOG_LEVEL: 'warn' },
                }).catch((e) => assert.fail(`food-migrate as ${user}: ${e.stderr}`));
                return;
        }
        for (const [, s] of Object.entries(SERVICES).sort(([a], [b]) => (a === 'orchestrator' ? -1 : b === 'orchestrator' ? 1 : 0)))
                for (const schema of s.schemas) await migrate(user, db, schema, s.schemas.join(','), migrationDir(schema, s.dir));
}
async function fails(user, db, query, why) {
        await assert.rejects(sqlAs(user, db, query), /permission denied|must be owner|must be member|must be able to SET ROLE/, `${user} could ${why}: ${query}`);
}

async function checkRoles(db) {
        const owners = Object.fromEntries((await sqlAs('postgres', db, "SELECT nspname, nspowner::regrole FROM pg_namespace")).split('\n').map((l) => l.split('|')));
        const supers = await sqlAs('postgres', db, `SELECT rolname FROM pg_roles WHERE rolname LIKE 'food\\_%' AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication)`);
        assert.equal(supers, '', 'food_* roles with more than LOGIN');
        const schemas = [...new Set(Object.values(SERVICES).flatMap((s) => s.schemas))];
        // Every schema and every object in it is the migrator's.
        for (const schema of schemas) {
                assert.equal(owners[schema], MIGRATOR, `schema ${schema}`);
                const objs = await sqlAs('postgres', db, `SELECT c.relname || ':' || c.relowner::regrole FROM pg_class c WHERE c.relnamespace = '${schema}'::regnamespace AND c.relkind IN ('r','v','m','S') AND c.relowner <> '${MIGRATOR}'::regrole`);
                assert.equal(objs, '', `objects of schema ${schema} not owned by ${MIGRATOR}`);
        }
        const tables = (await sqlAs('postgres', db, `SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname IN (${schemas.map((x) => `'${x}'`).join(',')})`)).split('\n');
        assert.ok(tables.length >= schemas.length, tables.join(' '));
        for (const [name, s] of Object.entries(SERVICES)) {
                const mine = (t) => s.schemas.includes(t.split('.')[0]);
                for (const t of tables) {
                        if (mine(t)) {
                                // Its own tables (schema_migrations included, which MIGRATIONS=check reads): read and write, no DDL.
                                const dml = await sqlAs(role(name), db, `DELETE FROM ${t} WHERE false; SELECT count(*) >= 0 AND has_table_privilege('${t}', 'INSERT') AND has_table_privilege('${t}', 'UPDATE') FROM ${t}`);
                                assert.equal(dml, 't', `${role(name)}: SELECT, INSERT, UPDATE, DELETE on ${t}`);
                                if (t.endsWith('.schema_migrations')) {
                                        await fails(role(name), db, `ALTER TABLE ${t} ADD COLUMN intruder int`, `alter ${t}`);
                                        await fails(role(name), db, `DROP TABLE ${t}`, `drop ${t}`);
                                }
                                continue;
                        }
                        const readable = name === READER && readerReads().includes(t);
                        if (readable) await sqlAs(role(name), db, `SELECT count(*) FROM ${t}`);
                        else await fails(role(name), db, `SELECT count(*) FROM ${t}`, `read ${t}`);
                        await fails(role(name), db, `DELETE FROM ${t}`, `delete from ${t}`);
                }
                // No DDL anywhere, its own schemas included.
                for (const schema of schemas) {
                        await fails(role(name), db, `CREATE TABLE ${schema}.intruder (x int)`, `create in ${schema}`);
                        await fails(role(name), db, `DROP SCHEMA ${schema} CASCADE`, `drop ${schema}`);
                }
                await fails(role(name), db, 'CREATE SCHEMA intruder', 'create a schema');
                await fails(role(name), db, `CREATE SCHEMA IF NOT EXISTS ${s.schemas[0]}`, 'run a migrator\'s CREATE SCHEMA IF NOT EXISTS');
        }
        // The reader's grants: exactly the tables its code reads (the gateway's reads before the reader).
        const granted = await sqlAs('postgres', db, `SELECT table_schema || '.' || table_name FROM information_schema.role_table_grants WHERE grantee = '${role(READER)}' AND privilege_type = 'SELECT' AND table_schema NOT IN (${SERVICES[READER].schemas.map((x) => `'${x}'`).join(',')}) ORDER BY 1`);
        assert.deepEqual(granted.split('\n').filter(Boolean).sort(), readerReads(), 'the reader\'s SELECT grants outside its schema');
        const wide = await sqlAs('postgres', db, `SELECT table_schema || '.' || table_name || ' ' || privilege_type FROM information_schema.role_table_grants WHERE grantee = '${role(READER)}' AND privilege_type <> 'SELECT' AND table_schema <> 'catalog'`);
        assert.equal(wide, '', 'the reader may write outside its catalog');
        // No role for the gateway any more (food_gateway, before the reader): the script dropped it, if there was one.
        assert.equal(await sqlAs('postgres', db, "SELECT count(*) FROM pg_roles WHERE rolname = 'food_gateway'"), '0', 'food_gateway is left');
}

test('the code\'s facts the script must match: who migrates which schema, what the reader reads, that the gateway queries nothing', () => {
        assert.deepEqual(Object.keys(SERVICES).sort(), ['coupon', 'delivery', 'notification', 'orchestrator', READER, 'store'].sort());
        assert.deepEqual(SERVICES.orchestrator.schemas, ['orchestrator', 'readmodel', 'notification']);
        assert.deepEqual(SERVICES[READER].schemas, ['catalog']);
        assert.ok(readerReads().length >= 4, readerReads().join(' '));
        assert.deepEqual(tablesRead('gateway'), [], 'the gateway queries PostgreSQL (its reads are the reader\'s)');
        const sql = fs.readFileSync(SCRIPT, 'utf8');
        for (const t of readerReads()) {
                const [s, n] = t.split('.');
                assert.ok(sql.split(`('${s}', '${n}')`).length === 3, `${t}: not in both grant lists of the script`);
        }
        for (const s of [...Object.keys(SERVICES), 'migrator']) assert.match(sql, new RegExp(`\\\\getenv pw_${s} FOOD_PG_PW_${s.toUpperCase()}\\n`));
});

test('fresh database: the migrator migrates every schema; each process role reads and writes its own tables and changes no schema; the reader reads only what it needs; the script is idempotent', async () => {
        await p.sql('CREATE DATABASE fresh', 'postgres');
        await applyScript('fresh');
        await migrateAll('fresh', MIGRATOR);
        await checkRoles('fresh');
        // A later migration (expand): tables the migrator creates are granted to their process role by default
        // privileges, the reader's by the event trigger; one a superuser creates by hand goes to the migrator.
        await sqlAs(MIGRATOR, 'fresh', 'CREATE TABLE notification.test_t (x serial, y int); ALTER TABLE notification.notifications ADD COLUMN test_col int');
        await sqlAs('postgres', 'fresh', 'CREATE TABLE store.test_by_hand (x serial)');
        for (const [r, t] of [['food_notification', 'notification.test_t'], ['food_orchestrator', 'notification.test_t'], ['food_store', 'store.test_by_hand']]) {
                await sqlAs(r, 'fresh', `INSERT INTO ${t} DEFAULT VALUES`);
                await sqlAs(r, 'fresh', `SELECT count(*) FROM ${t}`);
        }
        await applyScript('fresh');
        await checkRoles('fresh');
        // Migrating again is a no-op (food-migrate or the files: nothing pending).
        await migrateAll('fresh', MIGRATOR);
        // The roles' passwords are the ones given (scram hashes set), never a superuser's.
        const pw = await sqlAs('postgres', 'fresh', "SELECT count(*) FROM pg_authid WHERE rolname LIKE 'food\\_%' AND rolpassword LIKE 'SCRAM-SHA-256$%'");
        assert.equal(Number(pw), Object.keys(SERVICES).length + 1);
        await fails(role('store'), 'fresh', 'CREATE ROLE sneaky', 'create a role');
        await fails(MIGRATOR, 'fresh', 'CREATE ROLE sneaky', 'create a role');
});

test('a database from before the migrator (one role migrated everything, or each process its own schemas): the script hands every object to the migrator', async () => {
        await p.sql('CREATE DATABASE legacy OWNER food', 'postgres');
        await migrateAll('legacy', 'food');
        await applyScript('legacy');
        await migrateAll('legacy', MIGRATOR);
        await checkRoles('legacy');
        // The chart before the migrator: each schema owned by its process role, which had CREATE on the database
        // (event triggers are per database: this one has none until the script runs); the catalog was the gateway's
        // then (food_gateway, with SELECT on the reads), which the script drops.
        await p.sql('CREATE DATABASE perrole', 'postgres');
        const owner = { orchestrator: 'orchestrator', readmodel: 'orchestrator', notification: 'notification', store: 'store', delivery: 'delivery', coupon: 'coupon', catalog: READER };
        const then = (svc) => role(svc === READER ? 'gateway' : svc);
        await sqlAs('postgres', 'perrole', 'CREATE ROLE food_gateway LOGIN');
        for (const [schema, svc] of Object.entries(owner)) await sqlAs('postgres', 'perrole', `GRANT CREATE ON DATABASE perrole TO ${then(svc)}; CREATE SCHEMA ${schema} AUTHORIZATION ${then(svc)}`);
        for (const [name, s] of Object.entries(SERVICES))
                for (const schema of s.schemas.filter((x) => owner[x] === name)) await migrate(then(name), 'perrole', schema, s.schemas.join(','), migrationDir(schema, s.dir));
        await sqlAs('postgres', 'perrole', `GRANT USAGE ON SCHEMA readmodel, notification, coupon TO food_gateway; ${readerReads().map((t) => `GRANT SELECT ON ${t} TO food_gateway`).join('; ')}`);
        await applyScript('perrole');
        await migrateAll('perrole', MIGRATOR);
        await checkRoles('perrole');
});

// Polls `check` (async, truthy when done) every 100 ms for up to `ms`.
async function until(check, ms, what) {
        for (const end = Date.now() + ms; ; await new Promise((r) => setTimeout(r, 100))) {
                if (await check()) return;
                if (Date.now() > end) assert.fail(`waited ${ms} ms for ${what}`);
        }
}
const gatewaySessions = async (db) => Number(await sqlAs('postgres', db, "SELECT count(*) FROM pg_stat_activity WHERE usename = 'food_gateway'"));

test('a database from before the reader: food_gateway keeps its rights while a gateway of the previous release is connected, then loses them (what it owned to the migrator) and goes once no database of the server holds any; food_reader has what it had', async () => {
        await p.sql('CREATE DATABASE upgrade', 'postgres');
        await applyScript('upgrade');
        await migrateAll('upgrade', MIGRATOR);
        // food_gateway as the previous chart's script left it (DML on the catalog now and by default privileges, the
        // reads, CONNECT), a table it owns, and a right in another database of the same server.
        await sqlAs('postgres', 'upgrade', ['CREATE ROLE food_gateway LOGIN', 'GRANT CONNECT ON DATABASE upgrade TO food_gateway',
                'GRANT USAGE ON SCHEMA catalog, readmodel, notification, coupon TO food_gateway',
                'GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA catalog TO food_gateway',
                'GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA catalog TO food_gateway',
                'ALTER DEFAULT PRIVILEGES FOR ROLE food_migrator IN SCHEMA catalog GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO food_gateway',
                ...readerReads().map((t) => `GRANT SELECT ON ${t} TO food_gateway`),
                'CREATE TABLE catalog.left_by_gateway (x int)', 'ALTER TABLE catalog.left_by_gateway OWNER TO food_gateway'].join('; '));
        await p.sql('CREATE DATABASE other', 'postgres');
        await sqlAs('postgres', 'other', 'CREATE SCHEMA elsewhere; GRANT USAGE ON SCHEMA elsewhere TO food_gateway');

        // A gateway of the previous release still connected (a DBA running the script before the upgrade): untouched.
        const session = spawn(PSQL, ['-X', '-q', '-h', '127.0.0.1', '-p', String(p.pgPort), '-U', 'food_gateway', '-d', 'upgrade', '-c', 'SELECT pg_sleep(120)'], { stdio: 'ignore' });
        try {
                await until(async () => (await gatewaySessions('upgrade')) === 1, 10_000, 'the previous gateway\'s session');
                const kept = await applyScript('upgrade');
                assert.match(kept.stderr, /food_gateway \(the gateway's role before the reader\) has 1 open session\(s\): kept/);
                for (const t of [...readerReads(), 'catalog.stores'])
                        assert.equal(await sqlAs('food_gateway', 'upgrade', `SELECT count(*) >= 0 FROM ${t}`), 't', `the previous gateway no longer reads ${t}`);
        } finally {
                session.kill();
                await sqlAs('postgres', 'upgrade', "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = 'food_gateway'");
        }
        await until(async () => (await gatewaySessions('upgrade')) === 0, 10_000, 'the previous gateway\'s session to end');

        // Once it is gone: nothing of food_gateway left in this database; kept for its right in `other`, named.
        const here = await applyScript('upgrade');
        assert.match(here.stderr, /food_gateway \(the gateway's role before the reader\) still has privileges in database\(s\) other: kept/);
        assert.equal(await sqlAs('postgres', 'upgrade', "SELECT relowner::regrole FROM pg_class WHERE oid = 'catalog.left_by_gateway'::regclass"), MIGRATOR);
        const left = await sqlAs('postgres', 'upgrade', "SELECT count(*) FROM pg_shdepend s JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = 'upgrade' AND s.refclassid = 'pg_authid'::regclass AND s.refobjid = 'food_gateway'::regrole");
        assert.equal(left, '0', 'food_gateway still holds something in the database');
        assert.equal(await sqlAs('postgres', 'upgrade', "SELECT has_database_privilege('food_gateway', 'upgrade', 'CONNECT') OR has_table_privilege('food_gateway', 'readmodel.orders', 'SELECT')"), 'f');
        // Run in the other database as well, the script drops the role; food_reader has everything food_gateway had.
        await applyScript('other');
        await checkRoles('upgrade');
        await sqlAs(role(READER), 'upgrade', 'SELECT count(*) FROM catalog.left_by_gateway');
        await applyScript('upgrade');
        await checkRoles('upgrade');
});
