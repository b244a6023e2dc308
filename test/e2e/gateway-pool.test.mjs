// Least privilege at the gateway (issue 12): it holds no PostgreSQL session at all; its reads are the reader's, whose
// sessions are bounded (READER_THREADS + 2) whatever the number of clients; a read the reader does not answer within
// GATEWAY_READ_TIMEOUT_MS gets 503 + Retry-After, a broken reader session is replaced, a reader killed is 503 until
// it is back; 1,000 reads of made-up recent order ids cost one query each and do not slow a real client;
// one customer gets at most SSE_MAX_PER_CUSTOMER live streams (429 beyond), places at most ORDER_RATE_* orders and a
// store issues at most COUPON_RATE_* coupons (429 + Retry-After beyond), while others are still served.
import { describe, before, after, it } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { BUILD_DIR, startPlatform } from '../harness.mjs';
import { catalog, expectProblem, expectStatus, orderBody, placeOrder, show, steps } from '../flows.mjs';

const POOL = 4;              // READER_THREADS, small on purpose: 300 clients and 128 HTTP threads share them
const FIXED_SESSIONS = 2;    // the reader's own besides its threads': catalog/migrations and the readiness ping (README)
const SSE_PER_CUSTOMER = 2;
const ORDER_BURST = 5;       // with ORDER_RATE_PER_MIN=60: a token back every second
const COUPON_BURST = 3;      // with COUPON_RATE_PER_MIN=60
const CLIENTS = 300;
const REQUESTS_PER_CLIENT = 8;
const MADE_UP = 1000;

