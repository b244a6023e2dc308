// The chart's PostgreSQL roles script (deploy/helm/food-saga/files/postgresql-roles.sql) against a real, throwaway
// PostgreSQL (test/harness.mjs, PostgreSQL only): every role migrates its own schemas with the real migration files
// (as lib/pg.c pg_migrate does, in the search path lib/service.c gives), cannot touch another role's schema, the
// gateway reads exactly the tables gateway/*.c query and writes nothing outside its catalog, no role is a
// superuser; the script is idempotent and converts a database that one role migrated (the chart before it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { startPlatform } from '../harness.mjs';
import { ROOT, CHART } from './tools.mjs';

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
                const name = src.match(/service_start(?:_on)?\([^,]+,\s*"([a-z-]+)"/)?.[1];
                if (!name) continue;
                const schemas = [...src.matchAll(/\{"([a-z_]+)",\s*[a-z_]+_migrations,/g)].map((m) => m[1]);
                if (schemas.length) out[name] = { dir: path.dirname(f), schemas };
        }
        return out;
}
const SERVICES = services();
function migrationDir(schema, declaringDir) {
        for (const d of [`services/${schema}/migrations`, `lib/migrations/${schema}`, `${declaringDir}/migrations`])
                if (fs.existsSync(path.join(ROOT, d))) return d;
        throw new Error(`no migrations folder for schema ${schema}`);
}
// The tables of other schemas the gateway's SQL names (schema-qualified, as its queries are written).
function gatewayReads() {
        const reads = new Set();
        for (const f of fs.readdirSync(path.join(ROOT, 'gateway')).filter((x) => x.endsWith('.c') && !x.startsWith('test-')))
                for (const m of read(`gateway/${f}`).matchAll(/\b(?:FROM|JOIN)\s+([a-z_]+)\.([a-z_]+)/g))
                        if (!SERVICES.gateway.schemas.includes(m[1])) reads.add(`${m[1]}.${m[2]}`);
        return [...reads].sort();
}
const role = (service) => `food_${service}`;
const PASSWORDS = Object.fromEntries(Object.keys(SERVICES).map((s) => [`FOOD_PG_PW_${s.toUpperCase()}`, `pw-${s}-${Date.now()}`]));

let p;
before(async () => {
        p = await startPlatform({ name: 'helm-pg-roles', only: ['pg'] });
});
after(async () => {
        await p?.stop();
});

