// Poison messages on every subject a process consumes: garbage bytes, no Food-Type, a Food-Type naming another
// type, a batch holding another worker's command, and commands with impossible values (negative amount, no ids,
// text PostgreSQL refuses) inside an otherwise healthy batch. A bad message is dead-lettered whole on
// food.dlq.<durable>; a bad command alone (its batch's other commands are applied); an RPC is answered 400; a
// worker's answer to the orchestrator (core NATS) is counted and dropped. Each is logged with its subject and
// counted per subject in food_messages_poison_total on that process's /metrics; nothing crashes, no consumer
// stays stuck, and an order placed right after goes through its whole life.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { natsSend, startPlatform } from '../harness.mjs';
import { catalog, fullLifecycle, pspLedger, waitStatus, WAIT_MS } from '../flows.mjs';
import { bytesField, field, int, pb, str } from '../protobuf.mjs';

const corr = ({ order = '', step = '', attempt = 1, command = 0 } = {}) =>
        pb(order && str(1, order), step && str(2, step), int(3, attempt), command && int(4, command));
const item = (id, qty, price) => pb(str(1, id), str(2, 'forged'), int(3, qty), int(4, price));
// Order: id 1, customer_id 2, store_id 3, status 4, items 5, total 6, amount_paid 8, version 15.
const order = ({ id, customer = 'cust_poison', store = 'sto_x', status = 'PAID', total = 1000, paid = 0, version = 1, items = [item('m1', 1, 1000)] }) =>
        pb(str(1, id), str(2, customer), str(3, store), str(4, status), ...items.map((i) => bytesField(5, i)), int(6, total),
                int(8, paid), int(15, version));

// Field 1 (varint) of an RpcReply: its http_status (0 when absent, -1 when it does not decode).
function rpcStatus(buf) {
        try {
                return field(buf, 1) ?? 0;
        } catch {
                return -1;
        }
}

// The workers' durable consumers (lib/topology.c), each on food.cmd.<durable>.
const DURABLES = ['payment', 'store', 'delivery', 'coupon', 'notification'];
const GARBAGE = Buffer.from([0x0a, 0x7f, 0x41, 0xff, 0xff]); // field 1 says 127 bytes, 4 follow
const BATCH = 'food.v1.CommandBatch';
// Command oneof field numbers (proto/food.proto Command).
const CMD = { authorize: 1, refund: 2, create_ticket: 3, update_ticket: 4, withdraw_ticket: 5, open_delivery: 6, assign: 7,
        complete: 8, redeem: 10, return_coupon: 11, issue: 12 };
const command = (field, body) => bytesField(field, body);
const batch = (...commands) => pb(...commands.map((c) => bytesField(1, c)));
// A command that is fine on its own: a ticket withdrawal, for the store.
const goodWithdraw = (id) => command(CMD.withdraw_ticket, pb(bytesField(1, corr({ order: id, step: 'withdraw_ticket', command: 1 })), str(2, 'sto_x')));