// GET over node:http (real sockets; keep-alive when the agent keeps them): {status, headers, body, ms}.
function get(port, agent, p, token, timeoutMs = 30_000) {
        return new Promise((resolve, reject) => {
                const t0 = performance.now();
                const req = http.request({ host: '127.0.0.1', port, path: p, method: 'GET', agent,
                        headers: token ? { authorization: `Bearer ${token}` } : {} }, (res) => {
                        const chunks = [];
                        res.on('data', (c) => chunks.push(c));
                        res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString(), ms: performance.now() - t0 }));
                        res.on('error', reject);
                });
                req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${p}: no answer in ${timeoutMs} ms`)));
                req.on('error', reject);
                req.end();
        });
}

// An id of the order id format (lib/ids.c: ord_ + 12 hex digits of ms time + 12 random) made "now".
function madeUpOrderId() {
        return `ord_${Date.now().toString(16).padStart(12, '0')}${randomBytes(6).toString('hex')}`;
}

function percentile(xs, q) {
        const s = [...xs].sort((a, b) => a - b);
        return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

// A live event stream opened with fetch: {status, headers, text (when not 200), close()}.
async function openStream(p, orderId, token) {
        const ctrl = new AbortController();
        const res = await fetch(`${p.url}/orders/${orderId}/events`, { headers: { authorization: `Bearer ${token}`, accept: 'text/event-stream' }, signal: ctrl.signal });
        const s = { status: res.status, headers: res.headers, close: () => ctrl.abort() };
        if (res.status !== 200) {
                s.text = await res.text();
                return s;
        }
        // Read (and drop) what comes so that the socket stays drained; ends on close().
        s.done = (async () => {
                const reader = res.body.getReader();
                try { for (;;) if ((await reader.read()).done) break; } catch { /* aborted */ }
        })();
        return s;
}

describe('gateway least privilege: no PostgreSQL session, the reader\'s bounded sessions, made-up ids, per-customer and per-store limits', () => {
        let p, port, stores, store, other, owner, otherOwner;
        const real = []; // {id, token} of real orders
        const step = steps(it);

        // Sessions of a program in PostgreSQL (every libpq session is named after the program that opens it).
        const sessionsOf = async (name) => Number(await p.sql(`SELECT count(*) FROM pg_stat_activity WHERE application_name = '${name}'`));
        const metricIn = (text, name) => Number((text.match(new RegExp(`^${name.replace(/[{}"]/g, (c) => `\\${c}`)} (\\d+)$`, 'm')) || [])[1]);
        const metric = async (name) => metricIn((await p.api('GET', '/metrics')).text, name);
        const readerMetric = async (name) => metricIn(await (await fetch(`${p.find('reader')[0].healthUrl}/metrics`)).text(), name);
        const rmOrderCalls = async () => Number(await p.sql(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_statements WHERE query LIKE '%FROM readmodel.orders WHERE id = $1%'"));

        before(async () => {
                p = await startPlatform({
                        name: 'gateway-pool',
                        pgSettings: { shared_preload_libraries: 'pg_stat_statements' },
                        env: { reader: { READER_THREADS: String(POOL) }, gateway: {
                                SSE_MAX_PER_CUSTOMER: String(SSE_PER_CUSTOMER), SSE_HEARTBEAT_S: '1',
                                ORDER_RATE_PER_MIN: '60', ORDER_RATE_BURST: String(ORDER_BURST),
                                COUPON_RATE_PER_MIN: '60', COUPON_RATE_BURST: String(COUPON_BURST),
                                RATE_LIMIT_RPS: '0', // the per-client limit is hostile-http's; here one token sends a lot
                        } },
                });
                await p.sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
                port = Number(new URL(p.url).port);
                stores = await catalog(p);
                store = stores.find((s) => s.menu.length >= 2);
                other = stores.find((s) => s.id !== store.id);
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
                otherOwner = await p.token(`owner_${other.id}`, 'store', other.id);
                for (let c = 0; c < 3; c++) {
                        const token = await p.token(`cust_pool_${c}`, 'customer');
                        for (let k = 0; k < 2; k++) real.push({ id: (await placeOrder(p, token, store, [[store.menu[k], 1 + c]])).id, token });
                }
        });
        after(async () => { await p?.stop(); });

        step(`${CLIENTS} concurrent clients: the gateway holds no session, the reader never more than READER_THREADS=${POOL} (+${FIXED_SESSIONS} fixed), every request succeeds`, async () => {
                // The sampler watches pg_stat_activity the whole time, on a session of its own (a psql per sample is slow).
                const watch = await p.sqlSession();
                let peak = 0, gatewayPeak = 0, samples = 0, running = true;
                const sampler = (async () => {
                        while (running) {
                                peak = Math.max(peak, Number(await watch.run("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'reader'")));
                                gatewayPeak = Math.max(gatewayPeak, Number(await watch.run("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'gateway'")));
                                samples++;
                                await sleep(5);
                        }
                })();
                const plain = new http.Agent({ keepAlive: false });
                const kept = new http.Agent({ keepAlive: true, maxSockets: 64 }); // fewer than the 128 threads: keep-alive holds one
                const paths = (i, k) => {
                        const o = real[(i + k) % real.length];
                        switch ((i + k) % 4) {
                        case 0: return [`/orders/${o.id}`, o.token];
                        case 1: return ['/orders', o.token];
                        case 2: return ['/customers/me/notifications', o.token];
                        default: return [`/stores/${store.id}/orders`, owner];
                        }
                };
                const statuses = {};
                const t0 = Date.now();
                try {
                        await Promise.all(Array.from({ length: CLIENTS }, async (_, i) => {
                                for (let k = 0; k < REQUESTS_PER_CLIENT; k++) {
                                        const [path, token] = k === REQUESTS_PER_CLIENT - 1 ? [`/stores/${store.id}/menu`, undefined] : paths(i, k);
                                        const r = await get(port, i % 2 ? kept : plain, path, token);
                                        const key = `${r.status}${r.status !== 200 ? ` ${path} ${r.body.slice(0, 120)}` : ''}`;
                                        statuses[key] = (statuses[key] || 0) + 1;
                                }
                        }));
                } finally {
                        running = false;
                        await sampler;
                        await watch.close();
                        plain.destroy();
                        kept.destroy();
                }
                console.log(`# ${CLIENTS} clients x ${REQUESTS_PER_CLIENT} requests in ${Date.now() - t0} ms; reader sessions: peak ${peak} over ${samples} samples (${POOL} threads + ${FIXED_SESSIONS} fixed), gateway sessions: peak ${gatewayPeak}`);
                assert.deepEqual(statuses, { 200: CLIENTS * REQUESTS_PER_CLIENT }, 'statuses of every request');
                assert.ok(samples >= 5, `pg_stat_activity sampled during the load (${samples} samples)`);
                assert.equal(gatewayPeak, 0, 'the gateway opened a PostgreSQL session');
                assert.ok(peak <= POOL + FIXED_SESSIONS, `reader sessions in pg_stat_activity: at most ${POOL + FIXED_SESSIONS}, saw ${peak}`);
                assert.ok(peak > FIXED_SESSIONS, `the reader's threads were used: ${peak} sessions at the peak`);
                // The menu is the gateway's memory (its catalog); every other request here is one read.
                assert.ok(await metric('gateway_reads_total{outcome="answered"}') >= CLIENTS * (REQUESTS_PER_CLIENT - 1),
                        'gateway_reads_total{outcome="answered"} counts the reads');
                assert.ok(await readerMetric('reader_queries_total{outcome="answered"}') >= CLIENTS * (REQUESTS_PER_CLIENT - 1),
                        'reader_queries_total{outcome="answered"} counts them at the reader');
        });

        step('a broken reader session is replaced: after every reader session is terminated, reads still succeed within the bound', async () => {
                const killed = Number(await p.sql("SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'reader') t"));
                assert.ok(killed >= 1, `terminated ${killed} reader sessions`);
                const rs = await Promise.all(Array.from({ length: 40 }, (_, i) => p.api('GET', `/orders/${real[i % real.length].id}`, { token: real[i % real.length].token })));
                for (const r of rs) expectStatus(r, 200, 'GET /orders/{id} after its session was terminated');
                assert.ok(await sessionsOf('reader') <= POOL + FIXED_SESSIONS, 'still within READER_THREADS after reconnecting');
        });

        step('every reader session busy longer than GATEWAY_READ_TIMEOUT_MS: 503 problem+json with Retry-After, then served again', async () => {
                await p.restart('gateway', { env: { GATEWAY_READ_TIMEOUT_MS: 300 } });
                const lock = await p.sqlSession();
                const timeoutsBefore = await metric('gateway_reads_total{outcome="timeout"}');
                try {
                        // Reads of readmodel.orders block behind the lock (the reader's threads with them); the gateway
                        // waits 300 ms for each.
                        await lock.run('BEGIN; LOCK TABLE readmodel.orders IN ACCESS EXCLUSIVE MODE');
                        const pending = Array.from({ length: POOL * 3 }, (_, i) => p.api('GET', `/orders/${real[i % real.length].id}`, { token: real[i % real.length].token, timeoutMs: 20_000 }));
                        const t0 = Date.now();
                        const rs = await Promise.all(pending);
                        const ms = Date.now() - t0;
                        await lock.run('COMMIT');
                        console.log(`# ${rs.length} reads with the read model locked: ${rs.map((r) => r.status).join(' ')} in ${ms} ms`);
                        for (const r of rs) {
                                expectProblem(r, 503, 'a read the reader did not answer in time');
                                assert.ok(Number(r.headers.get('retry-after')) >= 1, `Retry-After on 503: ${r.headers.get('retry-after')}`);
                        }
                        assert.ok(ms < 10_000, `the 503s came after the timeout, not the lock (${ms} ms)`);
                } finally {
                        await lock.run('ROLLBACK').catch(() => {});
                        await lock.close();
                }
                expectStatus(await p.waitFor(async () => {
                        const r = await p.api('GET', `/orders/${real[0].id}`, { token: real[0].token });
                        return r.status === 200 && r;
                }, 20_000, 100), 200, 'served again once the lock is gone');
                assert.ok(await metric('gateway_reads_total{outcome="timeout"}') >= timeoutsBefore + POOL * 3,
                        'gateway_reads_total{outcome="timeout"} counts the 503s');
                await p.restart('gateway', { env: { GATEWAY_READ_TIMEOUT_MS: undefined } });
        });

        step('the reader killed: reads are 503 + Retry-After at once (no wait for the timeout), served again once it is back; writes go on', async () => {
                const [o] = real;
                await p.kill('reader', 'SIGKILL');
                // Once nats-server has dropped the dead connection (and its subscriptions with it): a moment after
                // the process is gone.
                await p.waitFor(async () => {
                        const { connections } = await (await fetch(`${p.natsMonitorUrl}/connz?limit=1024`)).json();
                        return !connections.some((c) => c.name === 'reader');
                }, 10_000, 50);
                const t0 = Date.now();
                const r = await p.api('GET', `/orders/${o.id}`, { token: o.token });
                expectProblem(r, 503, 'a read with no reader running');
                assert.ok(Number(r.headers.get('retry-after')) >= 1, `Retry-After: ${r.headers.get('retry-after')}`);
                assert.ok(Date.now() - t0 < 2000, `no reader answers at once (${Date.now() - t0} ms)`);
                // The catalog is the gateway's memory and orders are the orchestrator's: ordering goes on.
                const customer = await p.token('cust_pool_noreader', 'customer');
                await placeOrder(p, customer, store, [[store.menu[0], 1]]);
                await p.start('reader');
                expectStatus(await p.waitFor(async () => {
                        const again = await p.api('GET', `/orders/${o.id}`, { token: o.token });
                        return again.status === 200 && again;
                }, 30_000, 200), 200, 'read again once the reader is back');
        });

        step(`${MADE_UP} reads of made-up recent order ids: 404 each, one query each at most, a real client is not slowed`, async () => {
                const [{ token }] = real;
                const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
                const realClient = async (n) => {
                        const ms = [];
                        for (let i = 0; i < n; i++) {
                                const o = real[i % 2]; // the first customer's two orders
                                const r = await get(port, agent, `/orders/${o.id}`, o.token);
                                assert.equal(r.status, 200, `real GET /orders/${o.id}: ${r.status} ${r.body.slice(0, 200)}`);
                                ms.push(r.ms);
                        }
                        return ms;
                };
                await realClient(20); // warm
                const baseline = await realClient(100);
                const flood = new http.Agent({ keepAlive: true, maxSockets: 50 });
                const before = await rmOrderCalls();
                let realDuring = [], floodMs = [];
                const statuses = {};
                const t0 = Date.now();
                let flooding = true;
                const during = (async () => {
                        const all = [];
                        while (flooding) all.push(...await realClient(10));
                        return all;
                })();
                try {
                        const rs = await Promise.all(Array.from({ length: MADE_UP }, () => get(port, flood, `/orders/${madeUpOrderId()}`, token)));
                        for (const r of rs) statuses[r.status] = (statuses[r.status] || 0) + 1;
                        floodMs = rs.map((r) => r.ms);
                } finally {
                        flooding = false;
                        realDuring = await during;
                        flood.destroy();
                        agent.destroy();
                }
                const calls = (await rmOrderCalls()) - before;
                const b50 = percentile(baseline, 0.5), b99 = percentile(baseline, 0.99);
                const d50 = percentile(realDuring, 0.5), d99 = percentile(realDuring, 0.99);
                console.log(`# ${MADE_UP} made-up ids in ${Date.now() - t0} ms (p50 ${percentile(floodMs, 0.5).toFixed(1)} ms, max ${Math.max(...floodMs).toFixed(1)} ms); ` +
                        `order reads in PostgreSQL: ${calls} for ${MADE_UP} + ${realDuring.length} requests; real client p50/p99 ${b50.toFixed(1)}/${b99.toFixed(1)} ms alone, ` +
                        `${d50.toFixed(1)}/${d99.toFixed(1)} ms during (${realDuring.length} requests)`);
                assert.deepEqual(statuses, { 404: MADE_UP }, 'made-up ids are 404 at once');
                assert.ok(calls <= MADE_UP + realDuring.length, `at most one order query per request: ${calls} for ${MADE_UP + realDuring.length} requests`);
                // Nothing waits for a made-up id to appear: a read-your-writes wait (2 s) would hold each of them that
                // long, 1,000 over 50 sockets at least 40 s. (Each one's own time includes its wait for a free socket in
                // this client, so the whole flood is what is bounded.)
                const floodS = (Date.now() - t0) / 1000;
                assert.ok(floodS < 20, `1000 made-up ids took ${floodS.toFixed(1)} s over 50 sockets (< 20 s)`);
                assert.ok(realDuring.length >= 10, `the real client kept going during the flood (${realDuring.length} requests)`);
                // Generous: sharing 4 sessions with 50 flooding sockets costs some queueing, not seconds.
                assert.ok(d50 <= b50 * 20 + 250, `real client's median during the flood ${d50.toFixed(1)} ms vs ${b50.toFixed(1)} ms alone`);
                assert.ok(d99 <= 5000, `real client's p99 during the flood ${d99.toFixed(1)} ms (< 5000)`);
        });

        step(`SSE_MAX_PER_CUSTOMER=${SSE_PER_CUSTOMER}: one more stream of the same customer is 429, other customers still get theirs`, async () => {
                const a = real.filter((o) => o.token === real[0].token);
                const b = real.find((o) => o.token !== real[0].token);
                const open = [];
                try {
                        for (let i = 0; i < SSE_PER_CUSTOMER; i++) {
                                const s = await openStream(p, a[i % a.length].id, a[0].token);
                                open.push(s);
                                assert.equal(s.status, 200, `stream ${i + 1} of the customer: ${s.status} ${s.text || ''}`);
                        }
                        const over = await openStream(p, a[0].id, a[0].token);
                        assert.equal(over.status, 429, `stream ${SSE_PER_CUSTOMER + 1} of the customer: expected 429, got ${over.status} ${over.text || ''}`);
                        assert.match(over.headers.get('content-type') || '', /^application\/problem\+json/, '429 is problem+json');
                        assert.ok(JSON.parse(over.text).detail, `429 detail: ${over.text}`);
                        assert.ok(Number(over.headers.get('retry-after')) >= 1, `429 Retry-After: ${over.headers.get('retry-after')}`);
                        const others = await openStream(p, b.id, b.token);
                        open.push(others);
                        assert.equal(others.status, 200, `another customer's stream meanwhile: ${others.status} ${others.text || ''}`);
                        // The store still watches the same order: its own subject, its own share.
                        const watching = await openStream(p, a[0].id, owner);
                        open.push(watching);
                        assert.equal(watching.status, 200, `the store's stream of the customer's order: ${watching.status} ${watching.text || ''}`);
                        // One stream closed: the customer may open one again (once the gateway noticed the close).
                        open.shift().close();
                        const again = await p.waitFor(async () => {
                                const s = await openStream(p, a[0].id, a[0].token);
                                if (s.status === 200) return s;
                                assert.equal(s.status, 429, `while the closed stream is being noticed: ${s.status} ${s.text || ''}`);
                                return null;
                        }, 20_000, 250);
                        open.push(again);
                        assert.ok(await metric('gateway_sse_refused_per_customer_total') >= 1, 'gateway_sse_refused_per_customer_total');
                } finally {
                        for (const s of open) s.close();
                }
        });

        step(`ORDER_RATE_PER_MIN=60, ORDER_RATE_BURST=${ORDER_BURST}: a customer over the rate gets 429 + Retry-After, nothing is charged, others still order`, async () => {
                const tester = await p.token('cust_card_tester', 'customer');
                const honest = await p.token('cust_honest', 'customer');
                const lines = [[store.menu[0], 1]];
                for (let i = 0; i < ORDER_BURST; i++) await placeOrder(p, tester, store, lines);
                const over = await Promise.all(Array.from({ length: 5 }, () =>
                        p.api('POST', '/orders', { token: tester, body: orderBody(store, lines, 'tok_ok'), headers: { 'idempotency-key': randomBytes(8).toString('hex') } })));
                for (const r of over) {
                        expectProblem(r, 429, 'an order over the customer\'s rate');
                        const retry = Number(r.headers.get('retry-after'));
                        assert.ok(retry >= 1 && retry <= 60, `Retry-After of an order over the rate: ${r.headers.get('retry-after')}`);
                }
                const mine = await p.api('GET', '/orders', { token: tester });
                assert.equal(mine.json.length, ORDER_BURST, `only the orders within the rate exist: ${show(mine)}`);
                await placeOrder(p, honest, store, lines); // another customer is not affected
                assert.ok(await metric('gateway_order_rate_limited_total') >= 5, 'gateway_order_rate_limited_total counts the refusals');
                // At 60 a minute a token is back after Retry-After (1 s).
                await sleep(1100);
                await placeOrder(p, tester, store, lines);
        });

        step(`COUPON_RATE_PER_MIN=60, COUPON_RATE_BURST=${COUPON_BURST}: a store over the rate gets 429 + Retry-After; another store is not affected; others cannot spend its budget`, async () => {
                const coupon = (token, storeId) => p.api('POST', `/stores/${storeId}/coupons`, { token, body: { customer_id: 'cust_pool_0', discount: 500 } });
                // Someone else's attempts on the store (403) do not count against it.
                for (let i = 0; i < 5; i++) expectProblem(await coupon(otherOwner, store.id), 403, 'another store\'s owner');
                for (let i = 0; i < COUPON_BURST; i++) expectStatus(await coupon(owner, store.id), 201, `coupon ${i + 1} within the burst`);
                const over = await coupon(owner, store.id);
                expectProblem(over, 429, 'a coupon over the store\'s rate');
                assert.ok(Number(over.headers.get('retry-after')) >= 1, `Retry-After: ${over.headers.get('retry-after')}`);
                expectStatus(await coupon(otherOwner, other.id), 201, 'another store issues meanwhile');
                assert.ok(await metric('gateway_coupon_rate_limited_total') >= 1, 'gateway_coupon_rate_limited_total');
                await sleep(1100);
                expectStatus(await coupon(owner, store.id), 201, 'after Retry-After');
        });

        step('bad settings stop the gateway and the reader at start, naming the variable', async () => {
                const run = (bin, name, value) => promisify(execFile)(path.join(BUILD_DIR, bin), [], {
                        env: { PATH: process.env.PATH, JWT_SECRET: 'x'.repeat(32), NATS_URL: 'nats://127.0.0.1:1', DATABASE_URL: 'postgresql://127.0.0.1:1/x',
                                ASAN_OPTIONS: 'detect_leaks=0', [name]: value }, timeout: 10_000,
                }).then(() => ({ code: 0, out: '' }), (e) => ({ code: e.code, out: `${e.stdout}${e.stderr}` }));
                for (const [bin, code, name, value] of [
                        ['gateway/gateway', 1, 'GATEWAY_READ_TIMEOUT_MS', '0'], ['gateway/gateway', 1, 'GATEWAY_READ_TIMEOUT_MS', 'soon'],
                        ['gateway/gateway', 1, 'ORDER_RATE_PER_MIN', '-5'], ['gateway/gateway', 1, 'ORDER_RATE_BURST', '0'],
                        ['gateway/gateway', 1, 'COUPON_RATE_PER_MIN', 'x'], ['gateway/gateway', 1, 'COUPON_RATE_BURST', '0'],
                        ['gateway/gateway', 1, 'SSE_MAX_PER_CUSTOMER', '0'],
                        ['services/reader/reader', 2, 'READER_THREADS', '0'], ['services/reader/reader', 2, 'READER_THREADS', 'eight'],
                        ['services/reader/reader', 2, 'READER_THREADS', '100000'], ['services/reader/reader', 2, 'DEMO_CATALOG', 'maybe']]) {
                        const res = await run(bin, name, value);
                        assert.equal(res.code, code, `${bin} ${name}=${value}: expected exit code ${code}, got ${res.code}`);
                        assert.match(res.out, new RegExp(name), `${bin} ${name}=${value}: the error names the variable: ${res.out.slice(0, 300)}`);
                }
        });
});
