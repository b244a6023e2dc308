// The helm suite's runtime checks on real processes (nats-server, PostgreSQL and started binaries from
// $BUILD_DIR, through test/harness.mjs): NATS service discovery as `nats micro ls|info|stats` sees it, through
// the npm `nats` client's services API; every process's /metrics through `promtool check metrics`; and the
// chart's `helm test` scripts (files/mint-test-tokens.mjs, then files/test-order.mjs with only the tokens) against
// the local gateway. Every process that uses PostgreSQL connects as its own role, made by the chart's roles script
// (files/postgresql-roles.sql), with MIGRATIONS=check after food-migrate migrated as food_migrator, as in the chart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { connect } from 'nats';
import fs from 'node:fs';
import os from 'node:os';
import { startPlatform, BUILD_DIR } from '../harness.mjs';

import { CHART, topology } from './tools.mjs';

// The endpoints each process must announce (lib/discovery.c), from the topology's one home (lib/topology.{h,c}):
// each worker its durable consumer (name and queue group = the durable, subject = its filter, on its stream); the
// orchestrator the RPCs it serves, core request/reply: the order RPCs of its shards (food.rpc.orders.<shard>.<verb>,
// announced as one pattern) and the stuck-saga query. The gateway serves nothing on NATS; the reader serves the
// gateway's reads (TOPO_READ_SUBJECTS) but announces no endpoint (lib/discovery.c knows none of it).
const TOPO = topology();
const READER = TOPO.readQueue;
const ENDPOINTS = {
        orchestrator: [{ subject: `${TOPO.prefix}.rpc.orders.*.*` }, { subject: TOPO.rpcStuck }],
        // A worker's durable, and its direct lane (core NATS, queue group its name) when the topology gives it one.
        ...Object.fromEntries(TOPO.consumers.map((c) => [c.durable, [{ subject: c.filter, name: c.durable, queue_group: c.durable, stream: c.stream },
                ...(c.direct ? [{ subject: `${TOPO.prefix}.direct.${c.durable}`, name: 'direct', queue_group: c.durable }] : [])]])),
        [READER]: [],
        gateway: [],
};
let ANNOUNCED; // name -> endpoints of the processes the harness started
const DISCOVERY_TIMEOUT = 2000; // ms each ping/info/stats collects answers for

let p;
let nc;

before(async () => {
        // The chart's PostgreSQL roles, applied as the bundled server does; the chart's migration Job (food-migrate as
        // food_migrator, with the demo catalog); then each process with its own DSN and MIGRATIONS=check, as the chart
        // runs them: no DDL rights.
        const env = { all: { MIGRATIONS: 'check' } };
        const passwords = {};
        const stateful = ['orchestrator', 'notification', 'store', 'delivery', 'coupon', READER];
        for (const s of [...stateful, 'migrator']) passwords[`FOOD_PG_PW_${s.toUpperCase()}`] = `pw-${s}`;
        p = await startPlatform({
                name: 'helm-runtime',
                env,
                beforeServices: async (plat) => {
                        const psql = ['/usr/bin/psql', '/usr/lib/postgresql/15/bin/psql'].find((x) => fs.existsSync(x)) || 'psql';
                        await promisify(execFile)(psql, ['-X', '-q', '-h', '127.0.0.1', '-p', String(plat.pgPort), '-U', 'postgres', '-d', 'food',
                                '-v', 'ON_ERROR_STOP=1', '-f', path.join(CHART, 'files/postgresql-roles.sql')], { env: { ...process.env, ...passwords }, timeout: 60_000 });
                        await promisify(execFile)(path.join(BUILD_DIR, 'tools/food-migrate'), [], {
                                timeout: 120_000,
                                env: { ...process.env, DATABASE_URL: `postgresql://food_migrator@127.0.0.1:${plat.pgPort}/food`, PGPASSWORD: passwords.FOOD_PG_PW_MIGRATOR,
                                        DEMO_CATALOG: 'true' },
                        });
                        for (const s of stateful)
                                env[s] = { DATABASE_URL: `postgresql://food_${s}@127.0.0.1:${plat.pgPort}/food`, PGPASSWORD: passwords[`FOOD_PG_PW_${s.toUpperCase()}`] };
                },
        });
        const names = [...new Set(p.procs.map((x) => x.service || x.name))].filter((n) => ENDPOINTS[n]);
        ANNOUNCED = Object.fromEntries(names.map((n) => [n, ENDPOINTS[n]]));
        nc = await connect({ servers: p.natsUrl, timeout: 5000 });
});

