// One order from PAID to COMPLETED through HTTP only, as customer, store owner and rider would drive it, with the
// read model, the notifications and the PSP ledger checked after every step; then a clean SIGTERM of every process.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import {
        byLifecycle, catalog, expectStatus, notificationStatuses, placeOrder, show, steps, storeAction, totalOf, visible,
        waitDelivery, waitStatus, WAIT_MS,
} from '../flows.mjs';

describe('happy path: PAID → ACCEPTED → COOKING → COOKED → PICKED_UP → DELIVERED → COMPLETED', () => {
        let p, customer, owner, rider, store, lines, order, delivery;
        const seen = []; // statuses reached so far
        const step = steps(it);

        before(async () => {
                p = await startPlatform({ name: 'happy-path' });
                customer = await p.token('cust_happy', 'customer');
                rider = await p.token('rider_happy', 'rider');
        });
        after(async () => { await p?.stop(); });

        // After each step: the order view (status, history, amounts) and one notification per status so far.
        async function checkOrder(status) {
                seen.push(status);
                const o = await waitStatus(p, customer, order.id, status);
                assert.equal(o.id, order.id);
                assert.equal(o.customer_id, 'cust_happy', 'customer_id');
                assert.equal(o.store_id, store.id, 'store_id');
                assert.equal(o.total, totalOf(lines), 'total');
                assert.equal(o.amount_paid, o.total, 'amount_paid == total');
                assert.equal(o.amount_refunded, 0, 'amount_refunded');
                assert.ok(Array.isArray(o.history), `history should be an array: ${JSON.stringify(o)}`);
                assert.deepEqual(visible(o.history.map((h) => h.status)), seen, 'history statuses, oldest first');
                for (const h of o.history) assert.ok(h.at && !Number.isNaN(Date.parse(h.at)), `history entry without an RFC 3339 "at": ${JSON.stringify(h)}`);
                assert.deepEqual(o.items.map((i) => [i.menu_item_id, i.name, i.quantity, i.unit_price]),
                        lines.map(([m, q]) => [m.id, m.name, q, m.price]), 'items with catalog names and prices');

                let got;
                try {
                        got = await p.waitFor(async () => {
                                const n = visible(await notificationStatuses(p, customer, order.id));
                                return n.includes(status) && n;
                        }, WAIT_MS);
                } catch (e) {
                        assert.fail(`GET /customers/me/notifications: no notification with status ${status} for ${order.id} within ${WAIT_MS} ms (${e.message})`);
                }
                assert.deepEqual(byLifecycle(got), seen, 'exactly one notification per status change so far');
                return o;
        }

        step('lists the stores and a menu', async () => {
                const stores = await catalog(p);
                store = stores.find((s) => s.menu.length >= 2);
                lines = [[store.menu[0], 2], [store.menu[1], 1]];
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
        });

        step('places an order paid with tok_ok (201 PAID, Location, Idempotency-Key)', async () => {
                order = await placeOrder(p, customer, store, lines);
                await checkOrder('PAID');
                const list = expectStatus(await p.api('GET', '/orders', { token: customer }), 200, 'GET /orders').json;
                assert.deepEqual(list.map((o) => o.id), [order.id], 'GET /orders lists the one order');
        });

        step('the PSP ledger holds one approved charge of the total', async () => {
                const ledger = expectStatus(await p.psp('/ledger'), 200, 'PSP GET /ledger').json;
                assert.equal(ledger.charges.length, 1, `charges: ${JSON.stringify(ledger.charges)}`);
                assert.equal(ledger.charges[0].status, 'approved');
                assert.equal(ledger.charges[0].amount, order.total);
                assert.equal(ledger.charges[0].card_token, 'tok_ok');
                assert.deepEqual(ledger.refunds, []);
        });

        step('the order reaches the store inbox, and the owner accepts it', async () => {
                let inbox;
                try {
                        inbox = await p.waitFor(async () => {
                                const r = await p.api('GET', `/stores/${store.id}/orders`, { token: owner });
                                return r.status === 200 && r.json.find((o) => o.id === order.id);
                        }, WAIT_MS);
                } catch {
                        assert.fail(`GET /stores/${store.id}/orders: ${order.id} not in the inbox within ${WAIT_MS} ms`);
                }
                assert.equal(inbox.status, 'PAID');
                await storeAction(p, owner, store.id, order.id, 'accept', 'ACCEPTED');
                await checkOrder('ACCEPTED');
        });

        step('the owner records cooking started', async () => {
                await storeAction(p, owner, store.id, order.id, 'cooking-started', 'COOKING');
                await checkOrder('COOKING');
        });

        step('the owner records cooking finished', async () => {
                await storeAction(p, owner, store.id, order.id, 'cooking-finished', 'COOKED');
                await checkOrder('COOKED');
        });

        step('a rider near the customer sees the delivery and picks it', async () => {
                delivery = await waitDelivery(p, rider, order.id, store.region);
                assert.equal(delivery.id, order.id.replace(/^ord_/, 'dlv_'), 'delivery id');
                assert.equal(delivery.store_id, store.id);
                assert.ok(delivery.pickup && delivery.dropoff, `pickup and dropoff: ${JSON.stringify(delivery)}`);
                const r = await p.api('POST', `/deliveries/${delivery.id}/pick`, { token: rider });
                expectStatus(r, 200, `POST /deliveries/${delivery.id}/pick`);
                const o = await checkOrder('PICKED_UP');
                assert.equal(o.rider_id, 'rider_happy', 'rider_id');
                const open = await p.waitFor(async () => {
                        const l = await p.api('GET', `/deliveries?region=${encodeURIComponent(store.region)}`, { token: rider });
                        return l.status === 200 && !l.json.some((d) => d.order_id === order.id) && l;
                }, WAIT_MS).catch(() => null);
                assert.ok(open, 'the picked delivery should leave the open deliveries list');
        });

        step('the rider marks it delivered', async () => {
                expectStatus(await p.api('POST', `/deliveries/${delivery.id}/delivered`, { token: rider }), 200, `POST /deliveries/${delivery.id}/delivered`);
                await checkOrder('DELIVERED');
        });

        step('the customer confirms receipt: COMPLETED', async () => {
                const r = await p.api('POST', `/orders/${order.id}/confirm`, { token: customer });
                expectStatus(r, 200, `POST /orders/${order.id}/confirm`);
                assert.equal(r.json.status, 'COMPLETED', `confirm answer: ${show(r)}`);
                await checkOrder('COMPLETED');
        });

        step('in the end: one charge, no refund, one notification per status', async () => {
                const ledger = (await p.psp('/ledger')).json;
                assert.equal(ledger.charges.length, 1, `charges: ${JSON.stringify(ledger.charges)}`);
                assert.equal(ledger.charges[0].refunded, 0);
                assert.deepEqual(ledger.refunds, []);
                await new Promise((r) => setTimeout(r, 1000)); // a late duplicate would show now
                assert.deepEqual(byLifecycle(visible(await notificationStatuses(p, customer, order.id))), seen);
        });

        step('every process exits 0 on SIGTERM', async () => {
                const { exits } = await p.stop();
                const bad = Object.entries(exits).filter(([, e]) => e.killed || e.code !== 0);
                assert.deepEqual(bad, [], 'processes that did not exit 0 within 10 s of SIGTERM (SIGINT for nats/postgres)');
        }, { always: true });
});
