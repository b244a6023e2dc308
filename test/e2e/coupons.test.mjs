// Coupons (F14), loyalty (F15) and the thank-you message (F16) through HTTP: a coupon when cooking finishes,
// store-issued coupons that notify, redemption once for the same store at payment, given back on cancel,
// refused for another store or twice; the grade rises after the configured number of completed orders.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startPlatform } from '../harness.mjs';
import { catalog, expectProblem, expectStatus, fullLifecycle, orderBody, pspLedger, ledgerOf, show, waitStatus, WAIT_MS } from '../flows.mjs';

describe('coupons, loyalty and thank-you', () => {
        let p, customer, owner, otherOwner, rider, store, other, lines;

        before(async () => {
                p = await startPlatform({
                        name: 'coupons',
                        env: { gateway: { LOYALTY_SILVER_AT: '2', LOYALTY_GOLD_AT: '4' }, orchestrator: { COUPON_COOKED_DISCOUNT: '1500' } },
                });
                const stores = (await catalog(p)).filter((s) => s.menu.length >= 2);
                [store, other] = stores;
                lines = [[store.menu[0], 2]];
                customer = await p.token('cust_coupon', 'customer');
                rider = await p.token('rider_coupon', 'rider');
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
                otherOwner = await p.token(`owner_${other.id}`, 'store', other.id);
        });
        after(async () => { await p?.stop(); });

        async function me() {
                return expectStatus(await p.api('GET', '/customers/me', { token: customer }), 200, 'GET /customers/me').json;
        }
        async function waitCoupon(pred, what) {
                let last;
                try {
                        return await p.waitFor(async () => { last = await me(); return last.coupons.find(pred); }, WAIT_MS);
                } catch {
                        assert.fail(`${what}: not in GET /customers/me within ${WAIT_MS} ms; last ${JSON.stringify(last)}`);
                }
        }
        async function place(st, ln, coupon) {
                return p.api('POST', '/orders', { token: customer, body: { ...orderBody(st, ln), coupon_id: coupon } });
        }

        it('a completed order gives a coupon at COOKED, a thank-you at COMPLETED, and counts for the grade', async () => {
                const before = await me();
                assert.equal(before.grade, 'BRONZE', `a new customer: ${JSON.stringify(before)}`);
                assert.equal(before.completed_orders, 0);
                const o = await fullLifecycle(p, { customer, owner, rider, store, lines });
                const c = await waitCoupon((x) => x.id === `cpn_${o.id.slice(4)}`, 'the coupon of a cooked order');
                assert.deepEqual(c, { id: `cpn_${o.id.slice(4)}`, store_id: store.id, discount: 1500, used: false });
                const notes = await p.waitFor(async () => {
                        const n = (await p.api('GET', '/customers/me/notifications', { token: customer })).json || [];
                        const mine = n.filter((x) => x.order_id === o.id);
                        return mine.some((x) => x.status === 'THANK_YOU') && mine.some((x) => x.status === 'COUPON') && mine;
                }, WAIT_MS).catch(() => null);
                assert.ok(notes, 'expected a COUPON and a THANK_YOU notification for the order');
                assert.equal(notes.filter((x) => x.status === 'THANK_YOU').length, 1, 'one thank-you message');
                assert.ok(notes.find((x) => x.status === 'THANK_YOU').message.length > 0, 'the thank-you has a text');
                assert.equal((await me()).completed_orders, 1);
        });

        it('a store issues a coupon: 201, the customer sees it and is notified; only the owner may', async () => {
                const r = expectStatus(await p.api('POST', `/stores/${store.id}/coupons`, { token: owner, body: { customer_id: 'cust_coupon', discount: 3000 } }), 201, 'POST coupon');
                assert.equal(r.json.discount, 3000);
                assert.equal(r.json.store_id, store.id);
                await waitCoupon((x) => x.id === r.json.id, 'a store-issued coupon');
                // Its command was stored with the batch that decided it until JetStream had it (shard-owner tests the crash).
                await p.waitFor(async () => (await p.sql('SELECT count(*) FROM orchestrator.loose_commands')) === '0', WAIT_MS)
                        .catch(() => assert.fail('the coupon command stays stored after it was sent'));
                expectProblem(await p.api('POST', `/stores/${store.id}/coupons`, { token: otherOwner, body: { customer_id: 'cust_coupon', discount: 3000 } }), 403, 'another store owner');
                expectProblem(await p.api('POST', `/stores/${store.id}/coupons`, { token: owner, body: { customer_id: 'cust_coupon', discount: 0 } }), 422, 'discount 0');
                expectProblem(await p.api('POST', `/stores/${store.id}/coupons`, { token: owner, body: { customer_id: 'cust_coupon' } }), 400, 'no discount');
        });

        it('redeemed once for the same store at payment; refused for another store or twice; given back on cancel', async () => {
                const issued = expectStatus(await p.api('POST', `/stores/${store.id}/coupons`, { token: owner, body: { customer_id: 'cust_coupon', discount: 2000 } }), 201, 'POST coupon').json;
                await waitCoupon((x) => x.id === issued.id, 'the new coupon');
                const ledgerBefore = await pspLedger(p);

                const foreign = await place(other, [[other.menu[0], 1]], issued.id);
                expectProblem(foreign, 422, 'a coupon of another store');
                assert.match(foreign.json.detail, /another store/, show(foreign));

                const first = expectStatus(await place(store, lines, issued.id), 201, 'order with the coupon').json;
                const total = store.menu[0].price * 2;
                assert.equal(first.total, total, 'total');
                assert.equal(first.discount, 2000, 'discount');
                assert.equal(first.amount_paid, total - 2000, 'amount_paid = total - discount');
                const charged = ledgerOf(await pspLedger(p), first.id);
                assert.equal(charged.charged, total - 2000, `the card was charged the rest: ${JSON.stringify(charged)}`);
                await waitCoupon((x) => x.id === issued.id && x.used, 'the coupon marked used');

                const twice = await place(store, lines, issued.id);
                expectProblem(twice, 422, 'the same coupon twice');
                assert.match(twice.json.detail, /already used/, show(twice));
                const rejectedOrders = (await p.api('GET', '/orders', { token: customer })).json.filter((o) => o.id !== first.id && o.discount === 2000);
                assert.equal(rejectedOrders.length, 0, 'a refused coupon establishes no order');

                expectStatus(await p.api('POST', `/orders/${first.id}/cancel`, { token: customer }), 200, 'cancel');
                await waitCoupon((x) => x.id === issued.id && !x.used, 'the coupon given back after the cancel');
                const again = expectStatus(await place(store, lines, issued.id), 201, 'the returned coupon used again').json;
                assert.equal(again.discount, 2000);
                const ledgerAfter = await pspLedger(p);
                assert.equal(ledgerAfter.charges.length - ledgerBefore.charges.length, 2, 'two charges: the first order and the last');
        });

        it('a declined card gives the coupon back: 402, the coupon unused and good for the next order', async () => {
                const issued = expectStatus(await p.api('POST', `/stores/${store.id}/coupons`, { token: owner, body: { customer_id: 'cust_coupon', discount: 1000 } }), 201, 'POST coupon').json;
                await waitCoupon((x) => x.id === issued.id, 'the new coupon');
                const post = (body, key) => p.api('POST', '/orders', { token: customer, body, headers: { 'idempotency-key': key } });
                const declinedBody = { ...orderBody(store, lines, 'tok_declined'), coupon_id: issued.id };
                const declinedKey = randomUUID();
                expectProblem(await post(declinedBody, declinedKey), 402, 'a declined card with a coupon');
                expectProblem(await post(declinedBody, declinedKey), 402, 'the same request again (its Idempotency-Key): the same answer');
                // Settled: the saga gave the coupon back (its redemption was applied before the charge).
                await p.waitFor(async () => (await p.sql(`SELECT count(*) FROM orchestrator.sagas s JOIN readmodel.orders o ON o.id = s.order_id
                        WHERE o.view::json->>'coupon_id' = '${issued.id}' AND s.settled`)) === '1', WAIT_MS).catch(() => {});
                await waitCoupon((x) => x.id === issued.id && !x.used, 'the coupon given back after the decline');
                const again = expectStatus(await place(store, lines, issued.id), 201, 'the coupon used by the next order').json;
                assert.equal(again.discount, 1000);
                // Refused for a coupon, the same request repeated answers 422 again, not "card declined".
                const usedKey = randomUUID();
                const usedBody = { ...orderBody(store, lines), coupon_id: issued.id };
                expectProblem(await post(usedBody, usedKey), 422, 'a coupon already used');
                expectProblem(await post(usedBody, usedKey), 422, 'the same request again (its Idempotency-Key)');
        });

        it('the grade rises with completed orders (SILVER from 2, GOLD from 4 here)', async () => {
                await fullLifecycle(p, { customer, owner, rider, store, lines });
                assert.equal((await me()).grade, 'SILVER');
                await fullLifecycle(p, { customer, owner, rider, store, lines });
                await fullLifecycle(p, { customer, owner, rider, store, lines });
                const m = await me();
                assert.equal(m.completed_orders, 4);
                assert.equal(m.grade, 'GOLD');
        });
});
