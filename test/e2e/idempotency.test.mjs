// POST /orders honours Idempotency-Key: the same key and body, sent again or at the same time, give one order
// and one charge; the same key with another body is refused with 422.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startPlatform } from '../harness.mjs';
import { catalog, expectProblem, expectStatus, orderBody, show, totalOf } from '../flows.mjs';

describe('idempotency of POST /orders', () => {
        let p, customer, store, lines;

        before(async () => {
                p = await startPlatform({ name: 'idempotency' });
                customer = await p.token('cust_idem', 'customer');
                store = (await catalog(p)).find((s) => s.menu.length >= 2);
                lines = [[store.menu[0], 1], [store.menu[1], 3]];
        });
        after(async () => { await p?.stop(); });

        const place = (key, body = orderBody(store, lines)) =>
                p.api('POST', '/orders', { token: customer, body, headers: { 'idempotency-key': key } });

        async function approvedCharges() {
                const ledger = expectStatus(await p.psp('/ledger'), 200, 'PSP GET /ledger').json;
                return ledger.charges.filter((c) => c.status === 'approved');
        }

        async function orderIds() {
                return expectStatus(await p.api('GET', '/orders', { token: customer }), 200, 'GET /orders').json.map((o) => o.id);
        }

        // Waits until the read model shows `n` orders (no more appear within a second after that).
        async function expectOrders(ids) {
                await p.waitFor(async () => (await orderIds()).length >= ids.length, 30_000).catch(() => {});
                await new Promise((r) => setTimeout(r, 1000));
                assert.deepEqual((await orderIds()).sort(), [...ids].sort(), 'GET /orders: the orders placed');
        }

        it('the same key twice in a row: one order, one charge', async () => {
                const key = randomUUID();
                const a = expectStatus(await place(key), 201, 'POST /orders (first)');
                const b = expectStatus(await place(key), [200, 201], 'POST /orders (same key again)');
                assert.equal(b.json.id, a.json.id, 'the replay answers with the same order');
                assert.equal(b.json.total, totalOf(lines));
                const charges = await approvedCharges();
                assert.equal(charges.length, 1, `approved charges: ${JSON.stringify(charges)}`);
                assert.equal(charges[0].amount, totalOf(lines));
                await expectOrders([a.json.id]);
        });

        it('the same key twice at the same time: one order, one charge', async () => {
                const before = (await approvedCharges()).length;
                const known = await orderIds();
                const key = randomUUID();
                const answers = await Promise.all([place(key), place(key)]);
                // A request still in progress may be refused with 409 (retry later); every success names one order.
                for (const r of answers) {
                        assert.ok([200, 201, 409].includes(r.status), `concurrent POST /orders: expected 201/200 (or 409 in progress), got ${show(r)}`);
                        if (r.status === 409) expectProblem(r, 409, 'concurrent POST /orders');
                }
                const ok = answers.filter((r) => r.status === 200 || r.status === 201);
                assert.ok(ok.length >= 1, `no concurrent request succeeded: ${answers.map(show).join(' | ')}`);
                const again = expectStatus(await place(key), [200, 201], 'POST /orders (same key after the race)');
                const ids = new Set([...ok.map((r) => r.json.id), again.json.id]);
                assert.equal(ids.size, 1, `one order id expected, got ${[...ids].join(', ')}`);
                const charges = await approvedCharges();
                assert.equal(charges.length, before + 1, `approved charges: ${JSON.stringify(charges)}`);
                await expectOrders([...known, again.json.id]);
        });

        it('the same key with another body: 422, nothing charged', async () => {
                const key = randomUUID();
                const a = expectStatus(await place(key), 201, 'POST /orders (first)');
                const known = await orderIds();
                const before = (await approvedCharges()).length;
                const other = orderBody(store, [[store.menu[0], 5]]);
                expectProblem(await place(key, other), 422, 'POST /orders, same key, another body');
                assert.equal((await approvedCharges()).length, before, 'approved charges after the refused reuse');
                await expectOrders([...new Set([...known, a.json.id])]);
        });

        it('different keys: different orders', async () => {
                const a = expectStatus(await place(randomUUID()), 201, 'POST /orders (key 1)');
                const b = expectStatus(await place(randomUUID()), 201, 'POST /orders (key 2)');
                assert.notEqual(a.json.id, b.json.id);
        });
});
