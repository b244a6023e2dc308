// Poison messages on every subject a process consumes: garbage bytes, no Food-Type, a Food-Type naming another
// type, a payload of another type, valid protobuf with impossible values (unknown order, negative amount, state
// regression). Each is dead-lettered on food.dlq.<durable> (JetStream) or answered 400 (RPC), logged with its
// subject and counted per subject in food_messages_poison_total on that process's /metrics; nothing crashes, no
// consumer stays stuck, and an order placed right after goes through its whole life.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { natsSend, startPlatform } from '../harness.mjs';
import { catalog, fullLifecycle, pspLedger, waitStatus, WAIT_MS } from '../flows.mjs';

// ---- a minimal protobuf writer (proto/food.proto field numbers) ----
function varint(n) {
        let v = BigInt(n);
        if (v < 0n) v += 1n << 64n; // int64 negative: ten bytes, as protobuf does
        const out = [];
        while (v >= 0x80n) {
                out.push(Number(v & 0x7fn) | 0x80);
                v >>= 7n;
        }
        out.push(Number(v));
        return Buffer.from(out);
}
const tag = (no, wire) => varint((no << 3) | wire);
const bytesField = (no, b) => Buffer.concat([tag(no, 2), varint(b.length), b]);
const str = (no, s) => bytesField(no, Buffer.from(s));
const int = (no, n) => Buffer.concat([tag(no, 0), varint(n)]);
const pb = (...fields) => Buffer.concat(fields.filter(Boolean));

const corr = ({ order = '', step = '', attempt = 1, command = 0 } = {}) =>
        pb(order && str(1, order), step && str(2, step), int(3, attempt), command && int(4, command));
const item = (id, qty, price) => pb(str(1, id), str(2, 'forged'), int(3, qty), int(4, price));
// Order: id 1, customer_id 2, store_id 3, status 4, items 5, total 6, amount_paid 8, version 15.
const order = ({ id, customer = 'cust_poison', store = 'sto_x', status = 'PAID', total = 1000, paid = 0, version = 1, items = [item('m1', 1, 1000)] }) =>
        pb(str(1, id), str(2, customer), str(3, store), str(4, status), ...items.map((i) => bytesField(5, i)), int(6, total),
                int(8, paid), int(15, version));

