// Auto-completion (SPEC F11): a DELIVERED order the customer never confirms becomes COMPLETED after
// AUTO_COMPLETE_S (3 s here), once, with no money moved; a confirmation before the deadline completes it once
// and the timer then does nothing; a confirmation racing the timer gives one COMPLETED either way.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import {
        adminSaga, byLifecycle, catalog, cookedOrder, expectProblem, expectStatus, LIFECYCLE, ledgerOf, notificationsOf,
        orderSnapshot, pspLedger, stableSnapshot, sagaSteps, show, visible, waitDelivery, waitStatus, WAIT_MS,
} from '../flows.mjs';

const AUTO_COMPLETE_S = 3;
const RACE_ROUNDS = 6;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe(`auto-complete after AUTO_COMPLETE_S=${AUTO_COMPLETE_S}`, () => {
        let p, store, customer, owner, rider, admin;
        let round = 0;

        before(async () => {
                p = await startPlatform({ name: 'auto-complete', env: { orchestrator: { AUTO_COMPLETE_S: String(AUTO_COMPLETE_S) } } });
                store = (await catalog(p)).find((s) => s.menu.length >= 2);
                customer = await p.token('cust_auto', 'customer');
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
                rider = await p.token('rider_auto', 'rider');
                admin = await p.token('ops_auto', 'admin');
        });
        after(async () => { await p?.stop(); });

        // An order driven to DELIVERED; resolves to {order, view} with the DELIVERED view.
        async function deliveredOrder() {
                round++;
                const o = await cookedOrder(p, { customer, owner, store, lines: [[store.menu[0], round]] });
                const d = await waitDelivery(p, rider, o.id, store.region);
                expectStatus(await p.api('POST', `/deliveries/${d.id}/pick`, { token: rider }), 200, `POST /deliveries/${d.id}/pick`);
                expectStatus(await p.api('POST', `/deliveries/${d.id}/delivered`, { token: rider }), 200, `POST /deliveries/${d.id}/delivered`);
                return { order: o, view: await waitStatus(p, customer, o.id, 'DELIVERED') };
        }

        // The money and the messages of a completed order: paid once, nothing refunded, COMPLETED once in the
        // history and in the notifications, no compensation and no timer left in the saga.
        async function expectCompletedOnce(order) {
                const v = await waitStatus(p, customer, order.id, 'COMPLETED');
                assert.deepEqual(visible(v.history.map((h) => h.status)), LIFECYCLE, `${order.id}: history`);
                assert.equal(v.amount_paid, order.total, `${order.id}: amount_paid`);
                assert.equal(v.amount_refunded, 0, `${order.id}: amount_refunded`);
                const l = ledgerOf(await pspLedger(p), order.id);
                assert.equal(l.approved.length, 1, `${order.id}: approved charges ${JSON.stringify(l.approved)}`);
                assert.equal(l.approved[0].amount, order.total);
                assert.deepEqual(l.refunds, [], `${order.id}: refunds`);
                let notes;
                try {
                        notes = await p.waitFor(async () => {
                                const n = (await notificationsOf(p, customer, order.id)).map((x) => x.status);
                                return n.includes('COMPLETED') && n;
                        }, WAIT_MS);
                } catch {
                        assert.fail(`${order.id}: no COMPLETED notification within ${WAIT_MS} ms`);
                }
                await sleep(500);
                notes = visible((await notificationsOf(p, customer, order.id)).map((x) => x.status));
                assert.deepEqual(byLifecycle(notes), LIFECYCLE, `${order.id}: one notification per status`);
                const saga = await adminSaga(p, admin, order.id);
                assert.equal(saga.state, 'COMPLETED', `${order.id}: saga state`);
                assert.equal(saga.deadline_at, null, `${order.id}: no timer left once completed`);
                assert.deepEqual(sagaSteps(saga, { kind: 'compensation' }), [], `${order.id}: no compensation`);
                return v;
        }

        it('a DELIVERED order never confirmed completes after the deadline, and confirm then answers 409', async () => {
                const { order, view } = await deliveredOrder();
                const deliveredAt = Date.parse(view.history.find((h) => h.status === 'DELIVERED').at);
                const saga = await adminSaga(p, admin, order.id);
                assert.equal(saga.state, 'DELIVERED');
                assert.ok(saga.deadline_at, `a DELIVERED saga has the auto-complete timer: ${JSON.stringify(saga)}`);
                const timer = Date.parse(saga.deadline_at) - deliveredAt;
                assert.ok(Math.abs(timer - AUTO_COMPLETE_S * 1000) <= 1000,
                        `auto-complete timer ${timer} ms after DELIVERED, expected ${AUTO_COMPLETE_S * 1000} ms (deadline_at ${saga.deadline_at})`);

                const v = await expectCompletedOnce(order);
                const completedAt = Date.parse(v.history.find((h) => h.status === 'COMPLETED').at);
                assert.ok(completedAt - deliveredAt >= AUTO_COMPLETE_S * 1000,
                        `completed ${completedAt - deliveredAt} ms after DELIVERED, before the ${AUTO_COMPLETE_S} s deadline`);
                assert.ok(completedAt - deliveredAt < AUTO_COMPLETE_S * 1000 + 10_000,
                        `completed ${completedAt - deliveredAt} ms after DELIVERED, long after the ${AUTO_COMPLETE_S} s deadline`);

                const before = await stableSnapshot(p, { customer, admin }, order.id);
                expectProblem(await p.api('POST', `/orders/${order.id}/confirm`, { token: customer }), 409, 'confirm after auto-complete');
                expectProblem(await p.api('POST', `/orders/${order.id}/cancel`, { token: customer }), 409, 'cancel after auto-complete');
                await sleep(500);
                assert.deepEqual(await orderSnapshot(p, { customer, admin }, order.id), before, 'the order changed after a refused confirm');
        });

        it('confirmed before the deadline: COMPLETED once, the timer does nothing later', async () => {
                const { order } = await deliveredOrder();
                const r = await p.api('POST', `/orders/${order.id}/confirm`, { token: customer });
                expectStatus(r, 200, `POST /orders/${order.id}/confirm`);
                assert.equal(r.json.status, 'COMPLETED', `confirm answer: ${show(r)}`);
                await expectCompletedOnce(order);
                const before = await stableSnapshot(p, { customer, admin }, order.id);
                await sleep(AUTO_COMPLETE_S * 1000 + 1500); // past the deadline the timer would have had
                assert.deepEqual(await orderSnapshot(p, { customer, admin }, order.id), before, 'the order changed after the old deadline passed');
        });

        it(`confirm racing the timer (${RACE_ROUNDS} orders, confirm at the deadline): exactly one COMPLETED each`, async (t) => {
                const outcome = await Promise.all(Array.from({ length: RACE_ROUNDS }, async (_, i) => {
                        const { order } = await deliveredOrder();
                        const saga = await adminSaga(p, admin, order.id);
                        // Around the deadline, from a little before to a little after (the timer sweeps every 500 ms).
                        const at = Date.parse(saga.deadline_at) - 300 + i * 150;
                        await sleep(Math.max(0, at - Date.now()));
                        const r = await p.api('POST', `/orders/${order.id}/confirm`, { token: customer });
                        assert.ok(r.status === 200 || r.status === 409, `confirm at the deadline: expected 200 or 409, got ${show(r)}`);
                        if (r.status === 200) assert.equal(r.json.status, 'COMPLETED', `confirm answer: ${show(r)}`);
                        else expectProblem(r, 409, 'confirm after the timer fired');
                        return { order, status: r.status };
                }));
                t.diagnostic(`confirm answers: ${outcome.map((o) => o.status).join(' ')}`);
                for (const { order } of outcome) await expectCompletedOnce(order);
        });
});
