// Migrations as an operators' step (issue 13): with MIGRATIONS=check the processes run no DDL and wait, alive
// and unready, until food-migrate (as the database owner) has brought their schemas current; then an order
// completes. DEMO_CATALOG=false leaves the catalog empty (reader or food-migrate), true seeds it once. A
// process started while PostgreSQL is down stays up and unready until it is back; a bad MIGRATIONS fails fast.
// SCHED_POLICY sets the scheduling policy of every thread of a process (batch by default); a bad value fails fast.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { BUILD_DIR, startPlatform } from '../harness.mjs';
import { catalog, fullLifecycle } from '../flows.mjs';

const execFileP = promisify(execFile);
const MIGRATE_BIN = path.join(BUILD_DIR, 'tools/food-migrate');
const SCHEMAS = ['orchestrator', 'readmodel', 'notification', 'store', 'delivery', 'coupon', 'catalog'];
const APPS = ['sandbox-psp', 'orchestrator', 'payment', 'store', 'delivery', 'notification', 'coupon', 'reader', 'gateway'];
const USES_PG = ['orchestrator', 'store', 'delivery', 'notification', 'coupon', 'reader'];

// Runs food-migrate; resolves to {code, log} whatever its exit code.
async function migrate(databaseUrl, env = {}) {
        try {
                const { stdout, stderr } = await execFileP(MIGRATE_BIN, [], {
                        env: { PATH: process.env.PATH, DATABASE_URL: databaseUrl, ...env }, timeout: 60_000,
                });
                return { code: 0, log: stdout + stderr };
        } catch (e) {
                if (typeof e.code !== 'number') throw e;
                return { code: e.code, log: (e.stdout ?? '') + (e.stderr ?? '') };
        }
}

// GET /readyz of a process: {status, json} (status 0 when nothing answers).
async function readyz(proc) {
        const url = proc.name === 'gateway' ? `${proc.platform.url}/readyz` : `${proc.healthUrl}/readyz`;
        try {
                const r = await fetch(url, { signal: AbortSignal.timeout(2000) });
                const text = await r.text();
                let json = null;
                try { json = JSON.parse(text); } catch { /* not JSON */ }
                return { status: r.status, json };
        } catch {
                return { status: 0, json: null };
        }
}

// Adds `names` (harness names) to a running platform and starts them without waiting for readiness.
async function spawnApps(p, names) {
        const before = p.procs.length;
        await p.addServices(new Set(names));
        const added = p.procs.slice(before);
        for (const proc of added) proc.spawn();
        return added;
}

// The scheduling policies of a running process's threads, sorted and without repeats ('batch', 'other', or
// the policy's number): field 41 of /proc/<pid>/task/<tid>/stat, counted after the ')' that ends the name.
function threadPolicies(proc) {
        const names = { 0: 'other', 3: 'batch' };
        const dir = `/proc/${proc.child.pid}/task`;
        const seen = new Set();
        for (const tid of fs.readdirSync(dir)) {
                let stat;
                try { stat = fs.readFileSync(`${dir}/${tid}/stat`, 'utf8'); } catch { continue; } // the thread ended
                const policy = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[41 - 3];
                seen.add(names[policy] ?? policy);
        }
        return [...seen].sort();
}

async function schemasPresent(p) {
        return p.sql(`SELECT coalesce(string_agg(nspname, ',' ORDER BY nspname), '') FROM pg_namespace WHERE nspname IN (${SCHEMAS.map((s) => `'${s}'`).join(',')})`);
}