// Decodes field 1 (varint) of an RpcReply: its http_status.
function rpcStatus(buf) {
        let i = 0;
        while (i < buf.length) {
                let key = 0, shift = 0, b;
                do { b = buf[i++]; key |= (b & 0x7f) << shift; shift += 7; } while (b & 0x80);
                const [no, wire] = [key >> 3, key & 7];
                if (wire === 0) {
                        let v = 0; shift = 0;
                        do { b = buf[i++]; v += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
                        if (no === 1) return v;
                } else if (wire === 2) {
                        let len = 0; shift = 0;
                        do { b = buf[i++]; len += (b & 0x7f) * 2 ** shift; shift += 7; } while (b & 0x80);
                        i += len;
                } else return -1;
        }
        return 0;
}

// The durable consumers of lib/bus.c's topology.
const DURABLES = ['orchestrator', 'payment', 'store', 'delivery', 'coupon', 'notification-cmd', 'notification', 'projector'];
const GARBAGE = Buffer.from([0x0a, 0x7f, 0x41, 0xff, 0xff]); // field 1 says 127 bytes, 4 follow
const ANOTHER_TYPE = 'food.v1.LoyaltyUpdated';
const anotherTypePayload = () => pb(bytesField(1, corr({ order: 'ord_poison', step: 'loyalty', command: 1 })), str(2, 'cust_poison'), str(3, 'GOLD'));

// The four generic poisons for a JetStream subject of type `type`, then the type-specific impossible ones.
function poisonsFor(subject, type, impossible) {
        const id = () => `poison-${randomUUID()}`;
        return [
                { what: 'garbage bytes', subject, headers: { 'Food-Type': type, 'Nats-Msg-Id': id() }, payload: GARBAGE },
                { what: 'no Food-Type', subject, headers: { 'Nats-Msg-Id': id() }, payload: GARBAGE },
                { what: `Food-Type ${ANOTHER_TYPE}`, subject, headers: { 'Food-Type': ANOTHER_TYPE, 'Nats-Msg-Id': id() }, payload: anotherTypePayload() },
                { what: 'a payload of another type', subject, headers: { 'Food-Type': type, 'Nats-Msg-Id': id() },
                        payload: pb(bytesField(1, order({ id: 'ord_poison' })), str(2, 'PAID')) },
                ...impossible.map(([what, payload]) => ({ what, subject, headers: { 'Food-Type': type, 'Nats-Msg-Id': id() }, payload })),
                // Refused by PostgreSQL when recorded as processed (sent as latin1 bytes: 0xff 0xfe).
                { what: 'a Nats-Msg-Id that is not UTF-8', subject, headers: { 'Food-Type': type, 'Nats-Msg-Id': `${id()}-\xff\xfe` },
                        payload: impossible[0][1] },
        ];
}

// Series of food_messages_poison_total on one process: {subject: count}.
async function poisonMetrics(proc) {
        const r = await fetch(`${proc.healthUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
        const text = await r.text();
        const out = {};
        for (const m of text.matchAll(/^food_messages_poison_total\{subject="([^"]*)"\} (\d+)$/gm)) out[m[1]] = Number(m[2]);
        return out;
}

describe('poison messages on every consumed subject', () => {
        let p, nats, customer, owner, rider, store, lines, done;

        before(async () => {
                p = await startPlatform({ name: 'poison' });
                nats = p.natsAdminUrl ?? p.natsUrl;
                const stores = await catalog(p);
                store = stores.find((s) => s.menu.length >= 2);
                lines = [[store.menu[0], 2], [store.menu[1], 1]];
                customer = await p.token('cust_poison', 'customer');
                owner = await p.token('owner_poison', 'store', store.id);
                rider = await p.token('rider_poison', 'rider');
                // One order completed before the poison: the target of the state regressions.
                done = await fullLifecycle(p, { customer, owner, rider, store, lines });
        });
        after(async () => { await p?.stop(); });

        // Messages per JetStream durable, with the process that consumes them.
        function jetstreamPoisons() {
                const statusSubject = `food.order.${done.id}.status`;
                const osc = (o, previous) => pb(bytesField(1, order(o)), str(2, previous), int(3, Date.now()));
                return {
                        payment: poisonsFor('food.cmd.payment.authorize', 'food.v1.AuthorizePayment', [
                                ['negative amount', pb(bytesField(1, corr({ order: 'ord_poison1', step: 'authorize', command: 1 })),
                                        str(2, 'cust_poison'), int(3, -5000), str(4, 'tok_ok'), str(5, `key-${randomUUID()}`))],
                        ]),
                        store: poisonsFor('food.cmd.store.create_ticket', 'food.v1.CreateTicket', [
                                ['negative total', pb(bytesField(1, corr({ order: 'ord_poison2', step: 'ticket', command: 1 })),
                                        bytesField(2, order({ id: 'ord_poison2', total: -1 })))],
                        ]),
                        delivery: poisonsFor('food.cmd.delivery.open', 'food.v1.OpenDelivery', [
                                ['no delivery id', pb(bytesField(1, corr({ order: 'ord_poison3', step: 'open_delivery', command: 1 })), str(3, store.id))],
                                // Refused by the worker or by PostgreSQL (not UTF-8): dead-lettered either way, never retried.
                                ['address bytes that are not UTF-8', pb(bytesField(1, corr({ order: 'ord_poison6', step: 'open_delivery', command: 1 })),
                                        str(2, 'dlv_poison6'), str(3, store.id),
                                        bytesField(4, pb(str(1, 'pickup'), str(2, store.region))),
                                        bytesField(5, pb(bytesField(1, Buffer.from([0x41, 0xff, 0xfe, 0x42])), str(2, store.region))))],
                        ]),
                        coupon: poisonsFor('food.cmd.coupon.redeem', 'food.v1.RedeemCoupon', [
                                ['no coupon id', pb(bytesField(1, corr({ order: 'ord_poison4', step: 'redeem_coupon', command: 1 })), str(3, 'cust_poison'), str(4, store.id))],
                        ]),
                        'notification-cmd': poisonsFor('food.cmd.notification.send', 'food.v1.NotifyCustomer', [
                                ['no customer', pb(bytesField(1, corr({ order: 'ord_poison5', step: 'thank', command: 1 })), str(3, 'THANK_YOU'))],
                        ]),
                        // food.order.> has two durables (projector, notification): both get these.
                        order: poisonsFor(statusSubject, 'food.v1.OrderStatusChanged', [
                                ['negative amount', osc({ id: done.id, customer: 'cust_poison', store: store.id, status: 'PAID', total: -1, version: 1000 }, 'PAYMENT_PENDING')],
                                ['state regression COMPLETED -> PAID', osc({ id: done.id, customer: 'cust_poison', store: store.id, status: 'PAID', total: done.total, paid: done.total, version: 1001 }, 'COMPLETED')],
                                ['unknown status', osc({ id: done.id, customer: 'cust_poison', store: store.id, status: 'SHIPPED', total: done.total, version: 1002 }, 'COMPLETED')],
                        ]),
                        orchestrator: poisonsFor('food.evt.payment.authorized', 'food.v1.PaymentAuthorized', [
                                ['reply for an unknown order', pb(bytesField(1, corr({ order: 'ord_000000000000000000000bad', step: 'authorize', command: 987654 })),
                                        str(2, 'ch_forged'), int(3, 1000))],
                                ['reply without command id', pb(bytesField(1, corr({ order: done.id, step: 'authorize' })), str(2, 'ch_forged'), int(3, 1000))],
                        ]),
                };
        }

        it('dead-letters, logs and counts every poison per durable and subject; an order placed next completes; no consumer is left pending', async () => {
                const procs = {
                        payment: p.find('payment')[0], store: p.find('store')[0], delivery: p.find('delivery')[0], coupon: p.find('coupon')[0],
                        notification: p.find('notification')[0], projector: p.find('projector')[0], orchestrator: p.find('orchestrator')[0],
                };
                const before = Object.fromEntries(await Promise.all(Object.entries(procs).map(async ([k, v]) => [k, await poisonMetrics(v)])));
                for (const [k, series] of Object.entries(before)) {
                        assert.ok(Object.keys(series).length > 10, `${k}: food_messages_poison_total{subject} series on /metrics, got ${JSON.stringify(series)}`);
                }
                const charges = (await pspLedger(p)).charges.length;

                const groups = jetstreamPoisons();
                const all = Object.values(groups).flat();
                const acks = await natsSend(nats, all);
                acks.forEach((a, i) => {
                        const ack = a && JSON.parse(a.payload.toString() || '{}');
                        assert.ok(ack && ack.seq > 0 && !ack.error, `JetStream ack of '${all[i].what}' on ${all[i].subject}: ${a && a.payload}`);
                });

                // DLQ contents per durable: exactly one dead letter per poison.
                const expectDlq = {
                        payment: groups.payment.length, store: groups.store.length, delivery: groups.delivery.length,
                        coupon: groups.coupon.length, 'notification-cmd': groups['notification-cmd'].length,
                        projector: groups.order.length, notification: groups.order.length, orchestrator: groups.orchestrator.length,
                };
                let dlq;
                await p.waitFor(async () => {
                        const [info] = await natsSend(nats, [{ subject: '$JS.API.STREAM.INFO.FOOD_DLQ', payload: JSON.stringify({ subjects_filter: 'food.dlq.>' }) }]);
                        const subjects = JSON.parse(info.payload.toString()).state?.subjects || {};
                        dlq = Object.fromEntries(Object.keys(expectDlq).map((d) => [d, subjects[`food.dlq.${d}`] || 0]));
                        return Object.entries(expectDlq).every(([d, n]) => dlq[d] >= n);
                }, WAIT_MS).catch(() => {});
                assert.deepEqual(dlq, expectDlq, 'FOOD_DLQ messages per durable (food.dlq.<durable>)');

                // A dead letter tells operators where it came from and why.
                const [got] = await natsSend(nats, [{ subject: '$JS.API.STREAM.MSG.GET.FOOD_DLQ', payload: JSON.stringify({ last_by_subj: 'food.dlq.payment' }) }]);
                const msg = JSON.parse(got.payload.toString()).message;
                const hdrs = Buffer.from(msg.hdrs || '', 'base64').toString();
                assert.match(hdrs, /Food-Dlq-Subject: food\.cmd\.payment\.authorize/, `dead letter headers: ${hdrs}`);
                assert.match(hdrs, /Food-Dlq-Reason: \S/, `dead letter headers: ${hdrs}`);

                // The metric's increase per subject, on the process that consumed it.
                const expectMetric = {
                        payment: { 'food.cmd.payment.authorize': groups.payment.length },
                        store: { 'food.cmd.store.create_ticket': groups.store.length },
                        delivery: { 'food.cmd.delivery.open': groups.delivery.length },
                        coupon: { 'food.cmd.coupon.redeem': groups.coupon.length },
                        notification: { 'food.cmd.notification.send': groups['notification-cmd'].length, 'food.order.*.status': groups.order.length },
                        projector: { 'food.order.*.status': groups.order.length },
                        orchestrator: { 'food.evt.payment.authorized': groups.orchestrator.length },
                };
                for (const [k, want] of Object.entries(expectMetric)) {
                        const after = await poisonMetrics(procs[k]);
                        const delta = Object.fromEntries(Object.keys(after).map((s) => [s, after[s] - (before[k][s] || 0)]).filter(([, d]) => d !== 0));
                        assert.deepEqual(delta, want, `${k}: increase of food_messages_poison_total by subject`);
                }

                // Logged with the subject.
                for (const [k, subject] of [['payment', 'food.cmd.payment.authorize'], ['projector', `food.order.${done.id}.status`], ['orchestrator', 'food.evt.payment.authorized']]) {
                        const log = fs.readFileSync(procs[k].log, 'utf8');
                        assert.ok(log.includes(`dead-lettering message on ${subject}`), `${k}: a log line 'dead-lettering message on ${subject}'`);
                }

                // Impossible values changed nothing: no charge for the negative amount, the completed order stays so.
                assert.equal((await pspLedger(p)).charges.length, charges, 'PSP charges after the poison (the negative authorize charged nothing)');
                const view = await waitStatus(p, customer, done.id, 'COMPLETED');
                assert.equal(view.total, done.total, 'the read model kept the completed order');

                // The next good order goes through its whole life.
                const next = await fullLifecycle(p, { customer, owner, rider, store, lines });
                assert.equal(next.status, 'COMPLETED');

                // No consumer is stuck: nothing pending or unacknowledged anywhere.
                let consumers;
                await p.waitFor(async () => {
                        const r = await fetch(`${p.natsMonitorUrl}/jsz?consumers=true`, { signal: AbortSignal.timeout(5000) });
                        const jsz = await r.json();
                        consumers = (jsz.account_details || []).flatMap((a) => a.stream_detail || []).flatMap((s) => (s.consumer_detail || [])
                                .filter((c) => DURABLES.includes(c.name))
                                .map((c) => ({ stream: s.name, name: c.name, pending: c.num_pending, ack_pending: c.num_ack_pending })));
                        return consumers.length === DURABLES.length && consumers.every((c) => c.pending === 0 && c.ack_pending === 0);
                }, WAIT_MS).catch(() => {});
                assert.equal(consumers.length, DURABLES.length, `durable consumers in /jsz: ${JSON.stringify(consumers)}`);
                assert.deepEqual(consumers.filter((c) => c.pending !== 0 || c.ack_pending !== 0), [], 'consumers with pending or unacknowledged messages');
        });

        it('the projector refuses a newer event that moves an order backwards; the read model keeps its status', async () => {
                const projector = p.find('projector')[0];
                const before = await poisonMetrics(projector);
                const regress = pb(bytesField(1, order({ id: done.id, customer: 'cust_poison', store: store.id, status: 'PAID', total: done.total, paid: done.total, version: 5000 })),
                        str(2, 'PAYMENT_PENDING'), int(3, Date.now()));
                // The notification worker has no order state: a forward-looking event is a notification to it.
                const [ack] = await natsSend(nats, [{ subject: `food.order.${done.id}.status`, headers: { 'Food-Type': 'food.v1.OrderStatusChanged', 'Nats-Msg-Id': `poison-${randomUUID()}` }, payload: regress }]);
                assert.ok(JSON.parse(ack.payload.toString()).seq > 0, `JetStream ack: ${ack.payload}`);
                await p.waitFor(async () => ((await poisonMetrics(projector))['food.order.*.status'] || 0) > (before['food.order.*.status'] || 0), WAIT_MS);
                const view = await waitStatus(p, customer, done.id, 'COMPLETED');
                assert.equal(view.status, 'COMPLETED', 'read model status after a backwards event');
        });

        it('RPC subjects: a poison request gets a 400 answer, is counted per subject, and the orchestrator keeps serving', async () => {
                const orch = p.find('orchestrator')[0];
                const before = await poisonMetrics(orch);
                const place = 'food.rpc.orders.place';
                const action = pb(str(1, done.id), str(2, 'cancel'), str(3, 'cust_poison'), str(4, 'customer'));
                const placeOrderMsg = (items, total) => pb(bytesField(1, order({ id: `ord_${randomUUID().replace(/-/g, '').slice(0, 24)}`, store: store.id, items, total })), str(2, 'tok_ok'));
                const cases = [
                        { what: 'garbage', subject: place, headers: { 'Food-Type': 'food.v1.PlaceOrder' }, payload: GARBAGE, want: 400 },
                        { what: 'no Food-Type', subject: place, payload: GARBAGE, want: 400 },
                        { what: 'Food-Type of another request', subject: place, headers: { 'Food-Type': 'food.v1.OrderAction' }, payload: action, want: 400 },
                        { what: 'negative unit price', subject: place, headers: { 'Food-Type': 'food.v1.PlaceOrder' }, payload: placeOrderMsg([item('m1', 1, -100)], 0), want: 400 },
                        { what: 'quantity 0', subject: place, headers: { 'Food-Type': 'food.v1.PlaceOrder' }, payload: placeOrderMsg([item('m1', 0, 100)], 0), want: 400 },
                        { what: 'garbage action', subject: 'food.rpc.orders.action', headers: { 'Food-Type': 'food.v1.OrderAction' }, payload: GARBAGE, want: 400 },
                        { what: 'garbage saga query', subject: 'food.rpc.sagas.query', headers: { 'Food-Type': 'food.v1.SagaQuery' }, payload: GARBAGE, want: 400 },
                        { what: 'a subject nobody defined', subject: 'food.rpc.orders.bogus', headers: { 'Food-Type': 'food.v1.OrderAction' }, payload: action, want: 400 },
                        { what: 'an action on an unknown order (not poison)', subject: 'food.rpc.orders.action', headers: { 'Food-Type': 'food.v1.OrderAction' },
                                payload: pb(str(1, 'ord_000000000000000000000bad'), str(2, 'cancel'), str(3, 'cust_poison'), str(4, 'customer')), want: 404 },
                ];
                const answers = await natsSend(nats, cases);
                answers.forEach((a, i) => {
                        assert.ok(a, `${cases[i].what}: an answer within 5 s`);
                        assert.equal(rpcStatus(a.payload), cases[i].want, `${cases[i].what}: RpcReply.http_status`);
                });
                const after = await poisonMetrics(orch);
                const delta = Object.fromEntries(Object.keys(after).map((s) => [s, after[s] - (before[s] || 0)]).filter(([, d]) => d !== 0));
                assert.deepEqual(delta, { [place]: 5, 'food.rpc.orders.action': 1, 'food.rpc.sagas.query': 1, other: 1 }, 'orchestrator: increase of food_messages_poison_total by subject');
                const log = fs.readFileSync(orch.log, 'utf8');
                assert.ok(log.includes(`rpc: refusing a request on ${place}`), 'orchestrator log names the subject of a refused request');

                const next = await fullLifecycle(p, { customer, owner, rider, store, lines });
                assert.equal(next.status, 'COMPLETED', 'an order after the RPC poison');
        });
});
