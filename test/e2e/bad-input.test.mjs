// Bad input of every kind gets a 4xx application/problem+json with a detail and changes nothing: not the
// customer's orders, not the PSP ledger.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, randomUUID } from 'node:crypto';
import { startPlatform } from '../harness.mjs';
import { catalog, expectProblem, expectStatus, orderBody, placeOrder } from '../flows.mjs';

// An HS256 JWT over `claims`, signed with `secret`.
function jwt(claims, secret) {
        const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
        const head = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64(claims)}`;
        return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`;
}

describe('bad input: 4xx problem+json, nothing changed', () => {
        let p, customer, other, store, otherStore, good, foreign;

        before(async () => {
                p = await startPlatform({ name: 'bad-input' });
                customer = await p.token('cust_bad', 'customer');
                other = await p.token('cust_other', 'customer');
                const stores = await catalog(p);
                store = stores.find((s) => s.menu.length >= 2);
                otherStore = stores.find((s) => s !== store && s.menu.length >= 1);
                good = store.menu[0];
                foreign = otherStore.menu[0];
        });
        after(async () => { await p?.stop(); });

        // The customer's orders and the PSP ledger, to compare before and after a bad request.
        async function snapshot() {
                const orders = expectStatus(await p.api('GET', '/orders', { token: customer }), 200, 'GET /orders').json;
                const ledger = expectStatus(await p.psp('/ledger'), 200, 'PSP GET /ledger').json;
                return {
                        orders: orders.map((o) => `${o.id}:${o.status}:${o.amount_paid}`),
                        approved: ledger.charges.filter((c) => c.status === 'approved').map((c) => `${c.id}:${c.amount}:${c.refunded}`),
                        refunds: ledger.refunds.map((r) => r.id),
                };
        }

        // Sends the bad request, checks the problem, then checks (after a moment for any async effect) that
        // the customer's orders and the approved charges are unchanged.
        async function unchanged(what, status, send) {
                const before = await snapshot();
                expectProblem(await send(), status, what);
                await new Promise((r) => setTimeout(r, 300));
                assert.deepEqual(await snapshot(), before, `${what}: the orders or the ledger changed`);
        }

        const post = (body, token = customer, headers = {}) =>
                p.api('POST', '/orders', { token, body, headers: { 'idempotency-key': randomUUID(), ...headers } });

        it('declined card (tok_declined): 402, no order, no approved charge', async () => {
                await unchanged('POST /orders with tok_declined', 402, () => post(orderBody(store, [[good, 1]], 'tok_declined')));
                const s = await snapshot();
                assert.deepEqual(s.orders, [], 'GET /orders after a declined payment');
                assert.deepEqual(s.approved, [], 'approved charges after a declined payment');
        });

        it('malformed JSON: 400', async () => {
                await unchanged('POST /orders with malformed JSON', 400, () => post('{"store_id": "x", "items": [', customer));
        });

        it('wrong types: 400 or 422', async () => {
                const body = orderBody(store, [[good, 1]]);
                body.items[0].quantity = 'two';
                await unchanged('POST /orders with quantity "two"', [400, 422], () => post(body));
        });

        it('unknown menu item: 422', async () => {
                await unchanged('POST /orders with an unknown item', 422, () => post(orderBody(store, [[{ id: 'no_such_item' }, 1]])));
        });

        it('item of another store: 422', async () => {
                await unchanged(`POST /orders for ${store.id} with an item of ${otherStore.id}`, 422,
                        () => post(orderBody(store, [[good, 1], [foreign, 1]])));
        });

        it('quantity 0 and negative quantity: 422', async () => {
                await unchanged('POST /orders with quantity 0', 422, () => post(orderBody(store, [[good, 0]])));
                await unchanged('POST /orders with quantity -1', 422, () => post(orderBody(store, [[good, -1]])));
        });

        it('missing token: 401', async () => {
                await unchanged('POST /orders without a token', 401, () => post(orderBody(store, [[good, 1]]), null));
                await unchanged('GET /orders without a token', 401, () => p.api('GET', '/orders'));
        });

        it('invalid, forged and expired tokens: 401', async () => {
                const body = orderBody(store, [[good, 1]]);
                const now = Math.floor(Date.now() / 1000);
                await unchanged('POST /orders with a garbage token', 401, () => post(body, 'not.a.token'));
                await unchanged('POST /orders with a token signed by another key', 401,
                        () => post(body, jwt({ sub: 'cust_bad', role: 'customer', iat: now, exp: now + 600 }, 'not-the-secret')));
                await unchanged('POST /orders with an expired token', 401,
                        () => post(body, jwt({ sub: 'cust_bad', role: 'customer', iat: now - 7200, exp: now - 3600 }, p.jwtSecret)));
        });

        it('a rider cannot place an order: 403', async () => {
                const rider = await p.token('rider_bad', 'rider');
                await unchanged('POST /orders as a rider', 403, () => post(orderBody(store, [[good, 1]]), rider));
        });

        it("another customer's order: 404, and it cannot be cancelled", async () => {
                const o = await placeOrder(p, customer, store, [[good, 1]]);
                await p.waitFor(async () => (await p.api('GET', `/orders/${o.id}`, { token: customer })).status === 200, 30_000);
                await unchanged(`GET /orders/${o.id} as another customer`, 404, () => p.api('GET', `/orders/${o.id}`, { token: other }));
                await unchanged(`POST /orders/${o.id}/cancel as another customer`, 404,
                        () => p.api('POST', `/orders/${o.id}/cancel`, { token: other }));
                await unchanged(`GET /orders/${o.id}/events as another customer`, 404,
                        () => p.api('GET', `/orders/${o.id}/events`, { token: other }));
                const owner = await p.token(`owner_${otherStore.id}`, 'store', otherStore.id);
                await unchanged(`POST /stores/${otherStore.id}/orders/${o.id}/accept by another store`, [403, 404],
                        () => p.api('POST', `/stores/${otherStore.id}/orders/${o.id}/accept`, { token: owner }));
                const list = expectStatus(await p.api('GET', '/orders', { token: other }), 200, 'GET /orders as another customer').json;
                assert.deepEqual(list, [], "another customer's order list");
        });

        it('unknown order id: 404', async () => {
                await unchanged('GET /orders/ord_000000000000000000000000', 404,
                        () => p.api('GET', '/orders/ord_000000000000000000000000', { token: customer }));
        });

        it('100 KiB body: 413', async () => {
                const body = orderBody(store, [[good, 1]]);
                body.note = 'x'.repeat(100 * 1024);
                await unchanged('POST /orders with a 100 KiB body', 413, () => post(body));
        });
});