after(async () => {
        await nc?.close();
        await p?.stop();
});

async function collect(iterable) {
        const out = [];
        for await (const x of await iterable) out.push(x);
        return out;
}

test('every started process answers $SRV.PING with its name, a unique id and a semver version', async () => {
        const client = nc.services.client({ maxWait: DISCOVERY_TIMEOUT });
        const pings = await collect(client.ping());
        const names = pings.map((x) => x.name).sort();
        assert.deepEqual(names, Object.keys(ANNOUNCED).sort(), `ping answers: ${JSON.stringify(pings)}`);
        for (const x of pings) {
                assert.equal(x.type, 'io.nats.micro.v1.ping_response');
                assert.match(x.id, /^[0-9A-Za-z]{22}$/);
                assert.match(x.version, /^\d+\.\d+\.\d+$/);
                assert.equal(typeof x.metadata, 'object');
        }
        assert.equal(new Set(pings.map((x) => x.id)).size, pings.length, 'ids are unique');
        const one = await collect(client.ping('store'));
        assert.equal(one.length, 1, `ping store: ${JSON.stringify(one)}`);
        const byId = await collect(client.ping('store', one[0].id));
        assert.deepEqual(byId.map((x) => x.id), [one[0].id]);
        // Nobody subscribes to an unknown id: the server answers "no responders" (503), or nothing comes.
        const none = await collect(client.ping('store', 'NOSUCHID')).catch((e) => (e.code === '503' ? [] : Promise.reject(e)));
        assert.equal(none.length, 0);
});

test('$SRV.INFO lists each process\'s durable consumer or RPC subjects as endpoints', async () => {
        const client = nc.services.client({ maxWait: DISCOVERY_TIMEOUT });
        const wrong = []; // every process's mismatches, reported together
        // One form for an expected endpoint ({subject, name?, queue_group?, stream?}) and an announced one (metadata
        // {kind, stream}).
        const shape = (e) => ({ subject: e.subject, ...(e.name && { name: e.name }), ...(e.queue_group && { queue_group: e.queue_group }),
                kind: (e.metadata ? e.metadata.kind === 'jetstream-durable' : Boolean(e.stream)) ? 'jetstream-durable' : 'request-reply',
                stream: (e.metadata ? e.metadata.stream : e.stream) ?? '' });
        for (const [name, want] of Object.entries(ANNOUNCED)) {
                const infos = await collect(client.info(name));
                assert.equal(infos.length, 1, `info ${name}: ${JSON.stringify(infos)}`);
                const info = infos[0];
                assert.equal(info.type, 'io.nats.micro.v1.info_response');
                assert.equal(info.name, name);
                assert.equal(typeof info.description, 'string');
                assert.ok(Array.isArray(info.endpoints), `endpoints of ${name}: ${JSON.stringify(info)}`);
                for (const e of info.endpoints) {
                        assert.equal(typeof e.name, 'string');
                        assert.equal(typeof e.queue_group, 'string');
                }
                // Compared on what the topology fixes: subject, kind and stream; name and queue group for durables.
                const expected = want.map(shape).sort((a, b) => a.subject.localeCompare(b.subject));
                const got = info.endpoints.map((e) => {
                        const w = want.find((x) => x.subject === e.subject);
                        const g = shape(e);
                        if (!w?.name) delete g.name;
                        if (!w?.queue_group) delete g.queue_group;
                        return g;
                }).sort((a, b) => a.subject.localeCompare(b.subject));
                if (JSON.stringify(got) !== JSON.stringify(expected))
                        wrong.push(`${name}: announces ${JSON.stringify(got)}\n  the topology says ${JSON.stringify(expected)}`);
        }
        assert.deepEqual(wrong, [], `endpoints announced (lib/discovery.c) vs lib/topology.c:\n${wrong.join('\n')}`);
});

