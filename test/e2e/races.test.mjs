// Concurrent decisions on one order, fired at the same moment, many rounds each: exactly one of two
// conflicting requests wins (200), the other answers 409, and the final state, the refunds on the PSP ledger,
// the notifications and the saga agree with the winner. (Two riders picking at once: pick-race.test.mjs.)
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import {
        adminSaga, catalog, cookedOrder, expectProblem, expectStatus, ledgerOf, notificationsOf, placeOrder, pspLedger,
        sagaSteps, show, storeAction, visible, waitDelivery, waitRefunded, waitStatus, WAIT_MS,
} from '../flows.mjs';

const ROUNDS = Number(process.env.RACE_ROUNDS || 15);
const LANES = 3; // rounds run this many at a time; the race itself is within a round
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe(`races (${ROUNDS} rounds each)`, () => {
        let p, stores, rider, admin;
        // Customers take turns: GET /customers/me/notifications answers the latest 200 of a customer.
        const customers = [];
        const owners = new Map();
        let seq = 0;
        const settled = []; // {id, status, path, refunded} of every raced order, checked again at the end

        before(async () => {
                p = await startPlatform({ name: 'races' });
                stores = (await catalog(p)).filter((s) => s.menu.length >= 2);
                for (let i = 0; i < 8; i++) customers.push(await p.token(`cust_race_${i}`, 'customer'));
                rider = await p.token('rider_race', 'rider');
                admin = await p.token('ops_race', 'admin');
                for (const s of stores) owners.set(s.id, await p.token(`owner_${s.id}`, 'store', s.id));
        });
        after(async () => { await p?.stop(); });

        // A paid order in one of the stores (distinct quantities, so totals differ from round to round).
        async function paid() {
                const n = seq++;
                const store = stores[n % stores.length];
                const customer = customers[n % customers.length];
                const o = await placeOrder(p, customer, store, [[store.menu[0], 1 + (n % 7)], [store.menu[1], 1 + Math.floor(n / 7) % 5]]);
                await waitStatus(p, owners.get(store.id), o.id, 'PAID');
                return { o, store, owner: owners.get(store.id), customer };
        }

        async function accepted() {
                const x = await paid();
                await storeAction(p, x.owner, x.store.id, x.o.id, 'accept', 'ACCEPTED');
                return x;
        }

        async function delivered() {
                const n = seq++;
                const store = stores[n % stores.length];
                const owner = owners.get(store.id);
                const customer = customers[n % customers.length];
                const o = await cookedOrder(p, { customer, owner, store, lines: [[store.menu[0], 1 + (n % 7)]] });
                const d = await waitDelivery(p, rider, o.id, store.region);
                expectStatus(await p.api('POST', `/deliveries/${d.id}/pick`, { token: rider }), 200, `POST /deliveries/${d.id}/pick`);
                expectStatus(await p.api('POST', `/deliveries/${d.id}/delivered`, { token: rider }), 200, `POST /deliveries/${d.id}/delivered`);
                await waitStatus(p, customer, o.id, 'DELIVERED');
                return { o, store, owner, customer };
        }

        // Runs `rounds` rounds, LANES at a time.
        async function rounds(fn) {
                let next = 0;
                const results = [];
                await Promise.all(Array.from({ length: LANES }, async () => {
                        while (next < ROUNDS) {
                                const i = next++;
                                results[i] = await fn(i + 1);
                        }
                }));
                return results;
        }

        // Fires the requests of `contenders` ([[label, () => request, status when it wins]]) at once, the order
        // of sending alternating by round; asserts exactly one 200 (the winner) and 409 problems for the rest.
        async function fire(round, what, contenders) {
                const order = round % 2 ? contenders : [...contenders].reverse();
                const answers = await Promise.all(order.map(([, send]) => send()));
                const ok = answers.map((r, i) => [order[i], r]).filter(([, r]) => r.status === 200);
                const text = answers.map((r, i) => `${order[i][0]}: ${show(r)}`).join(' | ');
                assert.equal(ok.length, 1, `${what}, round ${round}: expected exactly one 200, got ${text}`);
                answers.forEach((r, i) => {
                        if (r.status !== 200) expectProblem(r, 409, `${what}, round ${round}: ${order[i][0]} (lost)`);
                });
                const [[label, , status], winner] = ok[0];
                assert.equal(winner.json?.status, status, `${what}, round ${round}: the winner ${label} should answer status ${status}`);
                return { label, status };
        }

        // The order ended as the winner said: its status and history, the refund (when `refunded`) on the
        // read model and the PSP ledger, the saga state and its compensations.
        async function expectFinal(x, { status, path, refunded }) {
                const { o, customer } = x;
                const v = refunded ? await waitRefunded(p, customer, o.id, status) : await waitStatus(p, customer, o.id, status);
                assert.deepEqual(visible(v.history.map((h) => h.status)), path, `${o.id}: history`);
                assert.equal(v.amount_paid, o.total, `${o.id}: amount_paid`);
                const l = ledgerOf(await pspLedger(p), o.id);
                assert.equal(l.approved.length, 1, `${o.id}: approved charges ${JSON.stringify(l.approved)}`);
                assert.equal(l.approved[0].amount, o.total, `${o.id}: charged amount`);
                if (refunded) {
                        assert.equal(v.amount_refunded, o.total, `${o.id}: amount_refunded`);
                        assert.equal(l.refunds.length, 1, `${o.id}: exactly one refund on the PSP ledger: ${JSON.stringify(l.refunds)}`);
                        assert.equal(l.refunds[0].amount, o.total, `${o.id}: refunded amount`);
                } else {
                        assert.equal(v.amount_refunded, 0, `${o.id}: amount_refunded`);
                        assert.deepEqual(l.refunds, [], `${o.id}: no refund on the PSP ledger`);
                }
                const saga = await adminSaga(p, admin, o.id);
                assert.equal(saga.state, status, `${o.id}: saga state`);
                const comp = sagaSteps(saga, { kind: 'compensation' }).map((s) => s.step).sort();
                assert.deepEqual(comp, refunded ? ['refund', 'withdraw_ticket'] : [], `${o.id}: compensations in the saga history`);
                settled.push({ id: o.id, status, path, refunded, total: o.total, customer });
        }

        const post = (path, token, body) => () => p.api('POST', path, { token, body });

        it('cancel vs cooking-started on an ACCEPTED order: one wins (CANCELLED and refunded, or COOKING and 409)', async (t) => {
                const wins = await rounds(async (round) => {
                        const x = await accepted();
                        const w = await fire(round, 'cancel vs cooking-started', [
                                ['cancel', post(`/orders/${x.o.id}/cancel`, x.customer), 'CANCELLED'],
                                ['cooking-started', post(`/stores/${x.store.id}/orders/${x.o.id}/cooking-started`, x.owner), 'COOKING'],
                        ]);
                        await expectFinal(x, w.status === 'CANCELLED'
                                ? { status: 'CANCELLED', path: ['PAID', 'ACCEPTED', 'CANCELLED'], refunded: true }
                                : { status: 'COOKING', path: ['PAID', 'ACCEPTED', 'COOKING'], refunded: false });
                        return w.label;
                });
                t.diagnostic(`winners: ${wins.join(' ')}`);
        });

        it('refuse vs accept on a PAID order: one wins (REFUSED and refunded, or ACCEPTED)', async (t) => {
                const wins = await rounds(async (round) => {
                        const x = await paid();
                        const w = await fire(round, 'refuse vs accept', [
                                ['refuse', post(`/stores/${x.store.id}/orders/${x.o.id}/refuse`, x.owner, { reason: 'race' }), 'REFUSED'],
                                ['accept', post(`/stores/${x.store.id}/orders/${x.o.id}/accept`, x.owner), 'ACCEPTED'],
                        ]);
                        await expectFinal(x, w.status === 'REFUSED'
                                ? { status: 'REFUSED', path: ['PAID', 'REFUSED'], refunded: true }
                                : { status: 'ACCEPTED', path: ['PAID', 'ACCEPTED'], refunded: false });
                        return w.label;
                });
                t.diagnostic(`winners: ${wins.join(' ')}`);
        });

        it('cancel vs cancel: one 200, one 409, one refund', async () => {
                await rounds(async (round) => {
                        const x = round % 3 === 0 ? await accepted() : await paid();
                        const path = round % 3 === 0 ? ['PAID', 'ACCEPTED', 'CANCELLED'] : ['PAID', 'CANCELLED'];
                        await fire(round, 'cancel vs cancel', [
                                ['cancel #1', post(`/orders/${x.o.id}/cancel`, x.customer, { reason: 'first' }), 'CANCELLED'],
                                ['cancel #2', post(`/orders/${x.o.id}/cancel`, x.customer, { reason: 'second' }), 'CANCELLED'],
                        ]);
                        await expectFinal(x, { status: 'CANCELLED', path, refunded: true });
                });
        });

        it('cancel vs refuse on a PAID order: one wins, one refund', async (t) => {
                const wins = await rounds(async (round) => {
                        const x = await paid();
                        const w = await fire(round, 'cancel vs refuse', [
                                ['cancel', post(`/orders/${x.o.id}/cancel`, x.customer), 'CANCELLED'],
                                ['refuse', post(`/stores/${x.store.id}/orders/${x.o.id}/refuse`, x.owner, { reason: 'race' }), 'REFUSED'],
                        ]);
                        await expectFinal(x, { status: w.status, path: ['PAID', w.status], refunded: true });
                        return w.label;
                });
                t.diagnostic(`winners: ${wins.join(' ')}`);
        });

        it('cancel vs accept on a PAID order: both may succeed in turn, the order always ends CANCELLED with one refund', async (t) => {
                const seen = await rounds(async (round) => {
                        const x = await paid();
                        const sends = [
                                ['cancel', post(`/orders/${x.o.id}/cancel`, x.customer)],
                                ['accept', post(`/stores/${x.store.id}/orders/${x.o.id}/accept`, x.owner)],
                        ];
                        const order = round % 2 ? sends : [...sends].reverse();
                        const answers = Object.fromEntries(await Promise.all(order.map(async ([l, s]) => [l, await s()])));
                        const text = Object.entries(answers).map(([l, r]) => `${l}: ${show(r)}`).join(' | ');
                        assert.equal(answers.cancel.status, 200, `cancel vs accept, round ${round}: cancel is allowed in PAID and ACCEPTED, so it must win: ${text}`);
                        assert.equal(answers.cancel.json.status, 'CANCELLED', `round ${round}: ${text}`);
                        assert.ok([200, 409].includes(answers.accept.status), `round ${round}: accept answers 200 (first) or 409 (after the cancel): ${text}`);
                        const path = answers.accept.status === 200 ? ['PAID', 'ACCEPTED', 'CANCELLED'] : ['PAID', 'CANCELLED'];
                        if (answers.accept.status === 409) expectProblem(answers.accept, 409, `round ${round}: accept after cancel`);
                        await expectFinal(x, { status: 'CANCELLED', path, refunded: true });
                        return answers.accept.status;
                });
                t.diagnostic(`accept answers: ${seen.join(' ')}`);
        });

        it('duplicate confirm of a DELIVERED order: one 200, one 409, COMPLETED once', async () => {
                await rounds(async (round) => {
                        const x = await delivered();
                        await fire(round, 'confirm vs confirm', [
                                ['confirm #1', post(`/orders/${x.o.id}/confirm`, x.customer), 'COMPLETED'],
                                ['confirm #2', post(`/orders/${x.o.id}/confirm`, x.customer), 'COMPLETED'],
                        ]);
                        await expectFinal(x, { status: 'COMPLETED', path: ['PAID', 'ACCEPTED', 'COOKING', 'COOKED', 'PICKED_UP', 'DELIVERED', 'COMPLETED'], refunded: false });
                });
        });

        it('in the end: one notification per status change (and one per refund), the ledger settled, no key twice', async () => {
                assert.ok(settled.length > 0, 'no raced order settled');
                await sleep(1000); // late duplicates would show by now
                for (const s of settled) {
                        const want = [...s.path.map((st) => `${st}:status`), ...(s.refunded ? [`${s.status}:refund`] : [])].sort();
                        let got;
                        try {
                                got = await p.waitFor(async () => {
                                        const n = await notificationsOf(p, s.customer, s.id);
                                        return n.length >= want.length && n;
                                }, WAIT_MS);
                        } catch {
                                got = await notificationsOf(p, s.customer, s.id);
                        }
                        const kinds = got.map((n) => `${n.status}:${/KRW was refunded/.test(n.message) ? 'refund' : 'status'}`).sort();
                        assert.deepEqual(kinds, want, `${s.id} notifications: ${JSON.stringify(got)}`);
                }
                const ledger = await pspLedger(p);
                const keys = (list) => list.map((e) => e.idempotency_key);
                const dup = (list) => list.filter((k, i) => list.indexOf(k) !== i);
                assert.deepEqual(dup(keys(ledger.charges)), [], 'charge idempotency keys used twice on the PSP');
                assert.deepEqual(dup(keys(ledger.refunds)), [], 'refund idempotency keys used twice on the PSP');
                assert.deepEqual(dup(ledger.refunds.map((r) => r.charge_id)), [], 'a charge refunded twice');
                for (const s of settled) {
                        const l = ledgerOf(ledger, s.id);
                        assert.equal(l.net, s.refunded ? 0 : s.total, `${s.id} (${s.status}): charged - refunded on the PSP`);
                }
        });
});
