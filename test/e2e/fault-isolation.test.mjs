// Fault isolation (SPEC §3): with the store, delivery and notification workers down, orders are still taken;
// when the workers return, the orders go through the whole lifecycle and every notification arrives once. Then
// each worker alone: stopped while an order goes through its life, the order waits for it (nothing fails, no
// 5xx) and completes once the worker is back.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import { byLifecycle, catalog, fullLifecycle, LIFECYCLE, notificationStatuses, placeOrder, steps, visible, waitStatus } from '../flows.mjs';

const DOWN = ['store', 'delivery', 'notification'];
// Each one stopped alone (the payment worker's absence is the breaker's and payment deadline's business).
const ALONE = ['store', 'delivery', 'notification', 'coupon'];
const DOWN_MS = 3000;

describe('fault isolation: orders are taken while workers are down', () => {
        let p, store, customer, owner, rider;
        const orders = [];
        const step = steps(it);

        before(async () => {
                p = await startPlatform({ name: 'fault-isolation' });
                store = (await catalog(p)).find((s) => s.menu.length >= 2);
                customer = await p.token('cust_fault', 'customer');
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
                rider = await p.token('rider_fault', 'rider');
        });
        after(async () => { await p?.stop(); });

        step(`with ${DOWN.join(', ')} stopped, POST /orders still answers 201 PAID`, async () => {
                for (const name of DOWN) {
                        const [exit] = await p.kill(name);
                        assert.equal(exit.killed, false, `${name} needed SIGKILL to stop`);
                }
                for (let i = 1; i <= 3; i++) orders.push(await placeOrder(p, customer, store, [[store.menu[0], i]]));
                for (const o of orders) await waitStatus(p, customer, o.id, 'PAID');
        });

        step('the workers return: the waiting orders are accepted and cooked, a new order completes', async () => {
                for (const name of DOWN) await p.start(name);
                for (const o of orders) {
                        const r = await p.api('POST', `/stores/${store.id}/orders/${o.id}/accept`, { token: owner });
                        assert.equal(r.status, 200, `accept ${o.id}: ${r.status} ${r.text.slice(0, 200)}`);
                }
                // One more order end to end, and the waiting ones driven the rest of the way.
                const fresh = await fullLifecycle(p, { customer, owner, rider, store, lines: [[store.menu[1], 1]] });
                assert.equal(fresh.status, 'COMPLETED');
                for (const o of orders) {
                        for (const [action, status] of [['cooking-started', 'COOKING'], ['cooking-finished', 'COOKED']]) {
                                const r = await p.api('POST', `/stores/${store.id}/orders/${o.id}/${action}`, { token: owner });
                                assert.equal(r.status, 200, `${action} ${o.id}: ${r.status} ${r.text.slice(0, 200)}`);
                                assert.equal(r.json.status, status);
                        }
                }
        });

        step('the notifications missed while the worker was down arrive, once each', async () => {
                const expected = LIFECYCLE.slice(0, LIFECYCLE.indexOf('COOKED') + 1);
                for (const o of orders) {
                        const got = await p.waitFor(async () => {
                                const n = visible(await notificationStatuses(p, customer, o.id));
                                return n.length >= expected.length && n;
                        }, 30_000).catch(() => null);
                        const final = got ?? visible(await notificationStatuses(p, customer, o.id));
                        assert.deepEqual(byLifecycle(final), expected, `notifications of ${o.id}`);
                }
        });

        for (const name of ALONE) {
                step(`${name} stopped alone: an order waits for it and completes once it is back, notified once per status`, async () => {
                        const [exit] = await p.kill(name);
                        assert.equal(exit.killed, false, `${name} needed SIGKILL to stop`);
                        let failure = null;
                        const started = Date.now();
                        const life = fullLifecycle(p, { customer, owner, rider, store, lines: [[store.menu[0], 1]] })
                                .catch((e) => { failure = e; throw e; });
                        life.catch(() => {});
                        await new Promise((resolve) => setTimeout(resolve, DOWN_MS));
                        assert.equal(failure, null, `with ${name} down the order failed instead of waiting: ${failure?.message}`);
                        await p.start(name);
                        const done = await life;
                        assert.equal(done.status, 'COMPLETED');
                        assert.ok(Date.now() - started >= DOWN_MS, 'the order completed while the worker was down?');
                        const got = await p.waitFor(async () => {
                                const n = visible(await notificationStatuses(p, customer, done.id));
                                return n.length >= LIFECYCLE.length && n;
                        }, 30_000).catch(() => null);
                        const final = got ?? visible(await notificationStatuses(p, customer, done.id));
                        assert.deepEqual(byLifecycle(final), LIFECYCLE, `notifications of ${done.id} (${name} was down)`);
                        assert.equal(final.length, LIFECYCLE.length, `one notification per status (${name} was down): ${final}`);
                });
        }
});
