// The payment decision over core NATS (lib/topology.c: the payment worker takes "direct" commands): the first try
// of a charge that POST /orders waits on goes to food.direct.payment once its intent is committed, not through
// the FOOD_CMD stream, while JetStream confirmed the orchestrator's publishes within the last 300 ms (so an order
// placed right after another); nobody listening there, nats-server says so ("no responders") and the orchestrator
// sends the try through JetStream at once, where it waits for the worker. With COMMAND_RESEND_MS at its default
// (10 s), an order placed while the worker is down is paid within the request's deadline only through that fallback.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import { catalog, expectStatus, ledgerOf, orderBody, placeOrder, pspLedger, serviceMetric, steps } from '../flows.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('the payment decision over core NATS', () => {
        let p, store, customer;
        const step = steps(it);

        before(async () => {
                p = await startPlatform({ name: 'direct-payment' });
                store = (await catalog(p)).find((s) => s.menu.length >= 1);
                customer = await p.token('cust_direct', 'customer');
        });
        after(async () => { await p?.stop(); });

        // Messages the payment worker's durable consumer was handed so far.
        async function paymentDeliveries() {
                const r = await fetch(`${p.natsMonitorUrl}/jsz?consumers=true`, { signal: AbortSignal.timeout(2000) });
                const jsz = await r.json();
                const c = (jsz.account_details || []).flatMap((a) => a.stream_detail || []).find((s) => s.name === 'FOOD_CMD')
                        ?.consumer_detail?.find((x) => x.name === 'payment');
                assert.ok(c, `FOOD_CMD/payment in ${JSON.stringify(jsz).slice(0, 300)}`);
                return c.delivered.consumer_seq;
        }

        step('orders placed with the worker up are charged once each, and FOOD_CMD carries none of their charges', async () => {
                // A first order on the idle platform: its status events are what JetStream confirms.
                await placeOrder(p, customer, store, [[store.menu[0], 1]]);
                const before = await paymentDeliveries();
                const ledger0 = await pspLedger(p);
                const orders = [];
                for (let i = 1; i <= 3; i++) orders.push(await placeOrder(p, customer, store, [[store.menu[0], i]]));
                const ledger = await pspLedger(p);
                for (const o of orders) {
                        const mine = ledgerOf(ledger, o.id);
                        assert.equal(mine.approved.length, 1, `one approved charge for ${o.id}`);
                        assert.equal(mine.charged, o.total);
                        assert.equal(ledgerOf(ledger0, o.id).approved.length, 0);
                }
                assert.equal(await paymentDeliveries(), before, 'no payment command went through JetStream');
        });

        step('charges sent together do not queue behind each other: each goes to a free loop of the worker', async () => {
                // With the provider at 600 ms, eight orders placed at once are paid in about one provider call if the
                // worker's eight direct loops take one charge each. With a subscription per loop, NATS spread them
                // at random and two of eight almost always met in one loop's queue (all apart: 8!/8^8, 0.2 %), the
                // second waiting out the first's call: 1.2 s and more.
                await placeOrder(p, customer, store, [[store.menu[0], 1]]); // the next ones go direct
                const before = await paymentDeliveries();
                const [orch] = p.find('orchestrator');
                const writerTime = async (phase) => serviceMetric(orch, 'food_saga_writer_time_total', `phase="${phase}"`);
                const [awaited0, written0] = [await writerTime('await'), await writerTime('write')];
                expectStatus(await p.psp('/config', { method: 'PUT', body: { latency_ms: 600, failure_rate: 0 } }), [200, 204],
                        'PSP PUT /config');
                try {
                        const started = Date.now();
                        const placed = await Promise.all(Array.from({ length: 8 }, async () => {
                                const r = await p.api('POST', '/orders', { token: customer,
                                        body: orderBody(store, [[store.menu[0], 1]]) });
                                return { r, ms: Date.now() - started };
                        }));
                        const ledger = await pspLedger(p);
                        for (const { r, ms } of placed) {
                                expectStatus(r, 201, 'POST /orders');
                                assert.equal(ledgerOf(ledger, r.json.id).approved.length, 1, `one approved charge for ${r.json.id}`);
                                assert.ok(ms < 1100, `an order took ${ms} ms with the provider at 600 ms: its charge waited for another's`);
                        }
                        assert.equal(await paymentDeliveries(), before, 'no payment command went through JetStream');
                        // The writer's time per phase: a batch that sent these charges was followed by a wait for their
                        // answers (until 1.5 ms after the send, the provider taking 600 ms), and by writes.
                        const awaited = await writerTime('await') - awaited0;
                        assert.ok(awaited > 0, `food_saga_writer_time_total{phase="await"} grew by ${awaited} us`);
                        assert.ok(await writerTime('write') > written0, 'food_saga_writer_time_total{phase="write"} grew');
                } finally {
                        await p.psp('/config', { method: 'PUT', body: { latency_ms: 0, failure_rate: 0 } });
                }
        });

        step('payment worker down: the try nobody heard goes through JetStream, and the order is paid once it is back', async () => {
                const [orch] = p.find('orchestrator');
                const unheard = await serviceMetric(orch, 'food_direct_unheard_total');
                await placeOrder(p, customer, store, [[store.menu[0], 1]]); // the next one goes direct
                const [exit] = await p.kill('payment', 'SIGKILL');
                assert.equal(exit.signal, 'SIGKILL');
                const before = await paymentDeliveries();
                const key = `direct-${Date.now()}`;
                const started = Date.now();
                const placing = p.api('POST', '/orders', { token: customer, body: orderBody(store, [[store.menu[0], 2]]),
                        headers: { 'idempotency-key': key } });
                await sleep(600);
                await p.start('payment');
                const r = await placing;
                expectStatus(r, 201, `POST /orders with the payment worker back after ${Date.now() - started} ms`);
                assert.equal(r.json.status, 'PAID');
                const mine = ledgerOf(await pspLedger(p), r.json.id);
                assert.equal(mine.approved.length, 1, 'charged once');
                assert.equal(mine.charged, r.json.total);
                assert.ok(await paymentDeliveries() > before, 'the charge went through FOOD_CMD');
                assert.ok(await serviceMetric(orch, 'food_direct_unheard_total') > unheard, 'nats-server said nobody listened');
                // And the worker back takes direct tries again (after the orchestrator's pause of a second), for an
                // order placed right after another.
                await sleep(1200);
                await placeOrder(p, customer, store, [[store.menu[0], 1]]);
                const after = await paymentDeliveries();
                await placeOrder(p, customer, store, [[store.menu[0], 1]]);
                assert.equal(await paymentDeliveries(), after, 'direct again');
        });
});