describe('MIGRATIONS=check: services wait for food-migrate, run no DDL, then serve', () => {
        let p, apps;
        before(async () => {
                p = await startPlatform({ name: 'migrate-check', only: ['nats', 'pg'] });
                // The services' role may not create anything: not the database owner (food, who runs food-migrate).
                await p.sql('CREATE ROLE food_app LOGIN');
                p.opts.env = { all: { MIGRATIONS: 'check', DATABASE_URL: p.databaseUrl.replace('//food@', '//food_app@') } };
                apps = await spawnApps(p, APPS);
        });
        after(async () => { await p?.stop(); });

        it('on a fresh database every process stays up, answers /readyz 503 with the reason, and creates nothing', async () => {
                const pg = apps.filter((a) => USES_PG.includes(a.service ?? a.name));
                await p.waitFor(async () => {
                        const answers = await Promise.all(pg.map(readyz));
                        return answers.every((a) => a.status === 503 && /schema \w+ is not created yet/.test(a.json?.reason ?? ''));
                }, 30_000);
                await new Promise((r) => setTimeout(r, 2000)); // a few more rounds of checks
                for (const a of apps) assert.ok(a.alive(), `${a.name} exited while waiting for its schemas`);
                for (const a of pg) {
                        const r = await readyz(a);
                        assert.equal(r.status, 503, `${a.name} /readyz before food-migrate`);
                        assert.match(r.json?.reason ?? '', /food-migrate/, `${a.name} /readyz reason: ${JSON.stringify(r.json)}`);
                        const h = await fetch(a.name === 'gateway' ? `${p.url}/healthz` : `${a.healthUrl}/healthz`);
                        assert.equal(h.status, 200, `${a.name} /healthz while waiting (alive)`);
                }
                assert.equal(await schemasPresent(p), '', 'a process with MIGRATIONS=check created a schema');
                // The gateway holds no PostgreSQL session: it waits for its catalog from the reader, saying so.
                const gw = await readyz(p.find('gateway')[0]);
                assert.equal(gw.status, 503, 'the gateway /readyz before food-migrate');
                assert.match(gw.json?.reason ?? '', /catalog from the reader/, `the gateway /readyz reason: ${JSON.stringify(gw.json)}`);
                // The API on the gateway's port is not served yet: a client is told to retry (503), not that its
                // request was wrong (a 404 made the crash suite count placed orders as refused).
                const api = await p.api('POST', '/orders', { body: {} });
                assert.equal(api.status, 503, `POST /orders while the gateway starts: ${api.status} ${api.text}`);
                assert.equal(api.headers.get('content-type'), 'application/problem+json');
                assert.equal(api.headers.get('retry-after'), '1');
        });

        it('food-migrate as the owner brings every schema current; the processes become ready by themselves and an order completes', async () => {
                const m = await migrate(p.databaseUrl);
                assert.equal(m.code, 0, `food-migrate failed:\n${m.log}`);
                for (const s of SCHEMAS) assert.match(m.log, new RegExp(`schema ${s} is current`), `food-migrate log names ${s}`);
                assert.match(m.log, /applied migration orchestrator\/001_init\.sql/, 'food-migrate logs each migration it applies');
                assert.equal(await schemasPresent(p), SCHEMAS.slice().sort().join(','));
                // Run again: nothing to do, still success (interchangeable with in-process migration).
                const again = await migrate(p.databaseUrl);
                assert.equal(again.code, 0, `second food-migrate:\n${again.log}`);
                assert.doesNotMatch(again.log, /applied migration/, 'second run applied something');
                // The grants a chart gives the services' role (DML only).
                await p.sql(`DO $$ DECLARE s text; BEGIN FOREACH s IN ARRAY ARRAY[${SCHEMAS.map((s) => `'${s}'`).join(',')}] LOOP
                        EXECUTE format('GRANT USAGE ON SCHEMA %I TO food_app', s);
                        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO food_app', s);
                        EXECUTE format('GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA %I TO food_app', s);
                        END LOOP; END $$`);
                await Promise.all(apps.map((a) => a.waitReady(30_000)));
                const stores = await catalog(p);
                assert.equal(stores.length, 6, 'DEMO_CATALOG defaults to true: the six demo stores');
                const store = stores.find((s) => s.menu.length >= 2);
                const done = await fullLifecycle(p, {
                        customer: await p.token('cust_migrate', 'customer'),
                        owner: await p.token(`owner_${store.id}`, 'store', store.id),
                        rider: await p.token('rider_migrate', 'rider'),
                        store, lines: [[store.menu[0], 1], [store.menu[1], 2]],
                });
                assert.equal(done.status, 'COMPLETED');
        });
});

