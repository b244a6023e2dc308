// Two replicas of every worker sharing their durable consumers: 20 orders through the whole lifecycle, each
// charged once, notified once per status, and completed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import { byLifecycle, catalog, fullLifecycle, LIFECYCLE, notificationStatuses, totalOf, visible } from '../flows.mjs';

const ORDERS = 20;
const CONCURRENCY = 5;

describe('two replicas of each worker: 20 orders complete, once each', () => {
        let p, stores, rider;
        const placed = []; // {customer token, customer sub, order view, total}

        before(async () => {
                p = await startPlatform({ name: 'replicas', replicas: 2 });
                stores = (await catalog(p)).filter((s) => s.menu.length >= 2);
                rider = await p.token('rider_rep', 'rider');
        });
        after(async () => { await p?.stop(); });

        it(`${ORDERS} orders go through the full lifecycle (${CONCURRENCY} at a time)`, async () => {
                let next = 0;
                async function lane() {
                        while (next < ORDERS) {
                                const i = next++;
                                const store = stores[i % stores.length];
                                // Distinct quantities give distinct totals, so charges can be matched to orders.
                                const lines = [[store.menu[0], 1 + (i % 4)], [store.menu[1], 1 + Math.floor(i / 4)]];
                                const sub = `cust_rep_${i % 4}`;
                                const customer = await p.token(sub, 'customer');
                                const owner = await p.token(`owner_${store.id}`, 'store', store.id);
                                const o = await fullLifecycle(p, { customer, owner, rider, store, lines });
                                placed.push({ customer, sub, order: o, total: totalOf(lines) });
                        }
                }
                await Promise.all(Array.from({ length: CONCURRENCY }, lane));
                assert.equal(placed.length, ORDERS);
                for (const { order, total } of placed) {
                        assert.equal(order.status, 'COMPLETED');
                        assert.equal(order.amount_paid, total, `${order.id} amount_paid`);
                        assert.equal(order.amount_refunded, 0, `${order.id} amount_refunded`);
                }
        });

        it('each order was charged exactly once', async () => {
                assert.equal(placed.length, ORDERS, 'the lifecycle step did not complete');
                const ledger = (await p.psp('/ledger')).json;
                const approved = ledger.charges.filter((c) => c.status === 'approved');
                assert.equal(approved.length, ORDERS, `approved charges: ${approved.length}, expected ${ORDERS}`);
                assert.equal(new Set(approved.map((c) => c.idempotency_key)).size, ORDERS, 'one idempotency key per charge');
                assert.deepEqual(approved.map((c) => c.amount).sort((a, b) => a - b), placed.map((x) => x.total).sort((a, b) => a - b),
                        'charged amounts == order totals');
                assert.deepEqual(ledger.refunds, []);
        });

        it('each order notified its customer once per status', async () => {
                assert.equal(placed.length, ORDERS, 'the lifecycle step did not complete');
                for (const { customer, order } of placed) {
                        const got = await p.waitFor(async () => {
                                const n = visible(await notificationStatuses(p, customer, order.id));
                                return n.length >= LIFECYCLE.length && n;
                        }, 30_000).catch(() => null);
                        const final = got ?? visible(await notificationStatuses(p, customer, order.id));
                        assert.deepEqual(byLifecycle(final), LIFECYCLE, `notifications of ${order.id}`);
                }
        });
});
