// Graceful shutdown (SPEC §5): SIGTERM stops taking new work, finishes or returns what is in flight and exits 0
// within a bound. A rolling restart of every replica of every process (two of each, as a Kubernetes rolling update
// would do it) under a steady load of orders loses nothing: no client error, every order COMPLETED, charged once,
// one notification per status. Then the gateway, with requests and SSE streams open, drains and exits 0.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import { catalog, expectCompleted, fullLifecycle } from '../flows.mjs';

const SERVICES = ['orchestrator', 'payment', 'store', 'delivery', 'notification', 'coupon', 'reader'];
const STOP_BOUND_MS = 10_000; // the harness's SIGKILL deadline; every process must exit 0 well before it
const LOOPS = 4;
const ORDERS_PER_CUSTOMER = 100; // within ORDER_RATE_BURST (200) whatever the pace

describe('graceful shutdown', () => {
        let p, stores;
        before(async () => {
                p = await startPlatform({ name: 'graceful-shutdown', replicas: Object.fromEntries(SERVICES.map((s) => [s, 2])) });
                stores = (await catalog(p)).filter((s) => s.menu.length >= 1);
        });
        after(async () => { await p?.stop(); });

        it('a rolling SIGTERM restart of every replica under load: exit 0 in bound, no client error, nothing lost', async () => {
                const done = [];
                const errors = [];
                let running = true;
                const loop = async (k) => {
                        const rider = await p.token(`rider_roll_${k}`, 'rider');
                        for (let n = 0; running; n++) {
                                // A new customer every ORDERS_PER_CUSTOMER orders: a loop places ~30 orders a second, over
                                // the gateway's per-customer limit (ORDER_RATE_PER_MIN 1200, burst 200) within seconds.
                                const customer = await p.token(`cust_roll_${k}_${Math.floor(n / ORDERS_PER_CUSTOMER)}`);
                                const store = stores[(k + n) % stores.length];
                                const owner = await p.token(`owner_${store.id}`, 'store', store.id);
                                try {
                                        const o = await fullLifecycle(p, { customer, owner, rider, store, lines: [[store.menu[0], 1 + (n % 3)]] });
                                        done.push({ order: o, customer });
                                } catch (e) {
                                        errors.push(e.message);
                                        await new Promise((resolve) => setTimeout(resolve, 100)); // no tight loop of failures
                                }
                        }
                };
                const loops = Array.from({ length: LOOPS }, (_, k) => loop(k));
                const exits = [];
                for (const service of SERVICES) {
                        for (const proc of p.find(service)) {
                                const t0 = Date.now();
                                const [exit] = await p.kill(proc.name); // SIGTERM
                                exits.push({ name: proc.name, ms: Date.now() - t0, ...exit });
                                await p.start(proc.name);
                                await new Promise((resolve) => setTimeout(resolve, 300));
                        }
                }
                running = false;
                await Promise.all(loops);
                for (const e of exits) {
                        assert.equal(e.killed, false, `${e.name} did not exit within ${STOP_BOUND_MS} ms of SIGTERM`);
                        assert.equal(e.code, 0, `${e.name} exit code after SIGTERM (signal ${e.signal})`);
                        assert.ok(e.ms < STOP_BOUND_MS, `${e.name} took ${e.ms} ms to stop`);
                }
                console.log(`# stop times (ms): ${exits.map((e) => `${e.name} ${e.ms}`).join(', ')}`);
                assert.deepEqual([...new Set(errors)], [], `client errors during the rolling restart (${errors.length}; distinct ones)`);
                assert.ok(done.length >= SERVICES.length, `only ${done.length} orders completed during the restart`);

                for (const { order } of done) assert.equal(order.status, 'COMPLETED');
                await expectCompleted(p, done, await p.token('admin_restart', 'admin'));
                console.log(`# ${done.length} orders completed across ${exits.length} SIGTERM restarts`);
        });

        it('the gateway drains: requests in flight are answered, SSE streams end, exit 0 in bound', async () => {
                const store = stores[0];
                const customer = await p.token('cust_drain');
                const owner = await p.token(`owner_${store.id}`, 'store', store.id);
                const rider = await p.token('rider_drain', 'rider');
                const o = await fullLifecycle(p, { customer, owner, rider, store, lines: [[store.menu[0], 1]] });
                // Open SSE streams: each must end when the gateway stops, not hold it until its drain deadline.
                const streams = await Promise.all(Array.from({ length: 5 }, async () => {
                        const ctrl = new AbortController();
                        const res = await fetch(`${p.url}/orders/${o.id}/events`, { headers: { authorization: `Bearer ${customer}` }, signal: ctrl.signal });
                        assert.equal(res.status, 200);
                        const ended = (async () => {
                                try {
                                        for await (const chunk of res.body) void chunk;
                                } catch { /* the connection closing also ends it */ }
                                return true;
                        })();
                        return { ctrl, ended };
                }));
                // Requests in flight while SIGTERM arrives are answered (200), not dropped.
                const inflight = Array.from({ length: 20 }, () => p.api('GET', '/stores')
                        .then((value) => ({ status: 'fulfilled', value }), (reason) => ({ status: 'rejected', reason })));
                const t0 = Date.now();
                const [exit] = await p.kill('gateway');
                const ms = Date.now() - t0;
                const answers = await Promise.all(inflight);
                for (const a of answers) {
                        if (a.status === 'fulfilled') assert.equal(a.value.status, 200, `an in-flight request: ${a.value.status}`);
                        // Sent after the listener closed: refused, never half-answered (EPIPE: the kernel had
                        // queued the connection, the closing listener dropped it before the request was written).
                        else assert.match(a.reason.message, /ECONNREFUSED|other side closed|ECONNRESET|EPIPE/);
                }
                assert.ok(answers.some((a) => a.status === 'fulfilled'), 'no in-flight request was answered');
                const ended = await Promise.race([Promise.all(streams.map((s) => s.ended)), new Promise((r) => setTimeout(() => r(false), 5000))]);
                assert.equal(ended !== false, true, 'SSE streams still open 5 s after the gateway stopped');
                assert.equal(exit.killed, false, 'the gateway did not exit within the bound');
                assert.equal(exit.code, 0, `gateway exit code after SIGTERM (signal ${exit.signal})`);
                console.log(`# gateway stopped in ${ms} ms with 5 SSE streams and 20 requests in flight`);
                await p.start('gateway');
                assert.equal((await p.api('GET', `/orders/${o.id}`, { token: customer })).json.status, 'COMPLETED');
        });
});