describe('DEMO_CATALOG, SCHED_POLICY, PostgreSQL down at start, bad MIGRATIONS or SCHED_POLICY', () => {
        let p;
        before(async () => {
                p = await startPlatform({ name: 'migrate-demo', only: ['nats', 'pg', 'reader', 'gateway'], env: { reader: { DEMO_CATALOG: 'false' } } });
        });
        after(async () => { await p?.stop(); });

        it('DEMO_CATALOG=false: the reader (MIGRATIONS=apply) and food-migrate leave the catalog empty; true seeds it once', async () => {
                const r = await p.api('GET', '/stores');
                assert.equal(r.status, 200);
                assert.deepEqual(r.json, [], 'GET /stores with DEMO_CATALOG=false');
                assert.equal(await p.sql("SELECT max(version) FROM catalog.schema_migrations"), '3', 'the catalog schema is at the same version');
                const off = await migrate(p.databaseUrl, { DEMO_CATALOG: 'false' });
                assert.equal(off.code, 0, off.log);
                assert.equal(await p.sql('SELECT count(*) FROM catalog.stores'), '0', 'food-migrate DEMO_CATALOG=false seeded stores');
                for (let i = 0; i < 2; i++) {
                        const on = await migrate(p.databaseUrl, { DEMO_CATALOG: 'true' });
                        assert.equal(on.code, 0, on.log);
                        assert.equal(await p.sql('SELECT count(*) FROM catalog.stores'), '6', `demo stores after seeding ${i + 1} time(s)`);
                }
                assert.equal(await p.sql("SELECT count(*) FROM catalog.stores WHERE thank_you = ''"), '0', 'seeded stores have a thank-you message');
                // A catalog of its own is never mixed with the demo: delete one store, seed again, still gone.
                await p.sql("DELETE FROM catalog.menu_items WHERE store_id = 'st_mapo_galbi'; DELETE FROM catalog.stores WHERE id = 'st_mapo_galbi'");
                assert.equal((await migrate(p.databaseUrl)).code, 0);
                assert.equal(await p.sql('SELECT count(*) FROM catalog.stores'), '5', 'the seed brought back a deleted store');
        });

        it('SCHED_POLICY: every thread of a process runs under SCHED_BATCH by default, SCHED_OTHER with other', async () => {
                assert.deepEqual(threadPolicies(p.find('gateway')[0]), ['batch'], 'the gateway\'s threads, SCHED_POLICY unset');
                await p.restart('gateway', { env: { SCHED_POLICY: 'other' } });
                assert.deepEqual(threadPolicies(p.find('gateway')[0]), ['other'], 'the gateway\'s threads, SCHED_POLICY=other');
                await p.restart('gateway', { env: { SCHED_POLICY: 'batch' } });
                assert.deepEqual(threadPolicies(p.find('gateway')[0]), ['batch'], 'the gateway\'s threads, SCHED_POLICY=batch');
        });

        it('a process started while PostgreSQL is down stays up, unready with the reason, and becomes ready when it is back', async () => {
                await p.kill('reader');
                await p.kill('postgres');
                const [store] = await spawnApps(p, ['store']);
                const reader = p.find('reader')[0];
                reader.spawn();
                await p.waitFor(async () => {
                        const [s, g] = await Promise.all([readyz(store), readyz(reader)]);
                        return s.status === 503 && g.status === 503 && /PostgreSQL/.test(s.json?.reason ?? '') && /PostgreSQL/.test(g.json?.reason ?? '');
                }, 20_000);
                await new Promise((r) => setTimeout(r, 3000));
                assert.ok(store.alive() && reader.alive(), 'a process exited while PostgreSQL was down');
                assert.equal((await readyz(store)).status, 503);
                await p.start('postgres');
                await Promise.all([store.waitReady(30_000), reader.waitReady(30_000)]);
        });

        it('a bad MIGRATIONS, SCHED_POLICY or COMMAND_LINGER_MS value fails fast, naming it', async () => {
                const both = ['services/store/store-worker', 'orchestrator/orchestrator'];
                const bad = [
                        [both, 'MIGRATIONS', 'sometimes', /MIGRATIONS=\\?"sometimes\\?" is not one of apply, check/],
                        [both, 'SCHED_POLICY', 'fifo', /SCHED_POLICY=\\?"fifo\\?" is not one of batch, other/],
                        /* a command held past half its re-send wait could go twice */
                        [['orchestrator/orchestrator'], 'COMMAND_LINGER_MS', '6000', /COMMAND_LINGER_MS=\\?"6000\\?" is not an integer in \[0, 5000\]/],
                ];
                for (const [bins, name, value, said] of bad) {
                        for (const bin of bins) {
                                let failed = null;
                                try {
                                        await execFileP(path.join(BUILD_DIR, bin), [], {
                                                env: { PATH: process.env.PATH, [name]: value, NATS_URL: p.natsUrl, DATABASE_URL: p.databaseUrl, HEALTH_PORT: '0' },
                                                timeout: 10_000,
                                        });
                                } catch (e) {
                                        failed = e;
                                }
                                assert.ok(failed && typeof failed.code === 'number' && failed.code !== 0, `${bin} accepted ${name}=${value}`);
                                assert.match(failed.stderr, said, `${bin} log`);
                        }
                }
        });
});
