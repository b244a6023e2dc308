// The compensating branches of the saga (SPEC F5, F7, F11, §3): the store refuses, the store never answers,
// the customer cancels in PAID and in ACCEPTED — each refunded in full, ticket withdrawn, customer notified,
// the compensation visible in the saga history; after cooking started, or on a terminal order, cancel /
// confirm / refuse / accept answer 409 and change nothing (view, ledger, notifications, saga). A declined
// card establishes nothing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import {
        adminSaga, catalog, expectProblem, expectStatus, getOrder, krw, ledgerOf, notificationsOf, orderBody, orderSnapshot,
        placeOrder, stableSnapshot, pspLedger, sagaSteps, show, storeAction, visible, waitDelivery, waitRefunded, waitStatus, WAIT_MS,
} from '../flows.mjs';

const STORE_TIMEOUT_S = 3;

describe('refusal, store timeout and cancellation compensate; too late is 409', () => {
        let p, store, customer, owner, rider, admin;
        let round = 0;

        before(async () => {
                p = await startPlatform({ name: 'refuse-cancel' });
                store = (await catalog(p)).find((s) => s.menu.length >= 2);
                customer = await p.token('cust_rc', 'customer');
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
                rider = await p.token('rider_rc', 'rider');
                admin = await p.token('ops_rc', 'admin');
        });
        after(async () => { await p?.stop(); });

        // A new paid order with a distinct total, visible to its store.
        async function paidOrder() {
                round++;
                const o = await placeOrder(p, customer, store, [[store.menu[0], round], [store.menu[1], 1]]);
                await waitStatus(p, owner, o.id, 'PAID');
                return o;
        }

        async function act(path, token, body) {
                return p.api('POST', path, { token, body });
        }

        // Everything a compensated order must show: `status` with `path` as its history, a full refund in the
        // read model and on the PSP ledger (one charge, one refund of the same amount), the ticket withdrawn,
        // one notification per status change plus one saying how much was refunded, and the compensations
        // answered in the saga history.
        async function expectCompensated(order, { status, path, reason }) {
                const view = await waitRefunded(p, customer, order.id, status);
                assert.equal(view.amount_paid, order.total, `${order.id}: amount_paid == total`);
                assert.equal(view.amount_refunded, order.total, `${order.id}: amount_refunded == amount_paid`);
                assert.deepEqual(visible(view.history.map((h) => h.status)), path, `${order.id}: history`);
                if (reason !== undefined) assert.equal(view.reason, reason, `${order.id}: reason in the view`);

                const l = ledgerOf(await pspLedger(p), order.id);
                assert.equal(l.approved.length, 1, `${order.id}: approved charges on the PSP ledger: ${JSON.stringify(l.approved)}`);
                assert.equal(l.approved[0].amount, order.total, `${order.id}: charged amount`);
                assert.equal(l.approved[0].refunded, order.total, `${order.id}: the charge's refunded amount on the PSP`);
                assert.equal(l.refunds.length, 1, `${order.id}: refunds on the PSP ledger: ${JSON.stringify(l.refunds)}`);
                assert.equal(l.refunds[0].amount, order.total, `${order.id}: refunded amount`);
                assert.equal(l.refunds[0].charge_id, l.approved[0].id, `${order.id}: the refund is of the order's charge`);

                // The withdrawal is a command of its own, answered independently of the refund.
                const ticketOf = () => p.sql(`SELECT status FROM store.tickets WHERE order_id = '${order.id}'`);
                const ticket = await p.waitFor(async () => (await ticketOf()) === 'WITHDRAWN' && 'WITHDRAWN', WAIT_MS)
                        .catch(ticketOf);
                assert.equal(ticket, 'WITHDRAWN', `${order.id}: the store's ticket (store.tickets.status)`);

                // One notification per status change, and one (same status) telling the amount refunded.
                const expected = [...path.map((s) => `${s}:status`), `${status}:refund`];
                let notes;
                try {
                        notes = await p.waitFor(async () => {
                                const n = await notificationsOf(p, customer, order.id);
                                return n.length >= expected.length && n;
                        }, WAIT_MS);
                } catch {
                        notes = await notificationsOf(p, customer, order.id);
                }
                await new Promise((r) => setTimeout(r, 500)); // a late duplicate would show now
                notes = await notificationsOf(p, customer, order.id);
                const refundText = `${krw(order.total)} KRW was refunded`;
                const kinds = notes.map((n) => `${n.status}:${n.message.includes(refundText) ? 'refund' : 'status'}`);
                assert.deepEqual([...kinds].sort(), [...expected].sort(),
                        `${order.id}: notifications (status:kind), expected one per status change and one with '${refundText}'; got ${JSON.stringify(notes)}`);

                // The withdrawal is answered independently of the refund: give its reply time to arrive.
                const saga = await p.waitFor(async () => {
                        const x = await adminSaga(p, admin, order.id);
                        return sagaSteps(x, { kind: 'compensation' }).every((st) => st.detail === 'answered') && x;
                }, WAIT_MS).catch(() => null) ?? await adminSaga(p, admin, order.id);
                assert.equal(saga.order_id, order.id);
                assert.equal(saga.state, status, `${order.id}: saga state`);
                assert.equal(saga.compensation_failed, false, `${order.id}: compensation_failed`);
                assert.equal(saga.deadline_at, null, `${order.id}: a terminal saga keeps no timer`);
                for (const [step, type] of [['refund', 'food.v1.RefundPayment'], ['withdraw_ticket', 'food.v1.WithdrawTicket']]) {
                        const c = sagaSteps(saga, { step, kind: 'compensation' });
                        assert.equal(c.length, 1, `${order.id}: one compensation '${step}' in the saga history, got ${JSON.stringify(saga.steps)}`);
                        assert.equal(c[0].type, type, `${order.id}: type of compensation '${step}'`);
                        assert.equal(c[0].detail, 'answered', `${order.id}: compensation '${step}' detail: ${JSON.stringify(saga.steps)}`);
                        assert.equal(sagaSteps(saga, { step, kind: 'command' }).length, 0, `${order.id}: '${step}' must be listed as a compensation, not a command`);
                }
                assert.ok(sagaSteps(saga, { kind: 'reply', type: 'food.v1.PaymentRefunded', step: 'refund' }).length >= 1,
                        `${order.id}: a PaymentRefunded reply in the saga history: ${JSON.stringify(saga.steps)}`);
                assert.ok(sagaSteps(saga, { kind: 'reply', type: 'food.v1.TicketWithdrawn', step: 'withdraw_ticket' }).length >= 1,
                        `${order.id}: a TicketWithdrawn reply in the saga history: ${JSON.stringify(saga.steps)}`);
                assert.equal(sagaSteps(saga, { step: 'cancel_delivery' }).length, 0, `${order.id}: no delivery was opened, none to cancel`);
                // One status event per change plus the one that recorded the refund.
                assert.equal(sagaSteps(saga, { kind: 'event', type: 'food.v1.OrderStatusChanged' }).length, path.length + 1,
                        `${order.id}: OrderStatusChanged events in the saga history: ${JSON.stringify(sagaSteps(saga, { kind: 'event' }))}`);
                const at = saga.steps.map((s) => Date.parse(s.at));
                assert.ok(at.every((t, i) => !Number.isNaN(t) && (i === 0 || t >= at[i - 1])), `${order.id}: saga steps oldest first with RFC 3339 "at"`);
                return view;
        }

        // Sends each refused request, checks its 409 problem, and that nothing about the order changed.
        async function refusedWith409(orderId, requests) {
                const before = await stableSnapshot(p, { customer, admin }, orderId);
                for (const [what, send] of requests) expectProblem(await send(), 409, `${what} (order ${before.view.status})`);
                await new Promise((r) => setTimeout(r, 500)); // any asynchronous effect would show by now
                const after = await orderSnapshot(p, { customer, admin }, orderId);
                assert.deepEqual(after, before, `${orderId}: the order, its ledger, notifications or saga changed after ${requests.map(([w]) => w).join(', ')} answered 409`);
        }

        const cancel = (id, body) => () => act(`/orders/${id}/cancel`, customer, body);
        const confirm = (id) => () => act(`/orders/${id}/confirm`, customer);
        const byStore = (id, action, body) => () => act(`/stores/${store.id}/orders/${id}/${action}`, owner, body);

        it('the store refuses a PAID order: 200 REFUSED, refund, ticket withdrawn, customer notified', async () => {
                const o = await paidOrder();
                const r = await act(`/stores/${store.id}/orders/${o.id}/refuse`, owner, { reason: 'out of noodles' });
                expectStatus(r, 200, `POST /stores/${store.id}/orders/${o.id}/refuse`);
                assert.equal(r.json.status, 'REFUSED', `refuse answer: ${show(r)}`);
                const v = await expectCompensated(o, { status: 'REFUSED', path: ['PAID', 'REFUSED'], reason: 'out of noodles' });
                const refused = (await notificationsOf(p, customer, o.id)).find((n) => n.status === 'REFUSED' && !n.message.includes('KRW was refunded'));
                assert.ok(refused && refused.message.length > 0, `a REFUSED notification with a message: ${JSON.stringify(refused)}`);
                await refusedWith409(v.id, [
                        ['accept after refusal', byStore(o.id, 'accept')],
                        ['refuse again', byStore(o.id, 'refuse', { reason: 'again' })],
                        ['cancel a refused order', cancel(o.id)],
                        ['confirm a refused order', confirm(o.id)],
                ]);
        });

        it('the customer cancels a PAID order: 200 CANCELLED, refund, ticket withdrawn', async () => {
                const o = await paidOrder();
                const r = await act(`/orders/${o.id}/cancel`, customer, { reason: 'ordered by mistake' });
                expectStatus(r, 200, `POST /orders/${o.id}/cancel`);
                assert.equal(r.json.status, 'CANCELLED', `cancel answer: ${show(r)}`);
                await expectCompensated(o, { status: 'CANCELLED', path: ['PAID', 'CANCELLED'], reason: 'ordered by mistake' });
                await refusedWith409(o.id, [
                        ['cancel again', cancel(o.id)],
                        ['accept a cancelled order', byStore(o.id, 'accept')],
                        ['refuse a cancelled order', byStore(o.id, 'refuse', { reason: 'late' })],
                        ['cooking-started on a cancelled order', byStore(o.id, 'cooking-started')],
                        ['confirm a cancelled order', confirm(o.id)],
                ]);
        });

        it('the customer cancels an ACCEPTED order (no body): 200 CANCELLED, refund, ticket withdrawn', async () => {
                const o = await paidOrder();
                await storeAction(p, owner, store.id, o.id, 'accept', 'ACCEPTED');
                await waitStatus(p, customer, o.id, 'ACCEPTED');
                const r = await act(`/orders/${o.id}/cancel`, customer);
                expectStatus(r, 200, `POST /orders/${o.id}/cancel`);
                assert.equal(r.json.status, 'CANCELLED', `cancel answer: ${show(r)}`);
                await expectCompensated(o, { status: 'CANCELLED', path: ['PAID', 'ACCEPTED', 'CANCELLED'] });
                await refusedWith409(o.id, [
                        ['cooking-started on a cancelled order', byStore(o.id, 'cooking-started')],
                        ['cancel again', cancel(o.id)],
                ]);
        });

        it('once cooking started: cancel 409 (and confirm 409 until DELIVERED), nothing changed; then COMPLETED is final', async () => {
                const o = await paidOrder();
                // Before cooking: confirm is refused in PAID and ACCEPTED.
                await refusedWith409(o.id, [['confirm in PAID', confirm(o.id)], ['cooking-finished in PAID', byStore(o.id, 'cooking-finished')]]);
                await storeAction(p, owner, store.id, o.id, 'accept', 'ACCEPTED');
                await waitStatus(p, customer, o.id, 'ACCEPTED');
                await refusedWith409(o.id, [['confirm in ACCEPTED', confirm(o.id)], ['refuse in ACCEPTED', byStore(o.id, 'refuse', { reason: 'x' })]]);

                await storeAction(p, owner, store.id, o.id, 'cooking-started', 'COOKING');
                await waitStatus(p, customer, o.id, 'COOKING');
                await refusedWith409(o.id, [
                        ['cancel in COOKING', cancel(o.id, { reason: 'too slow' })],
                        ['confirm in COOKING', confirm(o.id)],
                        ['refuse in COOKING', byStore(o.id, 'refuse', { reason: 'x' })],
                ]);

                await storeAction(p, owner, store.id, o.id, 'cooking-finished', 'COOKED');
                await waitStatus(p, customer, o.id, 'COOKED');
                await waitDelivery(p, rider, o.id, store.region);
                await refusedWith409(o.id, [['cancel in COOKED', cancel(o.id)], ['confirm in COOKED', confirm(o.id)]]);

                const dlv = o.id.replace(/^ord_/, 'dlv_');
                expectStatus(await act(`/deliveries/${dlv}/pick`, rider), 200, `POST /deliveries/${dlv}/pick`);
                await waitStatus(p, customer, o.id, 'PICKED_UP');
                await refusedWith409(o.id, [['cancel in PICKED_UP', cancel(o.id)], ['confirm in PICKED_UP', confirm(o.id)]]);

                expectStatus(await act(`/deliveries/${dlv}/delivered`, rider), 200, `POST /deliveries/${dlv}/delivered`);
                await waitStatus(p, customer, o.id, 'DELIVERED');
                await refusedWith409(o.id, [['cancel in DELIVERED', cancel(o.id)]]);

                const c = await act(`/orders/${o.id}/confirm`, customer);
                expectStatus(c, 200, `POST /orders/${o.id}/confirm`);
                assert.equal(c.json.status, 'COMPLETED', `confirm answer: ${show(c)}`);
                const done = await waitStatus(p, customer, o.id, 'COMPLETED');
                assert.equal(done.amount_paid, o.total, 'amount_paid of the completed order');
                assert.equal(done.amount_refunded, 0, 'amount_refunded of the completed order');
                await refusedWith409(o.id, [
                        ['confirm again', confirm(o.id)],
                        ['cancel a completed order', cancel(o.id)],
                        ['refuse a completed order', byStore(o.id, 'refuse', { reason: 'x' })],
                ]);
                const l = ledgerOf(await pspLedger(p), o.id);
                assert.equal(l.approved.length, 1, `one charge: ${JSON.stringify(l.approved)}`);
                assert.deepEqual(l.refunds, [], 'no refund for a completed order');
                const saga = await adminSaga(p, admin, o.id);
                assert.equal(saga.state, 'COMPLETED');
                assert.equal(sagaSteps(saga, { kind: 'compensation' }).length, 0, `no compensation for a completed order: ${JSON.stringify(saga.steps)}`);
        });

        it('delivered of a delivery nobody picked (open, or of a refused order): 409 or 404, nothing changed', async () => {
                // SPEC §4: 403/404 are for a delivery picked by another rider; a delivery no rider picked is not in a
                // state that allows "delivered" (409), or does not exist (404).
                const refused = await paidOrder();
                await storeAction(p, owner, store.id, refused.id, 'refuse', 'REFUSED', { reason: 'closed' });
                await waitRefunded(p, customer, refused.id, 'REFUSED');
                const open = await paidOrder();
                for (const [a, st] of [['accept', 'ACCEPTED'], ['cooking-started', 'COOKING'], ['cooking-finished', 'COOKED']]) {
                        await storeAction(p, owner, store.id, open.id, a, st);
                }
                await waitDelivery(p, rider, open.id, store.region);
                for (const o of [open, refused]) {
                        const dlv = o.id.replace(/^ord_/, 'dlv_');
                        const before = await stableSnapshot(p, { customer, admin }, o.id);
                        const r = await act(`/deliveries/${dlv}/delivered`, rider);
                        assert.ok([404, 409].includes(r.status) && !/another rider/.test(r.text),
                                `POST /deliveries/${dlv}/delivered (order ${before.view.status}, picked by nobody): expected 409 (or 404), got ${show(r)}`);
                        expectProblem(r, r.status, `POST /deliveries/${dlv}/delivered`);
                        await new Promise((res) => setTimeout(res, 300));
                        assert.deepEqual(await orderSnapshot(p, { customer, admin }, o.id), before, `${o.id} changed after a refused "delivered"`);
                }
        });

        it('a declined card: 402, nothing established, REJECTED never in the customer\'s list', async () => {
                const before = await pspLedger(p);
                const list0 = expectStatus(await p.api('GET', '/orders', { token: customer }), 200, 'GET /orders').json;
                const r = await p.api('POST', '/orders', { token: customer, body: orderBody(store, [[store.menu[0], 1]], 'tok_declined') });
                expectProblem(r, 402, 'POST /orders with tok_declined');
                await new Promise((res) => setTimeout(res, 1000));
                const ledger = await pspLedger(p);
                const approved = ledger.charges.filter((c) => c.status === 'approved');
                assert.equal(approved.length, before.charges.filter((c) => c.status === 'approved').length, 'approved charges after a declined card');
                assert.equal(ledger.refunds.length, before.refunds.length, 'refunds after a declined card');
                const list = expectStatus(await p.api('GET', '/orders', { token: customer }), 200, 'GET /orders').json;
                assert.deepEqual(list.map((o) => o.id), list0.map((o) => o.id), 'GET /orders after a declined card');
                assert.ok(!list.some((o) => o.status === 'REJECTED' || o.status === 'PAYMENT_PENDING'), 'no REJECTED order in the list');
                const rejected = expectStatus(await p.api('GET', '/orders?status=REJECTED', { token: customer }), 200, 'GET /orders?status=REJECTED').json;
                // Whatever the filter says, the declined order must not show up as an established order.
                for (const o of rejected) assert.equal(o.amount_paid, 0, `a rejected order with money on it: ${JSON.stringify(o)}`);
        });

        it('the orchestrator killed (SIGKILL) right after a refusal: on restart the refund and the withdrawal still happen, once', async () => {
                const o = await paidOrder();
                await p.kill('payment'); // the refund cannot be done before the crash
                try {
                        await storeAction(p, owner, store.id, o.id, 'refuse', 'REFUSED', { reason: 'kitchen fire' });
                        const [exit] = await p.kill('orchestrator', 'SIGKILL');
                        assert.equal(exit.signal, 'SIGKILL', `orchestrator exit: ${JSON.stringify(exit)}`);
                } finally {
                        await p.start('payment');
                        await p.start('orchestrator');
                }
                await expectCompensated(o, { status: 'REFUSED', path: ['PAID', 'REFUSED'], reason: 'kitchen fire' });
        });

        it('the PSP failing while refunding: cancel answers 200 at once; the refund lands, once, when the PSP recovers', async () => {
                const o = await paidOrder();
                expectStatus(await p.psp('/config', { method: 'PUT', body: { latency_ms: 0, failure_rate: 1 } }), [200, 204], 'PSP PUT /config failure_rate 1');
                try {
                        const r = await act(`/orders/${o.id}/cancel`, customer);
                        expectStatus(r, 200, `POST /orders/${o.id}/cancel while the PSP fails`);
                        assert.equal(r.json.status, 'CANCELLED');
                        await new Promise((res) => setTimeout(res, 2000));
                        const v = await getOrder(p, customer, o.id);
                        assert.equal(v.status, 'CANCELLED');
                        assert.equal(v.amount_refunded, 0, 'nothing refunded while the PSP answers 503');
                        assert.deepEqual(ledgerOf(await pspLedger(p), o.id).refunds, [], 'no refund on the PSP yet');
                } finally {
                        await p.psp('/config', { method: 'PUT', body: { latency_ms: 0, failure_rate: 0 } });
                }
                await expectCompensated(o, { status: 'CANCELLED', path: ['PAID', 'CANCELLED'] });
        });

        it(`the store never answers: after STORE_ACCEPT_TIMEOUT_S=${STORE_TIMEOUT_S} the order is REFUSED and compensated`, async () => {
                await p.restart('orchestrator', { env: { STORE_ACCEPT_TIMEOUT_S: STORE_TIMEOUT_S } });
                try {
                        const ignored = await paidOrder();
                        const accepted = await paidOrder();
                        await storeAction(p, owner, store.id, accepted.id, 'accept', 'ACCEPTED');
                        const v = await expectCompensated(ignored, { status: 'REFUSED', path: ['PAID', 'REFUSED'] });
                        const paidAt = Date.parse(v.history.find((h) => h.status === 'PAID').at);
                        const refusedAt = Date.parse(v.history.find((h) => h.status === 'REFUSED').at);
                        assert.ok(refusedAt - paidAt >= STORE_TIMEOUT_S * 1000,
                                `refused ${refusedAt - paidAt} ms after PAID; expected no earlier than the ${STORE_TIMEOUT_S} s deadline`);
                        assert.ok(refusedAt - paidAt < STORE_TIMEOUT_S * 1000 + 10_000, `refused ${refusedAt - paidAt} ms after PAID; expected soon after the deadline`);
                        assert.ok(typeof v.reason === 'string' && v.reason.length > 0, `a timed-out order says why: reason ${JSON.stringify(v.reason)}`);
                        const saga = await adminSaga(p, admin, ignored.id);
                        assert.equal(saga.deadline_at, null, 'the fired timer is gone');
                        // The order the store accepted in time is not touched by the deadline.
                        await new Promise((r) => setTimeout(r, STORE_TIMEOUT_S * 1000 + 1500));
                        const a = await waitStatus(p, customer, accepted.id, 'ACCEPTED');
                        assert.equal(a.amount_refunded, 0, 'the accepted order was not refunded');
                        assert.deepEqual(ledgerOf(await pspLedger(p), accepted.id).refunds, [], 'no refund of the accepted order on the PSP');
                        const sa = await adminSaga(p, admin, accepted.id);
                        assert.equal(sa.state, 'ACCEPTED');
                        assert.equal(sa.deadline_at, null, 'an accepted order keeps no store deadline');

                        // The store's and the customer's decisions racing the deadline: one outcome each, one refund.
                        const racers = await Promise.all(Array.from({ length: 6 }, () => paidOrder()));
                        const outcomes = await Promise.all(racers.map(async (o, i) => {
                                const deadline = Date.parse((await adminSaga(p, admin, o.id)).deadline_at);
                                await new Promise((r) => setTimeout(r, Math.max(0, deadline - 300 + i * 120 - Date.now())));
                                const [action, path, body, to] = i % 2
                                        ? ['cancel', `/orders/${o.id}/cancel`, undefined, 'CANCELLED']
                                        : ['accept', `/stores/${store.id}/orders/${o.id}/accept`, undefined, 'ACCEPTED'];
                                const r = await act(path, i % 2 ? customer : owner, body);
                                assert.ok(r.status === 200 || r.status === 409, `${action} at the deadline: expected 200 or 409, got ${show(r)}`);
                                if (r.status === 200) assert.equal(r.json.status, to);
                                else expectProblem(r, 409, `${action} after the deadline fired`);
                                return { o, action, status: r.status };
                        }));
                        for (const { o, action, status } of outcomes) {
                                if (action === 'accept' && status === 200) {
                                        const v = await waitStatus(p, customer, o.id, 'ACCEPTED');
                                        assert.equal(v.amount_refunded, 0, `${o.id}: accepted in time, not refunded`);
                                        assert.deepEqual(visible(v.history.map((h) => h.status)), ['PAID', 'ACCEPTED'], `${o.id}: history`);
                                        assert.deepEqual(ledgerOf(await pspLedger(p), o.id).refunds, [], `${o.id}: no refund`);
                                } else {
                                        const final = action === 'cancel' && status === 200 ? 'CANCELLED' : 'REFUSED';
                                        await expectCompensated(o, { status: final, path: ['PAID', final] });
                                }
                        }
                } finally {
                        await p.restart('orchestrator', { env: { STORE_ACCEPT_TIMEOUT_S: undefined } });
                }
        });
});
