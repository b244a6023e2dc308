// Order modification (SPEC F8, §4 PATCH /orders/{id}): before cooking starts the customer changes items,
// address or note; a lower total is refunded, a higher one is charged first (402 when the extra charge is
// declined, the order unchanged); 409 once cooking started or on a terminal order; a modification racing
// the store's accept or the customer's cancel leaves the order, the read model and the PSP ledger agreeing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import {
        adminSaga, catalog, expectProblem, expectStatus, getOrder, ledgerOf, notificationsOf, placeOrder, pspLedger,
        sagaSteps, show, stableSnapshot, orderSnapshot, storeAction, totalOf, waitRefunded, waitStatus, WAIT_MS,
} from '../flows.mjs';

const ROUNDS = Number(process.env.RACE_ROUNDS || 15);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('order modification', () => {
        let p, store, customer, owner, admin, a, b;
        let seq = 0;

        before(async () => {
                p = await startPlatform({ name: 'modify' });
                store = (await catalog(p)).find((s) => s.menu.length >= 2);
                [a, b] = store.menu;
                customer = await p.token('cust_modify', 'customer');
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
                admin = await p.token('ops_modify', 'admin');
        });
        after(async () => { await p?.stop(); });

        const items = (lines) => lines.map(([m, q]) => ({ menu_item_id: m.id, quantity: q }));
        const patch = (id, body, token = customer) => p.api('PATCH', `/orders/${id}`, { token, body });

        async function paid(lines = [[a, 2 + (seq++ % 5)], [b, 1]]) {
                const o = await placeOrder(p, customer, store, lines);
                await waitStatus(p, owner, o.id, 'PAID');
                return o;
        }

        // Waits until the read model shows the order at `version`-independent facts: `total`, and money settled
        // (no refund still in flight: amount_refunded equals what the ledger refunded).
        async function settled(id, pred, what, timeoutMs = WAIT_MS) {
                let last;
                try {
                        return await p.waitFor(async () => {
                                last = await getOrder(p, customer, id);
                                const l = ledgerOf(await pspLedger(p), id);
                                return pred(last, l) && last.amount_paid === l.charged && last.amount_refunded === l.refunded && { view: last, ledger: l };
                        }, timeoutMs);
                } catch {
                        const l = ledgerOf(await pspLedger(p), id);
                        assert.fail(`${id}: ${what} within ${timeoutMs} ms; last view ${JSON.stringify(last)}; ledger ${JSON.stringify(l)}`);
                }
        }

        it('a lower total in PAID: 200 with the new items and total, the difference refunded, the ticket follows', async () => {
                const o = await paid([[a, 3], [b, 2]]);
                const lines = [[a, 1], [b, 2]];
                const r = await patch(o.id, { items: items(lines) });
                expectStatus(r, 200, `PATCH /orders/${o.id} (fewer items)`);
                const total = totalOf(lines);
                assert.equal(r.json.total, total, `PATCH answer total: ${show(r)}`);
                assert.equal(r.json.status, 'PAID', 'a modification keeps the status');
                assert.deepEqual(r.json.items.map((i) => [i.menu_item_id, i.quantity, i.unit_price]), lines.map(([m, q]) => [m.id, q, m.price]), 'items in the answer');
                const { view, ledger } = await settled(o.id, (v) => v.total === total && v.amount_refunded === o.total - total, 'the difference refunded');
                assert.equal(view.amount_paid, o.total, 'amount_paid stays what was charged');
                assert.equal(view.amount_paid - view.amount_refunded, total, 'paid - refunded == the new total');
                assert.equal(ledger.approved.length, 1, `one charge: ${JSON.stringify(ledger.approved)}`);
                assert.equal(ledger.refunds.length, 1, `one refund: ${JSON.stringify(ledger.refunds)}`);
                assert.equal(ledger.refunds[0].amount, o.total - total, 'refunded the difference');
                assert.match(ledger.refunds[0].idempotency_key, new RegExp(`^${o.id}\\.modify\\.`), 'the refund is keyed as a modification');
                const ticket = await p.waitFor(async () => {
                        const t = await p.sql(`SELECT total FROM store.tickets WHERE order_id = '${o.id}'`);
                        return Number(t) === total && t;
                }, WAIT_MS).catch(() => null);
                assert.ok(ticket, `the store's ticket total follows (store.tickets.total = ${await p.sql(`SELECT total FROM store.tickets WHERE order_id = '${o.id}'`)}, want ${total})`);
                const notes = await p.waitFor(async () => {
                        const n = await notificationsOf(p, customer, o.id);
                        return n.some((x) => /updated/.test(x.message)) && n;
                }, WAIT_MS).catch(() => null);
                assert.ok(notes, `a notification that the order was updated: ${JSON.stringify(await notificationsOf(p, customer, o.id))}`);
                const inbox = expectStatus(await p.api('GET', `/stores/${store.id}/orders`, { token: owner }), 200, 'store inbox').json.find((x) => x.id === o.id);
                assert.equal(inbox?.total, total, `the store's inbox shows the new total: ${JSON.stringify(inbox)}`);
        });

        it('a higher total in ACCEPTED: charged first (a second charge on the PSP), then 200 with the new total', async () => {
                const o = await paid([[a, 1]]);
                await storeAction(p, owner, store.id, o.id, 'accept', 'ACCEPTED');
                const lines = [[a, 2], [b, 3]];
                const total = totalOf(lines);
                const r = await patch(o.id, { items: items(lines) });
                expectStatus(r, 200, `PATCH /orders/${o.id} (more items)`);
                assert.equal(r.json.total, total, `PATCH answer total: ${show(r)}`);
                assert.equal(r.json.status, 'ACCEPTED');
                assert.equal(r.json.amount_paid, total, 'amount_paid in the answer includes the extra charge');
                const { ledger } = await settled(o.id, (v) => v.total === total && v.amount_paid === total, 'the new total paid');
                assert.equal(ledger.approved.length, 2, `a second charge: ${JSON.stringify(ledger.approved)}`);
                assert.deepEqual(ledger.approved.map((c) => c.amount).sort((x, y) => x - y), [o.total, total - o.total].sort((x, y) => x - y), 'charged the original total and the difference');
                assert.deepEqual(ledger.refunds, [], 'nothing refunded');
                assert.ok(ledger.approved.some((c) => c.idempotency_key.startsWith(`${o.id}.modify.`)), 'the extra charge is keyed as a modification');
                // Cancelling now refunds both charges, each at most what it took.
                expectStatus(await p.api('POST', `/orders/${o.id}/cancel`, { token: customer }), 200, 'cancel after a modification');
                const v = await waitRefunded(p, customer, o.id, 'CANCELLED');
                assert.equal(v.amount_refunded, total);
                const l = ledgerOf(await pspLedger(p), o.id);
                assert.equal(l.net, 0, `charged - refunded after the cancel: ${JSON.stringify(l)}`);
                for (const c of l.approved) assert.equal(c.refunded, c.amount, `charge ${c.id} refunded in full, no more: ${JSON.stringify(c)}`);
        });

        it('address and note only: 200, no money moved', async () => {
                const o = await paid();
                const address = { text: '99 Gangnam-daero', region: store.region, lat: 37.5, lon: 127.0375 };
                const r = await patch(o.id, { address, note: 'ring twice' });
                expectStatus(r, 200, `PATCH /orders/${o.id} (address, note)`);
                assert.equal(r.json.total, o.total);
                assert.equal(r.json.note, 'ring twice');
                assert.deepEqual(r.json.address, address);
                const v = await p.waitFor(async () => {
                        const x = await getOrder(p, customer, o.id);
                        return x.note === 'ring twice' && x;
                }, WAIT_MS);
                assert.deepEqual(v.address, address, 'address in the read model');
                assert.equal(v.amount_refunded, 0);
                const l = ledgerOf(await pspLedger(p), o.id);
                assert.equal(l.approved.length, 1);
                assert.deepEqual(l.refunds, []);
        });

        it('the extra charge declined (payment.card_token tok_declined): 402, the order unchanged', async () => {
                const o = await paid([[a, 1]]);
                const before = await stableSnapshot(p, { customer, admin }, o.id);
                const r = await patch(o.id, { items: items([[a, 4]]), payment: { card_token: 'tok_declined' } });
                expectProblem(r, 402, `PATCH /orders/${o.id} with a declined card for the extra`);
                await sleep(500);
                const after = await orderSnapshot(p, { customer, admin }, o.id);
                assert.deepEqual(after.view, before.view, 'the order view after a declined modification');
                assert.deepEqual(after.ledger, before.ledger, 'approved charges and refunds after a declined modification');
                assert.deepEqual(after.notifications, before.notifications, 'notifications after a declined modification');
                const l = ledgerOf(await pspLedger(p), o.id);
                assert.equal(l.declined.length, 1, `the declined attempt is on the PSP: ${JSON.stringify(l.declined)}`);
                // The order can still be modified afterwards, with its own card.
                const ok = await patch(o.id, { items: items([[a, 2]]) });
                expectStatus(ok, 200, 'PATCH after the declined one');
                assert.equal(ok.json.total, a.price * 2);
        });

        it('409 once cooking started or on a terminal order, nothing changed; 404 for another customer', async () => {
                const o = await paid();
                const other = await p.token('cust_modify_other', 'customer');
                expectProblem(await patch(o.id, { note: 'mine now' }, other), 404, 'PATCH of another customer\'s order');
                await storeAction(p, owner, store.id, o.id, 'accept', 'ACCEPTED');
                await storeAction(p, owner, store.id, o.id, 'cooking-started', 'COOKING');
                await waitStatus(p, customer, o.id, 'COOKING');
                let before = await stableSnapshot(p, { customer, admin }, o.id);
                expectProblem(await patch(o.id, { items: items([[a, 1]]) }), 409, 'PATCH items in COOKING');
                expectProblem(await patch(o.id, { note: 'hurry' }), 409, 'PATCH note in COOKING');
                await sleep(500);
                assert.deepEqual(await orderSnapshot(p, { customer, admin }, o.id), before, 'the order changed after PATCH answered 409 in COOKING');

                const c = await paid();
                expectStatus(await p.api('POST', `/orders/${c.id}/cancel`, { token: customer }), 200, 'cancel');
                await waitRefunded(p, customer, c.id, 'CANCELLED');
                before = await stableSnapshot(p, { customer, admin }, c.id);
                expectProblem(await patch(c.id, { items: items([[a, 9]]) }), 409, 'PATCH of a cancelled order');
                await sleep(500);
                assert.deepEqual(await orderSnapshot(p, { customer, admin }, c.id), before, 'the order changed after PATCH answered 409 when CANCELLED');
        });

        // Whatever won, the order and the money agree: what its status owes (its total, or nothing once
        // cancelled) is what the PSP kept, and the read model says so; refunds in flight get WAIT_MS to land.
        const owes = (v) => (v.status === 'CANCELLED' || v.status === 'REFUSED' ? 0 : v.total - v.discount);
        async function expectConsistent(id, status, what) {
                const { view, ledger } = await settled(id, (v, l) => v.status === status && l.net === owes(v),
                        `${what}: status ${status}, charged - refunded on the PSP == what the order owes (total, or 0 when cancelled)`, 15_000);
                const owed = owes(view);
                assert.equal(ledger.net, owed, `${what}: charged ${ledger.charged} - refunded ${ledger.refunded} on the PSP vs owed ${owed}`);
                const saga = await adminSaga(p, admin, id);
                assert.equal(saga.state, status, `${what}: saga state`);
                return view;
        }

        it(`modify vs accept, fired together (${ROUNDS} rounds, lower and higher totals): consistent order and ledger`, async (t) => {
                const outcomes = [];
                for (let round = 1; round <= ROUNDS; round++) {
                        const o = await paid([[a, 3]]);
                        const lines = round % 2 ? [[a, 1]] : [[a, 3], [b, 2]]; // lower, higher
                        const sends = [() => patch(o.id, { items: items(lines) }), () => p.api('POST', `/stores/${store.id}/orders/${o.id}/accept`, { token: owner })];
                        const [m, acc] = round % 4 < 2 ? await Promise.all(sends.map((s) => s())) : (await Promise.all([...sends].reverse().map((s) => s()))).reverse();
                        const what = `round ${round} (${round % 2 ? 'lower' : 'higher'}): PATCH ${m.status}, accept ${acc.status}`;
                        // Both are allowed in PAID and ACCEPTED: both should succeed, in either order; the money first.
                        expectStatus(acc, 200, `${what}: accept`);
                        const v = await expectConsistent(o.id, 'ACCEPTED', what);
                        expectStatus(m, 200, `${what}: PATCH`);
                        assert.equal(v.total, totalOf(lines), `${what}: the modification applied`);
                        outcomes.push(`${m.status}/${acc.status}`);
                }
                t.diagnostic(`PATCH/accept answers: ${outcomes.join(' ')}`);
        });

        it(`modify vs cancel, fired together (${ROUNDS} rounds, lower and higher totals): CANCELLED and nothing kept`, async (t) => {
                const outcomes = [];
                for (let round = 1; round <= ROUNDS; round++) {
                        const o = await paid([[a, 3]]);
                        const lines = round % 2 ? [[a, 1]] : [[a, 3], [b, 2]];
                        const sends = [() => patch(o.id, { items: items(lines) }), () => p.api('POST', `/orders/${o.id}/cancel`, { token: customer })];
                        const [m, c] = round % 4 < 2 ? await Promise.all(sends.map((x) => x())) : (await Promise.all([...sends].reverse().map((x) => x()))).reverse();
                        const what = `round ${round} (${round % 2 ? 'lower' : 'higher'}): PATCH ${m.status}, cancel ${c.status}`;
                        expectStatus(c, 200, `${what}: cancel`);
                        await expectConsistent(o.id, 'CANCELLED', what);
                        assert.ok([200, 409].includes(m.status), `${what}: PATCH answers 200 (before the cancel) or 409 (after): ${show(m)}`);
                        outcomes.push(m.status);
                }
                t.diagnostic(`PATCH answers: ${outcomes.join(' ')}`);
        });

        it('a higher total paid slowly (PSP latency 1.5 s) while the store accepts: the extra charge is not lost', async () => {
                const o = await paid([[a, 1]]);
                const lines = [[a, 2], [b, 1]];
                expectStatus(await p.psp('/config', { method: 'PUT', body: { latency_ms: 1500, failure_rate: 0 } }), [200, 204], 'PSP PUT /config');
                let m;
                try {
                        const pending = patch(o.id, { items: items(lines) });
                        await sleep(400); // the extra charge is on its way to the PSP
                        const acc = await p.api('POST', `/stores/${store.id}/orders/${o.id}/accept`, { token: owner });
                        expectStatus(acc, 200, 'accept while the modification is being paid');
                        m = await pending;
                } finally {
                        await p.psp('/config', { method: 'PUT', body: { latency_ms: 0, failure_rate: 0 } });
                }
                assert.ok([200, 409, 503, 504].includes(m.status), `PATCH while accepted meanwhile: ${show(m)}`);
                await sleep(2500);
                const v = await expectConsistent(o.id, 'ACCEPTED', `PATCH answered ${m.status}`);
                if (m.status === 200) assert.equal(v.total, totalOf(lines), 'a 200 means the new total applies');
                else assert.equal(v.total, o.total, `PATCH answered ${m.status}: the order keeps its total`);
        });

        it('a higher total paid slowly while the customer cancels: in the end nothing is kept', async () => {
                const o = await paid([[a, 1]]);
                expectStatus(await p.psp('/config', { method: 'PUT', body: { latency_ms: 1500, failure_rate: 0 } }), [200, 204], 'PSP PUT /config');
                let m;
                try {
                        const pending = patch(o.id, { items: items([[a, 3]]) });
                        await sleep(400);
                        expectStatus(await p.api('POST', `/orders/${o.id}/cancel`, { token: customer }), 200, 'cancel while the modification is being paid');
                        m = await pending;
                } finally {
                        await p.psp('/config', { method: 'PUT', body: { latency_ms: 0, failure_rate: 0 } });
                }
                await sleep(2500);
                await expectConsistent(o.id, 'CANCELLED', `PATCH answered ${m.status}, then cancelled`);
                const l = ledgerOf(await pspLedger(p), o.id);
                for (const c of l.approved) assert.equal(c.refunded, c.amount, `charge ${c.id} of a cancelled order refunded in full: ${JSON.stringify(l)}`);
        });
});