test('$SRV.STATS answers with a start time and per-endpoint counters', async () => {
        const client = nc.services.client({ maxWait: DISCOVERY_TIMEOUT });
        const stats = await collect(client.stats('notification'));
        assert.equal(stats.length, 1, JSON.stringify(stats));
        const s = stats[0];
        assert.equal(s.type, 'io.nats.micro.v1.stats_response');
        assert.ok(Number.isFinite(Date.parse(s.started)), `started: ${s.started}`);
        assert.ok(Math.abs(Date.now() - Date.parse(s.started)) < 10 * 60_000, `started ${s.started} is not recent`);
        assert.deepEqual(s.endpoints.map((e) => e.subject).sort(), ENDPOINTS.notification.map((e) => e.subject).sort(), JSON.stringify(s.endpoints));
        for (const e of s.endpoints) {
                for (const k of ['num_requests', 'num_errors', 'processing_time', 'average_processing_time'])
                        assert.equal(typeof e[k], 'number', `${k} of ${JSON.stringify(e)}`);
        }
        const all = await collect(client.stats());
        assert.equal(all.length, Object.keys(ANNOUNCED).length);
});

async function checkMetrics(name, url) {
        const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
        assert.equal(res.status, 200, `${url}`);
        const text = await res.text();
        assert.match(text, /^# (HELP|TYPE) /m, `${name} /metrics looks empty: ${text.slice(0, 200)}`);
        const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8', timeout: 30_000 });
        assert.equal(r.error, undefined, `promtool: ${r.error}`);
        assert.equal(r.status, 0, `promtool check metrics on ${name} (exit ${r.status}): ${r.stdout}${r.stderr}`);
}

// Every process with a health port: the orchestrator, the reader and each worker of the topology.
const WITH_HEALTH_PORT = ['orchestrator', READER, ...TOPO.consumers.map((c) => c.durable)];
for (const name of WITH_HEALTH_PORT) {
        test(`${name} /metrics passes promtool check metrics`, async () => {
                const [proc] = p.find(name);
                await checkMetrics(name, `${proc.healthUrl}/metrics`);
        });
}

test('every started process with a health port had its /metrics checked', () => {
        for (const proc of p.procs.filter((x) => x.healthUrl)) assert.ok(WITH_HEALTH_PORT.includes(proc.service), `${proc.name}: /metrics not checked`);
});

test('gateway /metrics passes promtool check metrics', async () => {
        await checkMetrics('gateway', `${p.url}/metrics`);
});

test('every process runs as its own PostgreSQL role, none a superuser; the gateway holds no session', async () => {
        const rows = (await p.sql("SELECT DISTINCT usename || ' ' || r.rolsuper FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename WHERE a.datname = 'food' AND a.pid <> pg_backend_pid()")).split('\n').sort();
        assert.deepEqual(rows, ['food_coupon false', 'food_delivery false', 'food_notification false', 'food_orchestrator false', `food_${READER} false`, 'food_store false'].sort());
});

test('the chart\'s helm test scripts: tokens minted apart, then an order placed and followed to COMPLETED (local gateway, sandbox PSP)', async () => {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'helm-tokens-'));
        const tokens = path.join(dir, 'tokens.json');
        const files = path.join(CHART, 'files');
        await promisify(execFile)(process.execPath, [path.join(files, 'mint-test-tokens.mjs')], {
                env: { PATH: process.env.PATH, GATEWAY: p.url, JWT_SECRET: p.jwtSecret, TOKENS_FILE: tokens, TOKEN_TTL_S: '180' }, timeout: 90_000,
        }).catch((e) => assert.fail(`mint-test-tokens.mjs failed: ${e.stdout}${e.stderr}`));
        assert.ok(!fs.readFileSync(tokens, 'utf8').includes(p.jwtSecret), 'the tokens file holds the key');
        const { stdout } = await promisify(execFile)(process.execPath, [path.join(files, 'test-order.mjs')], {
                env: { PATH: process.env.PATH, GATEWAY: p.url, TOKENS_FILE: tokens, CARD_TOKEN: 'tok_ok' }, // no JWT_SECRET
                timeout: 150_000,
        }).catch((e) => assert.fail(`test-order.mjs failed: ${e.stdout}${e.stderr}`));
        fs.rmSync(dir, { recursive: true, force: true });
        assert.match(stdout, /COMPLETED/);
        assert.match(stdout, /test-order: passed/);
});
