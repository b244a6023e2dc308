// Security over real HTTP through the gateway: bad bearer tokens (missing, expired, alg none, another key, another
// algorithm, garbage, wrong role) -> 401/403 problem+json; client-sent prices and statuses are ignored or refused
// and the PSP charges the catalog prices; no BOLA: another customer's order -> 404, another store's order ->
// 404/403, with nothing changed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHmac, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { BUILD_DIR, startPlatform } from '../harness.mjs';
import {
        catalog, expectProblem, expectStatus, ledgerOf, orderBody, placeOrder, pspLedger, show, storeAction, totalOf, visible, waitStatus,
} from '../flows.mjs';

const b64url = (v) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');

// A JWT with the given header and claims, signed by `signer(input) -> Buffer` (or unsigned when null).
function jwt(header, claims, signer) {
        const input = `${b64url(header)}.${b64url(claims)}`;
        return `${input}.${signer ? signer(input).toString('base64url') : ''}`;
}
const hmac = (alg, key) => (input) => createHmac(alg, key).update(input).digest();

describe('security over HTTP', () => {
        let p, customer, other, owner, otherOwner, rider, stores, store, otherStore, lines;
        const now = () => Math.floor(Date.now() / 1000);

        before(async () => {
                p = await startPlatform({ name: 'security' });
                stores = await catalog(p);
                store = stores.find((s) => s.menu.length >= 2);
                otherStore = stores.find((s) => s.id !== store.id);
                lines = [[store.menu[0], 2], [store.menu[1], 1]];
                customer = await p.token('cust_sec', 'customer');
                other = await p.token('cust_sec_other', 'customer');
                owner = await p.token('owner_sec', 'store', store.id);
                otherOwner = await p.token('owner_sec_other', 'store', otherStore.id);
                rider = await p.token('rider_sec', 'rider');
        });
        after(async () => { await p?.stop(); });

        it('bad tokens: 401 problem+json with WWW-Authenticate; a wrong role: 403', async () => {
                const claims = { sub: 'cust_sec', role: 'customer', exp: now() + 600 };
                const hs256 = hmac('sha256', p.jwtSecret);
                const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
                const cases = [
                        ['no Authorization header', undefined, {}],
                        ['Basic instead of Bearer', undefined, { authorization: 'Basic Y3VzdDpwdw==' }],
                        ['empty bearer', undefined, { authorization: 'Bearer ' }],
                        ['garbage', 'not-a-token', {}],
                        ['three garbage parts', 'a.b.c', {}],
                        ['expired', jwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, exp: now() - 60 }, hs256), {}],
                        ['not yet valid (nbf)', jwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, nbf: now() + 3600 }, hs256), {}],
                        ['alg none, no signature', jwt({ alg: 'none', typ: 'JWT' }, claims, null), {}],
                        ['alg none with the HS256 signature', jwt({ alg: 'none', typ: 'JWT' }, claims, hs256), {}],
                        ['alg "None"', jwt({ alg: 'None' }, claims, null), {}],
                        ['signed with another key', jwt({ alg: 'HS256', typ: 'JWT' }, claims, hmac('sha256', 'another-secret-another-secret-32b')), {}],
                        ['HS384 header, HS384 signature with the secret', jwt({ alg: 'HS384', typ: 'JWT' }, claims, hmac('sha384', p.jwtSecret)), {}],
                        ['HS384 header, HS256 signature', jwt({ alg: 'HS384', typ: 'JWT' }, claims, hs256), {}],
                        ['RS256 signed with an RSA key', jwt({ alg: 'RS256', typ: 'JWT' }, claims, (input) => sign('sha256', Buffer.from(input), privateKey)), {}],
                        ['RS256 header, HMAC with the secret (key confusion)', jwt({ alg: 'RS256', typ: 'JWT' }, claims, hs256), {}],
                        ['tampered payload (role admin)', (() => {
                                const [h, , s] = jwt({ alg: 'HS256', typ: 'JWT' }, claims, hs256).split('.');
                                return `${h}.${b64url({ ...claims, role: 'admin' })}.${s}`;
                        })(), {}],
                        ['no sub', jwt({ alg: 'HS256', typ: 'JWT' }, { role: 'customer', exp: now() + 600 }, hs256), {}],
                        ['unknown role', jwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, role: 'superuser' }, hs256), {}],
                        ['crit header', jwt({ alg: 'HS256', typ: 'JWT', crit: ['exp'] }, claims, hs256), {}],
                        ['no exp (would never expire)', jwt({ alg: 'HS256', typ: 'JWT' }, { sub: 'cust_sec', role: 'customer' }, hs256), {}],
                        ['a lifetime of two days (JWT_MAX_LIFETIME_S is one)', jwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, exp: now() + 2 * 86400 }, hs256), {}],
                        ['issued a day ago, expiring in 10 minutes', jwt({ alg: 'HS256', typ: 'JWT' }, { ...claims, iat: now() - 86400 }, hs256), {}],
                        ['a kid naming no key', jwt({ alg: 'HS256', typ: 'JWT', kid: '0123456789abcdef' }, claims, hs256), {}],
                        ['8 KiB token', 'a'.repeat(8192), {}],
                ];
                // The same signature scheme verifies when nothing is wrong: the cases above fail for their reason only.
                expectStatus(await p.api('GET', '/orders', { token: jwt({ alg: 'HS256', typ: 'JWT' }, claims, hs256) }), 200, 'a well-formed token');
                for (const [what, token, headers] of cases) {
                        for (const [method, path] of [['GET', '/orders'], ['POST', '/orders'], ['GET', '/customers/me']]) {
                                const r = await p.api(method, path, { token, headers, body: method === 'POST' ? orderBody(store, lines) : undefined });
                                expectProblem(r, 401, `${what}: ${method} ${path}`);
                                assert.match(r.headers.get('www-authenticate') || '', /^Bearer/, `${what}: WWW-Authenticate`);
                        }
                }
                const wrongRole = [
                        ['rider places an order', 'POST', '/orders', rider],
                        ['store owner lists customer orders', 'GET', '/orders', owner],
                        ['customer reads a store inbox', 'GET', `/stores/${store.id}/orders`, customer],
                        ['customer lists deliveries', 'GET', '/deliveries?region=gangnam', customer],
                        ['customer reads the analytics export', 'GET', '/analytics/events', customer],
                        ['store owner reads a saga', 'GET', '/admin/sagas/ord_000000000000000000000000', owner],
                        ['customer issues a coupon', 'POST', `/stores/${store.id}/coupons`, customer],
                ];
                for (const [what, method, path, token] of wrongRole) {
                        const r = await p.api(method, path, { token, body: method === 'POST' ? { customer_id: 'cust_sec', discount: 1000 } : undefined });
                        expectProblem(r, 403, what);
                }
                // Nothing was placed by any of them.
                assert.deepEqual(expectStatus(await p.api('GET', '/orders', { token: customer }), 200, 'GET /orders').json, [], 'orders of cust_sec');
                assert.equal((await pspLedger(p)).charges.length, 0, 'PSP charges');
        });

        it('mass assignment: status, prices, totals and amounts in POST /orders and PATCH are ignored or refused; the PSP charges the catalog prices', async () => {
                const forged = orderBody(store, lines);
                Object.assign(forged, { status: 'COMPLETED', total: 1, amount_paid: 1, amount_refunded: 999, discount: 999999, price: 1, customer_id: 'cust_sec_other', id: 'ord_forged' });
                forged.items = forged.items.map((i) => ({ ...i, unit_price: 1, price: 1, name: 'free food' }));
                const r = await p.api('POST', '/orders', { token: customer, body: forged, headers: { 'idempotency-key': randomUUID() } });
                const expected = totalOf(lines);
                console.log(`# POST /orders with client-set status, prices and amounts: ${r.status}`);
                let order;
                if (r.status === 201) {
                        order = r.json;
                        assert.equal(order.status, 'PAID', 'status of a placed order whatever the body says');
                        assert.equal(order.total, expected, 'total from the catalog');
                        assert.equal(order.amount_paid, expected, 'amount_paid from the catalog');
                        assert.equal(order.discount, 0, 'no client discount');
                        assert.equal(order.customer_id, 'cust_sec', 'the token names the customer');
                        assert.notEqual(order.id, 'ord_forged', 'the server names the order');
                        assert.deepEqual(order.items.map((i) => i.unit_price), lines.map(([m]) => m.price), 'unit prices from the catalog');
                } else {
                        expectProblem(r, [400, 422], 'POST /orders with client-set prices and status');
                        order = await placeOrder(p, customer, store, lines);
                }
                const ledger = ledgerOf(await pspLedger(p), order.id);
                assert.deepEqual(ledger.approved.map((c) => c.amount), [expected], `PSP charges of ${order.id}: one of the menu prices' total`);

                // PATCH with forged fields: refused, or only the allowed fields change and the money follows the catalog.
                const patch = { note: 'ring twice', status: 'COMPLETED', total: 1, amount_paid: 0, amount_refunded: 0, price: 1,
                        items: lines.map(([m, q]) => ({ menu_item_id: m.id, quantity: q, unit_price: 1, price: 1 })) };
                const m = await p.api('PATCH', `/orders/${order.id}`, { token: customer, body: patch });
                console.log(`# PATCH with client-set status, prices and amounts: ${m.status}`);
                if (m.status === 200) {
                        assert.equal(m.json.total, expected, 'PATCH: total from the catalog');
                        assert.equal(m.json.status, 'PAID', 'PATCH: status unchanged');
                } else {
                        expectProblem(m, [400, 422], 'PATCH with client-set prices and status');
                }
                const view = await waitStatus(p, customer, order.id, 'PAID');
                assert.equal(view.total, expected, 'read model total');
                assert.equal(view.amount_paid, expected, 'read model amount_paid');
                assert.equal(view.amount_refunded, 0, 'read model amount_refunded');
                const after = ledgerOf(await pspLedger(p), order.id);
                assert.equal(after.net, expected, `PSP: charged minus refunded for ${order.id} is the catalog total (${JSON.stringify(after)})`);
        });

        it('BOLA: another customer gets 404 everywhere, another store 404/403, and nothing changes', async () => {
                const order = await placeOrder(p, customer, store, lines);
                await waitStatus(p, customer, order.id, 'PAID');
                const ledgerBefore = JSON.stringify(ledgerOf(await pspLedger(p), order.id));

                for (const [method, path, body] of [
                        ['GET', `/orders/${order.id}`],
                        ['GET', `/orders/${order.id}/events`],
                        ['POST', `/orders/${order.id}/cancel`],
                        ['POST', `/orders/${order.id}/confirm`],
                        ['PATCH', `/orders/${order.id}`, { note: 'mine now' }],
                ]) {
                        expectProblem(await p.api(method, path, { token: other, body }), 404, `another customer: ${method} ${path}`);
                }
                const others = expectStatus(await p.api('GET', '/orders', { token: other }), 200, 'GET /orders as another customer').json;
                assert.ok(!others.some((o) => o.id === order.id), 'another customer does not list the order');

                // Another store's owner: neither through its own store's path nor through the order's store path.
                expectProblem(await p.api('GET', `/orders/${order.id}`, { token: otherOwner }), [403, 404], 'another store: GET /orders/{id}');
                for (const action of ['accept', 'refuse', 'cooking-started', 'cooking-finished']) {
                        expectProblem(await p.api('POST', `/stores/${otherStore.id}/orders/${order.id}/${action}`, { token: otherOwner, body: action === 'refuse' ? { reason: 'x' } : undefined }),
                                [403, 404], `another store via its own path: ${action}`);
                        expectProblem(await p.api('POST', `/stores/${store.id}/orders/${order.id}/${action}`, { token: otherOwner, body: action === 'refuse' ? { reason: 'x' } : undefined }),
                                [403, 404], `another store via the order's store path: ${action}`);
                }
                expectProblem(await p.api('GET', `/stores/${store.id}/orders`, { token: otherOwner }), [403, 404], 'another store: the inbox');
                const inbox = expectStatus(await p.api('GET', `/stores/${otherStore.id}/orders`, { token: otherOwner }), 200, 'own inbox').json;
                assert.ok(!inbox.some((o) => o.id === order.id), "another store's inbox does not list the order");
                // A rider cannot pick a delivery that does not exist yet (PAID).
                expectProblem(await p.api('POST', `/deliveries/dlv_${order.id.slice(4)}/pick`, { token: rider }), [404, 409], 'rider picks an order not cooked');

                // Nothing changed: the order is PAID with its history, nothing refunded or charged again.
                const view = await waitStatus(p, customer, order.id, 'PAID');
                assert.equal(view.note, orderBody(store, lines).note, 'note unchanged');
                assert.deepEqual(visible(view.history.map((h) => h.status)), ['PAID'], 'history unchanged');
                assert.equal(JSON.stringify(ledgerOf(await pspLedger(p), order.id)), ledgerBefore, 'PSP ledger of the order unchanged');
                // And the owner still can act on it.
                await storeAction(p, owner, store.id, order.id, 'accept', 'ACCEPTED');
                const admin = await p.token('admin_sec', 'admin');
                const saga = await p.api('GET', `/admin/sagas/${order.id}`, { token: admin });
                assert.equal(saga.status, 200, `admin sees the saga: ${show(saga)}`);
        });
        it('signing keys rotate: the previous key verifies during the rotation and not after; a short key stops the gateway', async () => {
                const oldToken = await p.token('cust_rotation', 'customer'); // signed with the current key (kid in its header)
                const oldKey = p.jwtSecret;
                const newKey = `rotated-${randomUUID()}-${randomUUID()}`;
                const signedWith = (key, claims) => jwt({ alg: 'HS256', typ: 'JWT' }, claims, hmac('sha256', key));
                const claims = { sub: 'cust_rotation', role: 'customer', exp: now() + 600 };
                try {
                        await p.restart('gateway', { env: { JWT_SECRET: newKey, JWT_PREVIOUS_SECRET: oldKey } });
                        expectStatus(await p.api('GET', '/orders', { token: oldToken }), 200, 'a token of the previous key (with its kid), during the rotation');
                        expectStatus(await p.api('GET', '/orders', { token: signedWith(oldKey, claims) }), 200, 'a token of the previous key without kid');
                        expectStatus(await p.api('GET', '/orders', { token: signedWith(newKey, claims) }), 200, 'a token of the new key');
                        const fresh = expectStatus(await p.api('POST', '/auth/dev-token', { body: { sub: 'cust_rotation', role: 'customer' } }), 200, 'dev token').json.token;
                        expectStatus(await p.api('GET', '/orders', { token: fresh }), 200, 'a token the gateway signs now');
                        await p.restart('gateway', { env: { JWT_SECRET: newKey, JWT_PREVIOUS_SECRET: undefined } });
                        const retired = await p.api('GET', '/orders', { token: oldToken });
                        expectProblem(retired, 401, 'the retired key\'s token');
                        assert.match(retired.json.detail, /kid/, `the detail says the key is unknown: ${retired.json.detail}`);
                        expectProblem(await p.api('GET', '/orders', { token: signedWith(oldKey, claims) }), 401, 'the retired key without kid');
                        expectStatus(await p.api('GET', '/orders', { token: fresh }), 200, 'the new key\'s token after the rotation');
                } finally {
                        await p.restart('gateway', { env: { JWT_SECRET: oldKey, JWT_PREVIOUS_SECRET: undefined } });
                }
                const bin = path.join(BUILD_DIR, 'gateway/gateway');
                for (const [name, value] of [['JWT_SECRET', 'x'.repeat(31)], ['JWT_PREVIOUS_SECRET', 'short'], ['JWT_MAX_LIFETIME_S', '0']]) {
                        const env = { PATH: process.env.PATH, JWT_SECRET: 'x'.repeat(32), NATS_URL: 'nats://127.0.0.1:1',
                                DATABASE_URL: 'postgresql://127.0.0.1:1/x', ASAN_OPTIONS: 'detect_leaks=0', [name]: value };
                        const res = await promisify(execFile)(bin, [], { env, timeout: 10_000 }).then(() => ({ code: 0, out: '' }),
                                (e) => ({ code: e.code, out: `${e.stdout}${e.stderr}` }));
                        assert.equal(res.code, 1, `${name}=${value}: expected exit code 1, got ${res.code}`);
                        assert.match(res.out, new RegExp(name), `${name}=${value}: the error names the variable: ${res.out.slice(0, 300)}`);
                }
        });
});