// The generic poisons for a worker's subject (each dead-lettered whole), then batches that hold one impossible
// command each (dead-lettered alone; the batch is acknowledged).
function poisonsFor(worker, impossible, other) {
        const id = () => `poison-${randomUUID()}`;
        const subject = `food.cmd.${worker}`;
        return {
                whole: [
                        { what: 'garbage bytes', subject, headers: { 'Food-Type': BATCH, 'Nats-Msg-Id': id() }, payload: GARBAGE },
                        { what: 'no Food-Type', subject, headers: { 'Nats-Msg-Id': id() }, payload: batch(other) },
                        { what: 'Food-Type of another message', subject, headers: { 'Food-Type': 'food.v1.OrderStatusChanged', 'Nats-Msg-Id': id() },
                                payload: batch(other) },
                        { what: "a batch holding another worker's command", subject, headers: { 'Food-Type': BATCH, 'Nats-Msg-Id': id() },
                                payload: batch(other) },
                ],
                commands: impossible.map(([what, cmd]) => ({ what, subject, headers: { 'Food-Type': BATCH, 'Nats-Msg-Id': id() }, payload: batch(cmd) })),
        };
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

        // Messages per JetStream durable.
        function jetstreamPoisons() {
                const foreign = goodWithdraw('ord_poison0'); // a store command, poison anywhere else
                const notStore = command(CMD.redeem, pb(bytesField(1, corr({ order: 'ord_poison0', step: 'redeem_coupon', command: 1 })), str(2, 'cpn_x')));
                return {
                        payment: poisonsFor('payment', [
                                ['negative amount', command(CMD.authorize, pb(bytesField(1, corr({ order: 'ord_poison1', step: 'authorize', command: 1 })),
                                        str(2, 'cust_poison'), int(3, -5000), str(4, 'tok_ok'), str(5, `key-${randomUUID()}`)))],
                        ], foreign),
                        store: poisonsFor('store', [
                                ['negative total', command(CMD.create_ticket, pb(bytesField(1, corr({ order: 'ord_poison2', step: 'create_ticket', command: 1 })),
                                        bytesField(2, order({ id: 'ord_poison2', total: -1 }))))],
                        ], notStore),
                        delivery: poisonsFor('delivery', [
                                ['no delivery id', command(CMD.open_delivery, pb(bytesField(1, corr({ order: 'ord_poison3', step: 'open_delivery', command: 1 })), str(3, store.id)))],
                                // Refused by PostgreSQL (not UTF-8): the batch is retried command by command and only this one is dead-lettered.
                                ['address bytes that are not UTF-8', command(CMD.open_delivery, pb(bytesField(1, corr({ order: 'ord_poison6', step: 'open_delivery', command: 1 })),
                                        str(2, 'dlv_poison6'), str(3, store.id),
                                        bytesField(4, pb(str(1, 'pickup'), str(2, store.region))),
                                        bytesField(5, pb(bytesField(1, Buffer.from([0x41, 0xff, 0xfe, 0x42])), str(2, store.region)))))],
                        ], foreign),
                        coupon: poisonsFor('coupon', [
                                ['no coupon id', command(CMD.redeem, pb(bytesField(1, corr({ order: 'ord_poison4', step: 'redeem_coupon', command: 1 })), str(3, 'cust_poison'), str(4, store.id)))],
                        ], foreign),
                        notification: poisonsFor('notification', [
                                ['a command for a worker that takes rows only', foreign],
                        ], notStore),
                };
        }

        it('dead-letters, logs and counts every poison per durable and subject; an order placed next completes; no consumer is left pending', async () => {
                const procs = Object.fromEntries(DURABLES.map((d) => [d, p.find(d)[0]]));
                const before = Object.fromEntries(await Promise.all(Object.entries(procs).map(async ([k, v]) => [k, await poisonMetrics(v)])));
                for (const [k, series] of Object.entries(before)) {
                        assert.ok(Object.keys(series).length > 10, `${k}: food_messages_poison_total{subject} series on /metrics, got ${JSON.stringify(series)}`);
                }
                const charges = (await pspLedger(p)).charges.length;

                const groups = jetstreamPoisons();
                const all = Object.values(groups).flatMap((g) => [...g.whole, ...g.commands]);
                const acks = await natsSend(nats, all);
                acks.forEach((a, i) => {
                        const ack = a && JSON.parse(a.payload.toString() || '{}');
                        assert.ok(ack && ack.seq > 0 && !ack.error, `JetStream ack of '${all[i].what}' on ${all[i].subject}: ${a && a.payload}`);
                });

                // DLQ contents per durable: exactly one dead letter per poison (message or command).
                const expectDlq = Object.fromEntries(DURABLES.map((d) => [d, groups[d].whole.length + groups[d].commands.length]));
                let dlq;
                await p.waitFor(async () => {
                        const [info] = await natsSend(nats, [{ subject: '$JS.API.STREAM.INFO.FOOD_DLQ', payload: JSON.stringify({ subjects_filter: 'food.dlq.>' }) }]);
                        const subjects = JSON.parse(info.payload.toString()).state?.subjects || {};
                        dlq = Object.fromEntries(Object.keys(expectDlq).map((d) => [d, subjects[`food.dlq.${d}`] || 0]));
                        return Object.entries(expectDlq).every(([d, n]) => dlq[d] >= n);
                }, WAIT_MS).catch(() => {});
                assert.deepEqual(dlq, expectDlq, 'FOOD_DLQ messages per durable (food.dlq.<durable>)');

                // A dead letter tells operators where it came from and why; a command's names its own type.
                const [got] = await natsSend(nats, [{ subject: '$JS.API.STREAM.MSG.GET.FOOD_DLQ', payload: JSON.stringify({ last_by_subj: 'food.dlq.payment' }) }]);
                const msg = JSON.parse(got.payload.toString()).message;
                const hdrs = Buffer.from(msg.hdrs || '', 'base64').toString();
                assert.match(hdrs, /Food-Dlq-Subject: food\.cmd\.payment/, `dead letter headers: ${hdrs}`);
                assert.match(hdrs, /Food-Dlq-Reason: \S/, `dead letter headers: ${hdrs}`);
                assert.match(hdrs, /Food-Type: food\.v1\.AuthorizePayment/, `the dead command's own type: ${hdrs}`);

                // The metric's increase per subject, on the process that consumed it.
                for (const d of DURABLES) {
                        const after = await poisonMetrics(procs[d]);
                        const delta = Object.fromEntries(Object.keys(after).map((s) => [s, after[s] - (before[d][s] || 0)]).filter(([, n]) => n !== 0));
                        assert.deepEqual(delta, { [`food.cmd.${d}`]: expectDlq[d] }, `${d}: increase of food_messages_poison_total by subject`);
                        const log = fs.readFileSync(procs[d].log, 'utf8');
                        assert.ok(log.includes(`on food.cmd.${d}`) && log.includes('dead-lettering'), `${d}: a log line 'dead-lettering ... on food.cmd.${d}'`);
                }

                // Impossible values changed nothing: no charge for the negative amount.
                assert.equal((await pspLedger(p)).charges.length, charges, 'PSP charges after the poison (the negative authorize charged nothing)');

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

        it("a healthy batch with one bad command: the others are applied and answered", async () => {
                // Two store commands in one batch: a withdrawal (fine) and a ticket with a negative total (poison).
                const store_ = p.find('store')[0];
                const before = await poisonMetrics(store_);
                const id = `ord_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
                const bad = command(CMD.create_ticket, pb(bytesField(1, corr({ order: 'ord_poison7', step: 'create_ticket', command: 1 })),
                        bytesField(2, order({ id: 'ord_poison7', total: -1 }))));
                const [ack] = await natsSend(nats, [{ subject: 'food.cmd.store', headers: { 'Food-Type': BATCH, 'Nats-Msg-Id': `poison-${randomUUID()}` },
                        payload: batch(goodWithdraw(id), bad) }]);
                assert.ok(JSON.parse(ack.payload.toString()).seq > 0, `JetStream ack: ${ack.payload}`);
                await p.waitFor(async () => (await p.sql(`SELECT status FROM store.tickets WHERE order_id = '${id}'`)) === 'WITHDRAWN', WAIT_MS);
                await p.waitFor(async () => ((await poisonMetrics(store_))['food.cmd.store'] || 0) === (before['food.cmd.store'] || 0) + 1, WAIT_MS);
        });

        it('RPC subjects and answers: a poison request gets a 400 answer, a poison answer is dropped; both counted, the orchestrator keeps serving', async () => {
                const orch = p.find('orchestrator')[0];
                const before = await poisonMetrics(orch);
                const shard = 3;
                const place = `food.rpc.orders.${shard}.place`;
                const actionSubject = `food.rpc.orders.${shard}.action`;
                const action = pb(str(1, done.id), str(2, 'cancel'), str(3, 'cust_poison'), str(4, 'customer'));
                // An order id of shard 3: "ord_" + 12 hex of time + the selector byte 03 + 10 hex.
                const shardId = () => `ord_${'0'.repeat(12)}03${randomUUID().replace(/-/g, '').slice(0, 10)}`;
                const placeOrderMsg = (items, total) => pb(bytesField(1, order({ id: shardId(), store: store.id, items, total })), str(2, 'tok_ok'));
                const cases = [
                        { what: 'garbage', subject: place, headers: { 'Food-Type': 'food.v1.PlaceOrder' }, payload: GARBAGE, want: 400 },
                        { what: 'no Food-Type', subject: place, payload: GARBAGE, want: 400 },
                        { what: 'Food-Type of another request', subject: place, headers: { 'Food-Type': 'food.v1.OrderAction' }, payload: action, want: 400 },
                        { what: 'negative unit price', subject: place, headers: { 'Food-Type': 'food.v1.PlaceOrder' }, payload: placeOrderMsg([item('m1', 1, -100)], 0), want: 400 },
                        { what: 'quantity 0', subject: place, headers: { 'Food-Type': 'food.v1.PlaceOrder' }, payload: placeOrderMsg([item('m1', 0, 100)], 0), want: 400 },
                        { what: 'garbage action', subject: actionSubject, headers: { 'Food-Type': 'food.v1.OrderAction' }, payload: GARBAGE, want: 400 },
                        { what: 'garbage stuck query', subject: 'food.rpc.sagas.stuck', headers: { 'Food-Type': 'food.v1.SagaQuery' }, payload: GARBAGE, want: 400 },
                        { what: 'a verb nobody defined', subject: `food.rpc.orders.${shard}.bogus`, headers: { 'Food-Type': 'food.v1.OrderAction' }, payload: action, want: 400 },
                        { what: 'an action on an unknown order (not poison)', subject: actionSubject, headers: { 'Food-Type': 'food.v1.OrderAction' },
                                payload: pb(str(1, shardId()), str(2, 'cancel'), str(3, 'cust_poison'), str(4, 'customer')), want: 404 },
                ];
                const answers = await natsSend(nats, cases);
                answers.forEach((a, i) => {
                        assert.ok(a, `${cases[i].what}: an answer within 5 s`);
                        assert.equal(rpcStatus(a.payload), cases[i].want, `${cases[i].what}: RpcReply.http_status`);
                });
                // Workers' answers come on the orchestrator's own subject (named in its log): garbage there is dropped.
                const log0 = fs.readFileSync(orch.log, 'utf8');
                const instance = (log0.match(/orchestrator (orch_[0-9a-f]+):/) || [])[1];
                assert.ok(instance, 'the orchestrator names its instance in its log');
                await natsSend(nats, [
                        { subject: `food.ans.${instance}`, headers: { 'Food-Type': 'food.v1.ReplyBatch' }, payload: GARBAGE, reply: false },
                        { subject: `food.ans.${instance}`, headers: { 'Food-Type': 'food.v1.OrderAction' }, payload: action, reply: false },
                ]);
                let delta;
                await p.waitFor(async () => {
                        const after = await poisonMetrics(orch);
                        delta = Object.fromEntries(Object.keys(after).map((s) => [s, after[s] - (before[s] || 0)]).filter(([, d]) => d !== 0));
                        return (delta['food.ans.*'] || 0) >= 2;
                }, WAIT_MS).catch(() => {});
                assert.deepEqual(delta, { 'food.rpc.orders.*.place': 5, 'food.rpc.orders.*.action': 1, 'food.rpc.sagas.stuck': 1, other: 1, 'food.ans.*': 2 },
                        'orchestrator: increase of food_messages_poison_total by subject');
                const log = fs.readFileSync(orch.log, 'utf8');
                assert.ok(log.includes(`rpc: refusing a request on ${place}`), 'orchestrator log names the subject of a refused request');

                const next = await fullLifecycle(p, { customer, owner, rider, store, lines });
                assert.equal(next.status, 'COMPLETED', 'an order after the RPC poison');
        });
});