async function psql(user, db, args, env = {}) {
        return execFileP(PSQL, ['-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(p.pgPort), '-U', user, '-d', db, ...args],
                { timeout: 60_000, env: { ...process.env, ...env } });
}
const sqlAs = async (user, db, query) => (await psql(user, db, ['-c', query])).stdout.trim();
const applyScript = (db) => psql('postgres', db, ['-f', SCRIPT], PASSWORDS);
// What pg_migrate does for `schema`, as `user` with the service's search path: pending files in one transaction.
async function migrate(user, db, schema, searchPath, dir, extra = []) {
        const q = `"${schema}"`;
        await sqlAs(user, db, `CREATE SCHEMA IF NOT EXISTS ${q}; CREATE TABLE IF NOT EXISTS ${q}.schema_migrations (version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`);
        const current = Number(await sqlAs(user, db, `SELECT coalesce(max(version), 0) FROM ${q}.schema_migrations`));
        const files = [...fs.readdirSync(path.join(ROOT, dir)).filter((f) => f.endsWith('.sql')).sort().map((f) => [f, read(`${dir}/${f}`)]), ...extra];
        let body = `SET search_path = ${searchPath};\n`;
        for (const [f, text] of files) {
                const v = Number(f.match(/^(\d+)/)[1]);
                if (v > current) body += `${text}\n;INSERT INTO ${q}.schema_migrations(version, name) VALUES (${v}, '${f}');\n`;
        }
        await psql(user, db, ['-1', '-c', body]).catch((e) => assert.fail(`${user} migrating ${schema}: ${e.stderr}`));
}
async function migrateAll(db, userOf) {
        // The orchestrator first: it is the one that may create the notification schema's objects.
        for (const [name, s] of Object.entries(SERVICES).sort(([a], [b]) => (a === 'orchestrator' ? -1 : b === 'orchestrator' ? 1 : 0)))
                for (const schema of s.schemas) await migrate(userOf(name), db, schema, s.schemas.join(','), migrationDir(schema, s.dir));
}
async function fails(user, db, query, why) {
        await assert.rejects(sqlAs(user, db, query), /permission denied|must be owner|must be member/, `${user} could ${why}: ${query}`);
}

async function checkRoles(db) {
        const owners = Object.fromEntries((await sqlAs('postgres', db, "SELECT nspname, nspowner::regrole FROM pg_namespace")).split('\n').map((l) => l.split('|')));
        const supers = await sqlAs('postgres', db, `SELECT rolname FROM pg_roles WHERE rolname LIKE 'food\\_%' AND (rolsuper OR rolcreaterole OR rolcreatedb OR rolbypassrls OR rolreplication)`);
        assert.equal(supers, '', 'food_* roles with more than LOGIN');
        // Every schema: its owner is the service named like it, else the only service that migrates it.
        const ownerOf = {};
        for (const [name, s] of Object.entries(SERVICES))
                for (const schema of s.schemas) if (!ownerOf[schema] || schema === name) ownerOf[schema] = name;
        for (const [schema, name] of Object.entries(ownerOf)) {
                assert.equal(owners[schema], role(name), `schema ${schema}`);
                const objs = await sqlAs('postgres', db, `SELECT c.relname || ':' || c.relowner::regrole FROM pg_class c WHERE c.relnamespace = '${schema}'::regnamespace AND c.relkind IN ('r','v','m','S') AND c.relowner <> '${role(name)}'::regrole`);
                assert.equal(objs, '', `objects of schema ${schema} not owned by ${role(name)}`);
        }
        const tables = (await sqlAs('postgres', db, `SELECT schemaname || '.' || tablename FROM pg_tables WHERE schemaname IN (${Object.keys(ownerOf).map((x) => `'${x}'`).join(',')})`)).split('\n');
        for (const [name, s] of Object.entries(SERVICES)) {
                const mine = (t) => s.schemas.includes(t.split('.')[0]);
                for (const t of tables) {
                        if (mine(t)) {
                                await sqlAs(role(name), db, `SELECT count(*) FROM ${t}`);
                                continue;
                        }
                        const readable = name === 'gateway' && gatewayReads().includes(t);
                        if (readable) await sqlAs(role(name), db, `SELECT count(*) FROM ${t}`);
                        else await fails(role(name), db, `SELECT count(*) FROM ${t}`, `read ${t}`);
                        await fails(role(name), db, `DELETE FROM ${t}`, `delete from ${t}`);
                }
                for (const schema of Object.keys(ownerOf).filter((x) => !s.schemas.includes(x))) {
                        await fails(role(name), db, `CREATE TABLE ${schema}.intruder (x int)`, `create in ${schema}`);
                        await fails(role(name), db, `DROP SCHEMA ${schema} CASCADE`, `drop ${schema}`);
                }
        }
        // The gateway's grants: exactly the tables its code reads.
        const granted = await sqlAs('postgres', db, `SELECT table_schema || '.' || table_name FROM information_schema.role_table_grants WHERE grantee = 'food_gateway' AND privilege_type = 'SELECT' AND table_schema NOT IN (${SERVICES.gateway.schemas.map((x) => `'${x}'`).join(',')}) ORDER BY 1`);
        assert.deepEqual(granted.split('\n').filter(Boolean).sort(), gatewayReads(), 'the gateway\'s SELECT grants outside its schema');
        const wide = await sqlAs('postgres', db, "SELECT table_schema || '.' || table_name || ' ' || privilege_type FROM information_schema.role_table_grants WHERE grantee = 'food_gateway' AND privilege_type <> 'SELECT' AND table_schema <> 'catalog'");
        assert.equal(wide, '', 'the gateway may write outside its catalog');
}

test('the code\'s facts the script must match: who migrates which schema, what the gateway reads', () => {
        assert.deepEqual(Object.keys(SERVICES).sort(), ['coupon', 'delivery', 'gateway', 'notification', 'orchestrator', 'store']);
        assert.deepEqual(SERVICES.orchestrator.schemas, ['orchestrator', 'readmodel', 'notification']);
        assert.ok(gatewayReads().length >= 4, gatewayReads().join(' '));
        const sql = fs.readFileSync(SCRIPT, 'utf8');
        for (const t of gatewayReads()) {
                const [s, n] = t.split('.');
                assert.ok(sql.split(`('${s}', '${n}')`).length === 3, `${t}: not in both grant lists of the script`);
        }
        for (const s of Object.keys(SERVICES)) assert.match(sql, new RegExp(`\\\\getenv pw_${s} FOOD_PG_PW_${s.toUpperCase()}\\n`));
});

test('fresh database: each role migrates its own schemas and nothing else; the gateway reads only what it needs; the script is idempotent', async () => {
        await p.sql('CREATE DATABASE fresh', 'postgres');
        await applyScript('fresh');
        await migrateAll('fresh', role);
        await checkRoles('fresh');
        // A later migration of the notification schema by the notification worker alters what the orchestrator made,
        // and one by the orchestrator alters the worker's: both owners' rights on the shared schema.
        await migrate(role('notification'), 'fresh', 'notification', 'notification', migrationDir('notification'),
                [['900_test.sql', 'ALTER TABLE notification.notifications ADD COLUMN test_col int; CREATE TABLE notification.test_t (x serial)']]);
        await migrate(role('orchestrator'), 'fresh', 'notification', 'orchestrator,readmodel,notification', migrationDir('notification'),
                [['900_test.sql', ''], ['901_test.sql', 'ALTER TABLE notification.test_t ADD COLUMN y int']]);
        await applyScript('fresh');
        await checkRoles('fresh');
        // The roles' passwords are the ones given (scram hashes set), never a superuser's.
        const pw = await sqlAs('postgres', 'fresh', "SELECT count(*) FROM pg_authid WHERE rolname LIKE 'food\\_%' AND rolpassword LIKE 'SCRAM-SHA-256$%'");
        assert.equal(Number(pw), Object.keys(SERVICES).length);
        await fails(role('store'), 'fresh', 'CREATE ROLE sneaky', 'create a role');
});

test('a database one role migrated (the chart before per-service roles): the script hands every object to its schema\'s owner', async () => {
        await p.sql('CREATE DATABASE legacy OWNER food', 'postgres');
        await migrateAll('legacy', () => 'food');
        await applyScript('legacy');
        await migrateAll('legacy', role);
        await checkRoles('legacy');
});
