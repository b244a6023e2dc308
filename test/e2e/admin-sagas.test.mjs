// Saga visibility for operators: GET /admin/sagas/{order_id} (admin only) on real orders, and the CLI
// build/orchestrator/sagactl (show, stuck, --json, redrive) against the same platform; a compensation that
// gets no answer (payment worker down) shows as COMPENSATION_FAILED until the worker is back and it is redriven.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import {
        adminSaga, catalog, expectProblem, expectStatus, fullLifecycle, getOrder, ledgerOf, placeOrder, pspLedger,
        sagaSteps, serviceMetric, show, storeAction, waitRefunded, waitStatus, WAIT_MS,
} from '../flows.mjs';

// Small re-send waits and budget, so that a compensation runs out of tries within seconds.
const RESEND_MS = 300;
const MAX_ATTEMPTS = 3;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

describe('admin saga history and sagactl', () => {
        let p, store, customer, owner, rider, admin;
        let completed, accepted, paid;

        before(async () => {
                p = await startPlatform({
                        name: 'admin-sagas',
                        env: { orchestrator: { COMMAND_RESEND_MS: String(RESEND_MS), COMMAND_MAX_ATTEMPTS: String(MAX_ATTEMPTS) } },
                });
                store = (await catalog(p)).find((s) => s.menu.length >= 2);
                customer = await p.token('cust_admin', 'customer');
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
                rider = await p.token('rider_admin', 'rider');
                admin = await p.token('ops_admin', 'admin');
        });
        after(async () => { await p?.stop(); });

        // Lines of `sagactl ... --json`, each parsed.
        function jsonLines(out, what) {
                return out.trim().split('\n').filter(Boolean).map((l) => {
                        try {
                                return JSON.parse(l);
                        } catch {
                                assert.fail(`${what}: a line that is not JSON: ${l}`);
                        }
                });
        }

        it('GET /admin/sagas/{id} of a completed order: every command answered, one event per status, replies, in order', async () => {
                const lines = [[store.menu[0], 2], [store.menu[1], 1]];
                completed = await fullLifecycle(p, { customer, owner, rider, store, lines });
                // Replies may still be on their way just after the last status: wait until every command is answered.
                let s;
                try {
                        s = await p.waitFor(async () => {
                                const x = await adminSaga(p, admin, completed.id);
                                return x.steps.filter((st) => st.kind === 'command' || st.kind === 'compensation').every((st) => st.detail === 'answered') && x;
                        }, WAIT_MS);
                } catch {
                        s = await adminSaga(p, admin, completed.id);
                        assert.fail(`commands of ${completed.id} not all answered within ${WAIT_MS} ms: ${JSON.stringify(s.steps)}`);
                }
                assert.equal(s.order_id, completed.id);
                assert.equal(s.state, 'COMPLETED');
                assert.equal(s.compensation_failed, false);
                assert.equal(s.deadline_at, null, 'no timer on a completed saga');
                assert.ok(Number.isInteger(s.definition_version) && s.definition_version >= 1, `definition_version ${s.definition_version}`);
                assert.equal(s.version, completed.history.length, `saga version (one per status since PAYMENT_PENDING) vs history ${JSON.stringify(completed.history)}`);
                assert.ok(Date.parse(s.created_at) <= Date.parse(s.updated_at), `created_at ${s.created_at} <= updated_at ${s.updated_at}`);

                const commands = sagaSteps(s, { kind: 'command' }).map((st) => `${st.step}:${st.type}`);
                for (const want of ['authorize:food.v1.AuthorizePayment', 'create_ticket:food.v1.CreateTicket', 'update_ticket:food.v1.UpdateTicket',
                        'open_delivery:food.v1.OpenDelivery', 'assign_rider:food.v1.AssignRider', 'complete_delivery:food.v1.CompleteDelivery']) {
                        assert.ok(commands.includes(want), `command ${want} in the saga history: ${JSON.stringify(commands)}`);
                }
                // accept, cooking started, cooking finished each update the ticket.
                assert.equal(commands.filter((c) => c.startsWith('update_ticket:')).length, 3, `update_ticket commands: ${JSON.stringify(commands)}`);
                assert.deepEqual(sagaSteps(s, { kind: 'compensation' }), [], 'no compensation in a completed saga');
                const events = sagaSteps(s, { kind: 'event' });
                assert.equal(events.length, 7, `one OrderStatusChanged per status PAID..COMPLETED: ${JSON.stringify(events)}`);
                assert.ok(events.every((e) => e.type === 'food.v1.OrderStatusChanged' && e.step === 'status'), `event steps: ${JSON.stringify(events)}`);
                const replies = sagaSteps(s, { kind: 'reply' }).map((st) => `${st.step}:${st.type}`);
                for (const want of ['authorize:food.v1.PaymentAuthorized', 'create_ticket:food.v1.TicketRecorded', 'open_delivery:food.v1.DeliveryRecorded']) {
                        assert.ok(replies.includes(want), `reply ${want} in the saga history: ${JSON.stringify(replies)}`);
                }
                const at = s.steps.map((st) => Date.parse(st.at));
                assert.ok(at.every((t, i) => !Number.isNaN(t) && (i === 0 || t >= at[i - 1])), `steps oldest first: ${JSON.stringify(s.steps.map((x) => x.at))}`);
                for (const st of s.steps) assert.ok(Number.isInteger(st.attempt) && st.attempt >= 0, `step attempt: ${JSON.stringify(st)}`);
        });

        it('403 for customer, store and rider tokens (even the order\'s own), 401 without a token, 404 for unknown ids', async () => {
                assert.ok(completed, 'the first test did not complete an order');
                for (const [who, token] of [['its customer', customer], ['its store', owner], ['a rider', rider]]) {
                        expectProblem(await p.api('GET', `/admin/sagas/${completed.id}`, { token }), 403, `GET /admin/sagas/{id} as ${who}`);
                }
                const anon = await p.api('GET', `/admin/sagas/${completed.id}`);
                expectProblem(anon, 401, 'GET /admin/sagas/{id} without a token');
                for (const id of ['ord_0123456789abcdef01234567', 'ord_nope', 'dlv_0123456789abcdef01234567']) {
                        expectProblem(await p.api('GET', `/admin/sagas/${id}`, { token: admin }), 404, `GET /admin/sagas/${id} (unknown)`);
                }
        });

        it('sagactl show ORDER_ID (text and --json) tells what the endpoint tells; unknown id and bad usage fail', async () => {
                assert.ok(completed, 'the first test did not complete an order');
                const endpoint = await adminSaga(p, admin, completed.id);
                const j = await p.sagactl('show', completed.id, '--json');
                assert.equal(j.code, 0, `sagactl show --json: exit ${j.code}, stderr ${j.stderr}`);
                const [doc, ...rest] = jsonLines(j.stdout, 'sagactl show --json');
                assert.deepEqual(rest, [], 'sagactl show --json prints one line');
                assert.deepEqual(doc, endpoint, 'sagactl show --json vs GET /admin/sagas/{id}');

                const t = await p.sagactl('show', completed.id);
                assert.equal(t.code, 0, `sagactl show: exit ${t.code}, stderr ${t.stderr}`);
                const [head, ...stepLines] = t.stdout.trimEnd().split('\n');
                assert.match(head, new RegExp(`^${completed.id}\\s+COMPLETED\\b`), `sagactl show: first line ${head}`);
                assert.equal(stepLines.length, endpoint.steps.length, `sagactl show: one line per step:\n${t.stdout}`);
                stepLines.forEach((l, i) => {
                        const st = endpoint.steps[i];
                        for (const part of [st.kind, st.type, st.step]) assert.ok(l.includes(part), `sagactl show line ${i + 1} '${l}' should name ${part}`);
                });

                const unknown = await p.sagactl('show', 'ord_0123456789abcdef01234567');
                assert.notEqual(unknown.code, 0, `sagactl show of an unknown order should fail, printed ${unknown.stdout}`);
                assert.match(unknown.stderr, /no saga|not found/i, `sagactl show unknown: stderr ${unknown.stderr}`);
                const usage = await p.sagactl('show');
                assert.equal(usage.code, 2, `sagactl show without an id: exit ${usage.code}`);
                assert.match(usage.stderr, /usage/, `sagactl show without an id: stderr ${usage.stderr}`);
        });

        it('sagactl stuck --older-than 1: an ACCEPTED order idle for longer is listed; a PAID one (timer to come) and a completed one are not', async () => {
                accepted = await placeOrder(p, customer, store, [[store.menu[0], 3]]);
                await waitStatus(p, owner, accepted.id, 'PAID');
                await storeAction(p, owner, store.id, accepted.id, 'accept', 'ACCEPTED');
                paid = await placeOrder(p, customer, store, [[store.menu[0], 4]]);
                await sleep(2500);
                const j = await p.sagactl('stuck', '--older-than', '1', '--json');
                assert.equal(j.code, 0, `sagactl stuck --json: exit ${j.code}, stderr ${j.stderr}`);
                const list = jsonLines(j.stdout, 'sagactl stuck --json');
                const ids = list.map((s) => s.order_id);
                assert.ok(ids.includes(accepted.id), `an ACCEPTED order idle 2.5 s is stuck for --older-than 1: ${JSON.stringify(list)}`);
                assert.ok(!ids.includes(paid.id), `a PAID order waits for the store deadline, not stuck: ${JSON.stringify(list)}`);
                assert.ok(!ids.includes(completed.id), `a completed order is not stuck: ${JSON.stringify(list)}`);
                const mine = list.find((s) => s.order_id === accepted.id);
                assert.equal(mine.state, 'ACCEPTED');
                assert.deepEqual(mine, { ...(await adminSaga(p, admin, accepted.id)), steps: mine.steps }, 'stuck entry vs GET /admin/sagas/{id} (fields other than steps)');

                const t = await p.sagactl('stuck', '--older-than', '1');
                assert.equal(t.code, 0, `sagactl stuck: exit ${t.code}, stderr ${t.stderr}`);
                assert.ok(t.stdout.includes(accepted.id), `sagactl stuck lists ${accepted.id}:\n${t.stdout}`);
                assert.match(t.stdout, new RegExp(`^${list.length} stuck saga\\(s\\)$`, 'm'), `sagactl stuck ends with the count:\n${t.stdout}`);
                // The default threshold (STUCK_AFTER_S, 900 s) is far away.
                const d = await p.sagactl('stuck', '--json');
                assert.equal(d.code, 0, `sagactl stuck (default): exit ${d.code}, stderr ${d.stderr}`);
                assert.deepEqual(jsonLines(d.stdout, 'sagactl stuck --json').map((s) => s.order_id), [], 'nothing is stuck for 900 s yet');
                assert.equal((await p.sagactl('stuck', '--older-than', 'soon')).code, 2, 'sagactl stuck --older-than soon: usage error');
        });

        it('a refund nobody answers (payment worker down): COMPENSATION_FAILED after its tries; redrive clears the flag and re-sends; the worker returns, one refund', async () => {
                const o = await placeOrder(p, customer, store, [[store.menu[1], 5]]);
                await waitStatus(p, owner, o.id, 'PAID');
                const [exit] = await p.kill('payment');
                assert.equal(exit.killed, false, 'payment worker needed SIGKILL');
                try {
                        await storeAction(p, owner, store.id, o.id, 'refuse', 'REFUSED', { reason: 'no rider today' });
                        let s;
                        try {
                                s = await p.waitFor(async () => {
                                        const x = await adminSaga(p, admin, o.id);
                                        return x.compensation_failed && x;
                                }, 30_000, 250);
                        } catch {
                                s = await adminSaga(p, admin, o.id);
                                assert.fail(`compensation_failed not set within 30 s with ${MAX_ATTEMPTS} tries ${RESEND_MS} ms apart: ${JSON.stringify(s)}`);
                        }
                        assert.equal(s.state, 'REFUSED');
                        const refund = sagaSteps(s, { kind: 'compensation', step: 'refund' });
                        assert.equal(refund.length, 1, `one refund compensation: ${JSON.stringify(s.steps)}`);
                        assert.notEqual(refund[0].detail, 'answered', `the refund is not answered: ${JSON.stringify(refund[0])}`);
                        assert.equal(refund[0].attempt, MAX_ATTEMPTS, `tries of the refund: ${JSON.stringify(refund[0])}`);
                        const v = await getOrder(p, customer, o.id);
                        assert.equal(v.amount_refunded, 0, 'nothing refunded while the payment worker is down');

                        const t = await p.sagactl('stuck', '--older-than', '1');
                        assert.equal(t.code, 0, `sagactl stuck: exit ${t.code}, stderr ${t.stderr}`);
                        const line = t.stdout.split('\n').find((l) => l.startsWith(o.id));
                        assert.ok(line && /REFUSED COMPENSATION_FAILED/.test(line), `sagactl stuck shows ${o.id} as REFUSED COMPENSATION_FAILED:\n${t.stdout}`);
                        // The orchestrator's gauge counts it too (its janitor refreshes it every 5 s).
                        const [orchestrator] = p.find('orchestrator');
                        const stuck = await p.waitFor(async () => (await serviceMetric(orchestrator, 'food_sagas_stuck')) >= 1, 15_000, 250).catch(() => false);
                        assert.ok(stuck, `food_sagas_stuck counts ${o.id}: ${await serviceMetric(orchestrator, 'food_sagas_stuck')}`);
                        const orch = (await p.sql('SELECT 1')) && p.find('orchestrator')[0].log;
                        const log = (await import('node:fs')).readFileSync(orch, 'utf8');
                        assert.ok(log.split('\n').some((l) => l.includes(o.id) && l.includes('COMPENSATION_FAILED')), `the orchestrator logs COMPENSATION_FAILED for ${o.id}`);

                        // The operator redrives while the worker is still down: the flag goes, the refund is sent again.
                        const r = await p.sagactl('redrive', o.id);
                        assert.equal(r.code, 0, `sagactl redrive: exit ${r.code}, stderr ${r.stderr}`);
                        assert.match(r.stdout, /^1 saga\(s\) redriven$/m, `sagactl redrive ${o.id}: ${r.stdout}`);
                        assert.equal((await adminSaga(p, admin, o.id)).compensation_failed, false, 'redrive clears COMPENSATION_FAILED');
                } finally {
                        await p.start('payment');
                }
                // The commands waiting in JetStream reach the returning worker: the refund lands, once.
                const v = await waitRefunded(p, customer, o.id, 'REFUSED');
                assert.equal(v.amount_refunded, o.total);
                const l = ledgerOf(await pspLedger(p), o.id);
                assert.equal(l.refunds.length, 1, `one refund on the PSP after the worker returned: ${JSON.stringify(l.refunds)}`);
                assert.equal(l.net, 0, 'charged - refunded');

                const after = await p.waitFor(async () => {
                        const x = await adminSaga(p, admin, o.id);
                        return !x.compensation_failed && x.steps.filter((st) => st.kind === 'compensation').every((st) => st.detail === 'answered') && x;
                }, WAIT_MS).catch(() => null);
                assert.ok(after, `after the worker returned: no flag and every compensation answered: ${JSON.stringify(await adminSaga(p, admin, o.id))}`);
                await sleep(1000);
                assert.equal(ledgerOf(await pspLedger(p), o.id).refunds.length, 1, 'the redrive paid nothing twice');
                const j = await p.sagactl('stuck', '--older-than', '1', '--json');
                assert.ok(!jsonLines(j.stdout, 'sagactl stuck --json').some((s) => s.order_id === o.id), `${o.id} no longer stuck:\n${j.stdout}`);
                const [orchestrator] = p.find('orchestrator');
                const gone = await p.waitFor(async () => (await serviceMetric(orchestrator, 'food_sagas_stuck')) === 0, 15_000, 250).catch(() => false);
                assert.ok(gone, `food_sagas_stuck back to 0: ${await serviceMetric(orchestrator, 'food_sagas_stuck')}`);
                const none = await p.sagactl('redrive', 'ord_0123456789abcdef01234567');
                assert.equal(none.code, 0, `sagactl redrive of an unknown order: exit ${none.code}, stderr ${none.stderr}`);
                assert.match(none.stdout, /^0 saga\(s\) redriven$/m, `redrive of an unknown order: ${none.stdout}`);
        });

        it('once the refund landed by itself the saga is no longer COMPENSATION_FAILED (no redrive needed)', async () => {
                const o = await placeOrder(p, customer, store, [[store.menu[1], 6]]);
                await waitStatus(p, owner, o.id, 'PAID');
                await p.kill('payment');
                try {
                        await storeAction(p, owner, store.id, o.id, 'refuse', 'REFUSED', { reason: 'closed early' });
                        await p.waitFor(async () => (await adminSaga(p, admin, o.id)).compensation_failed, 30_000, 250)
                                .catch(() => assert.fail(`compensation_failed not set within 30 s for ${o.id}`));
                } finally {
                        await p.start('payment');
                }
                await waitRefunded(p, customer, o.id, 'REFUSED');
                const s = await p.waitFor(async () => {
                        const x = await adminSaga(p, admin, o.id);
                        return sagaSteps(x, { kind: 'compensation' }).every((st) => st.detail === 'answered') && x;
                }, WAIT_MS).catch(() => null) ?? await adminSaga(p, admin, o.id);
                assert.deepEqual(sagaSteps(s, { kind: 'compensation' }).map((st) => `${st.step}:${st.detail}`).sort(), ['refund:answered', 'withdraw_ticket:answered'],
                        'both compensations answered once the worker returned');
                await sleep(6000); // the orchestrator's watch runs every 5 s
                const again = await adminSaga(p, admin, o.id);
                const stuck = jsonLines((await p.sagactl('stuck', '--older-than', '1', '--json')).stdout, 'sagactl stuck --json').map((x) => x.order_id);
                assert.ok(!again.compensation_failed && !stuck.includes(o.id),
                        `${o.id}: every compensation was answered and the customer refunded, yet compensation_failed=${again.compensation_failed} and sagactl stuck ${stuck.includes(o.id) ? 'lists' : 'does not list'} it`);
        });
});
