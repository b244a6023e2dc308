// A worker applies every command of a fetch at once (multi-row statements, lib/worker.h's batch handler), as it
// would one after the other: one CommandBatch holding several commands of one order (a stale one among them), a
// withdrawal for a ticket that arrives in the same batch, and a poison command, sent straight to the store and
// the delivery workers with our own answer subject. Each healthy command is answered once with its row's state,
// the newest version wins, the withdrawal sticks, only the poison one is dead-lettered, and the same batch
// again (a redelivery) changes nothing.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import { natsSend, startPlatform } from '../harness.mjs';
import { WAIT_MS } from '../flows.mjs';
import { bytesField, dbl, field, fields, int, pb, str } from '../protobuf.mjs';

const BATCH = 'food.v1.CommandBatch';
const CMD = { create_ticket: 3, update_ticket: 4, withdraw_ticket: 5, open_delivery: 6, assign: 7, complete: 8 };
const REPLY = { ticket_recorded: 5, ticket_withdrawn: 6, delivery_recorded: 7, coupon_redeemed: 8, coupon_rejected: 9,
        coupon_issued: 11 };

const corr = (order, step, command, version = 0) => pb(str(1, order), str(2, step), int(3, 1), int(4, command), int(6, version));
const item = pb(str(1, 'm1'), str(2, '비빔밥'), int(3, 2), int(4, 9000));
const order = (id, status, version, total = 18000) =>
        pb(str(1, id), str(2, 'cust_batches'), str(3, 'sto_batches'), str(4, status), bytesField(5, item), int(6, total), int(15, version));
const ticket = (kind, id, status, version, command, total) =>
        bytesField(CMD[kind], pb(bytesField(1, corr(id, kind, command, version)), bytesField(2, order(id, status, version, total))));
const withdraw = (id, command) =>
        bytesField(CMD.withdraw_ticket, pb(bytesField(1, corr(id, 'withdraw_ticket', command)), str(2, 'sto_batches'), str(3, 'refused')));
const place = (text, lat, lon) => pb(str(1, text), str(2, 'mapo'), dbl(3, lat), dbl(4, lon));
const open = (id, command, version) => bytesField(CMD.open_delivery, pb(bytesField(1, corr(id, 'open_delivery', command, version)),
        str(2, id.replace('ord_', 'dlv_')), str(3, 'sto_batches'), bytesField(4, place('가게', 37.55, 126.92)),
        bytesField(5, place('집', 37.56, 126.93))));
const move = (kind, id, rider, command, version) => bytesField(CMD[kind], pb(bytesField(1, corr(id, kind, command, version)),
        str(2, id.replace('ord_', 'dlv_')), str(3, rider)));
const issue = (coupon, order, command, discount = 1000) => bytesField(12, pb(
        bytesField(1, order ? corr(order, 'issue_coupon', command) : pb(str(2, 'store_coupon'))),
        str(2, 'cust_batches'), str(3, 'sto_batches'), int(4, discount), str(5, coupon)));
const redeem = (coupon, order, command) => bytesField(10, pb(bytesField(1, corr(order, 'redeem_coupon', command)),
        str(2, coupon), str(3, 'cust_batches'), str(4, 'sto_batches')));
const batch = (...commands) => pb(...commands.map((c) => bytesField(1, c)));

// Every answer of the ReplyBatches heard: {type, order, command, status, rider, store}.
function answers(heard) {
        const out = [];
        for (const m of heard) {
                assert.equal(m.headers['Food-Type'], 'food.v1.ReplyBatch');
                for (const r of fields(m.payload).filter((f) => f.no === 1)) {
                        const [reply] = fields(r.value);
                        const type = Object.keys(REPLY).find((k) => REPLY[k] === reply.no);
                        const c = field(reply.value, 1);
                        out.push({ type, order: field(c, 1, true), command: field(c, 4), store: field(reply.value, 2, true),
                                status: field(reply.value, 3, true), rider: field(reply.value, 4, true) });
                }
        }
        return out.sort((a, b) => a.command - b.command);
}

describe('a worker applies a fetch of several commands at once, as one by one', () => {
        let p, nats;
        before(async () => {
                p = await startPlatform({ name: 'worker-batches' });
                nats = p.natsAdminUrl ?? p.natsUrl;
        });
        after(async () => { await p?.stop(); });

        // Sends `payload` to food.cmd.<worker> and collects the `expected` answers on a subject of our own.
        async function send(worker, payload, expected) {
                const to = `food.ans.test${randomUUID().replace(/-/g, '')}`;
                const acks = await natsSend(nats, [{ subject: `food.cmd.${worker}`, payload,
                        headers: { 'Food-Type': BATCH, 'Nats-Msg-Id': randomUUID(), 'Food-Answer-To': to } }],
                { listen: { subject: to, count: 1, ms: WAIT_MS } });
                assert.ok(acks[0] && !JSON.parse(acks[0].payload.toString()).error, `JetStream ack: ${acks[0]?.payload}`);
                const got = answers(acks.heard);
                assert.equal(got.length, expected, `answers heard on ${to}: ${JSON.stringify(got)}`);
                return got;
        }

        async function dlq(durable) {
                const [info] = await natsSend(nats, [{ subject: '$JS.API.STREAM.INFO.FOOD_DLQ', payload: JSON.stringify({ subjects_filter: 'food.dlq.>' }) }]);
                return JSON.parse(info.payload.toString()).state?.subjects?.[`food.dlq.${durable}`] || 0;
        }

        it('store: the newest ticket of each order, a withdrawal that sticks, the poison one dead-lettered alone', async () => {
                const a = `ord_batch${randomUUID().slice(0, 8)}`, b = `ord_batch${randomUUID().slice(0, 8)}`;
                const payload = batch(
                        ticket('create_ticket', a, 'PAID', 2, 1),
                        ticket('update_ticket', a, 'COOKING', 4, 3),
                        ticket('update_ticket', a, 'ACCEPTED', 3, 2), // older than the one before it
                        withdraw(b, 2),
                        ticket('create_ticket', b, 'PAID', 2, 1), // its withdrawal is in the same batch
                        ticket('create_ticket', `ord_batchpoison${randomUUID().slice(0, 4)}`, 'PAID', 2, 9, -1)); // negative total
                const dead = await dlq('store');
                for (const round of ['first', 'again']) {
                        const got = await send('store', payload, 5);
                        const of = (order, command) => got.find((x) => x.order === order && x.command === command);
                        for (const c of [1, 2, 3]) assert.deepEqual([of(a, c)?.type, of(a, c)?.status, of(a, c)?.store],
                                ['ticket_recorded', 'COOKING', 'sto_batches'], `${round}: answer to command ${c} of ${a}`);
                        assert.equal(of(b, 2)?.type, 'ticket_withdrawn', `${round}: the withdrawal of ${b} answered`);
                        assert.equal(of(b, 2)?.store, 'sto_batches');
                        // Tickets are written before the batch's withdrawals: first recorded, then withdrawn for good.
                        assert.deepEqual([of(b, 1)?.type, of(b, 1)?.status], ['ticket_recorded', round === 'first' ? 'PAID' : 'WITHDRAWN'],
                                `${round}: the ticket of ${b}`);
                        const rows = await p.sql(`SELECT order_id, status, version FROM store.tickets WHERE order_id IN ('${a}', '${b}') ORDER BY order_id = '${b}'`);
                        assert.equal(rows, `${a}|COOKING|4\n${b}|WITHDRAWN|2`, `${round}: the tickets`);
                }
                assert.equal(await dlq('store'), dead + 2, 'the poison command dead-lettered once per delivery of the batch, nothing else');
        });

        it('coupon: runs of issues in one statement, in order with the redemptions between them', async () => {
                const tag = randomUUID().slice(0, 8);
                // The worker takes a fetch's commands by order id (its lock order), each order's in the order sent.
                const o = `ord_batch${tag}`, paying = `ord_batchpay${tag}`;
                const [c1, c2, c3] = [1, 2, 3].map((k) => `cpn_b${tag}${k}`);
                const payload = batch(
                        issue(c1, o, 1),
                        issue(c1, o, 2), // the same coupon again
                        issue(c2, '', 0), // a store's own coupon: nobody waits for an answer
                        issue(`cpn_bpoison${tag}`, o, 3, 0), // no discount: poison
                        redeem(c3, o, 4), // before c3 is issued: one by one, there is no such coupon yet
                        redeem(c1, paying, 5), // after c1's issue
                        issue(c3, o, 6));
                const dead = await dlq('coupon');
                for (const round of ['first', 'again']) {
                        const got = await send('coupon', payload, 5);
                        const of = (order, command) => got.find((x) => x.order === order && x.command === command);
                        for (const c of [1, 2]) assert.deepEqual([of(o, c)?.type, of(o, c)?.store], ['coupon_issued', c1],
                                `${round}: the answer to issue ${c}`);
                        assert.deepEqual([of(o, 6)?.type, of(o, 6)?.store], ['coupon_issued', c3], `${round}: c3 issued`);
                        assert.equal(of(paying, 5)?.type, 'coupon_redeemed', `${round}: c1 pays for ${paying}`);
                        // Applied in order: the first time c3 did not exist yet; redelivered, it does.
                        assert.equal(of(o, 4)?.type, round === 'first' ? 'coupon_rejected' : 'coupon_redeemed',
                                `${round}: the redemption of c3 before its issue`);
                        const rows = await p.sql(`SELECT id, status, coalesce(order_id, ''), source FROM coupon.coupons
                                WHERE id IN ('${c1}', '${c2}', '${c3}') ORDER BY id`);
                        assert.equal(rows, `${c1}|REDEEMED|${paying}|cooked\n${c2}|ISSUED||store\n` +
                                `${c3}|${round === 'first' ? 'ISSUED|' : `REDEEMED|${o}`}|cooked`, `${round}: the coupons`);
                }
                assert.equal(await dlq('coupon'), dead + 2, 'the poison command dead-lettered once per delivery of the batch');
        });

        it('delivery: opened, then the newest state of each delivery; answers carry it', async () => {
                const a = `ord_batch${randomUUID().slice(0, 8)}`;
                const payload = batch(
                        move('complete', a, '', 4, 6), // names no rider: the assignment's stays
                        open(a, 2, 4),
                        move('assign', a, 'rider_batch', 3, 5),
                        move('assign', a, 'rider_batch', 3, 5), // the same command twice
                        open('ord_', 9, 1)); // no order suffix: poison
                const dead = await dlq('delivery');
                for (const round of ['first', 'again']) {
                        const got = await send('delivery', payload, 4);
                        assert.ok(got.every((x) => x.type === 'delivery_recorded' && x.order === a), `${round}: ${JSON.stringify(got)}`);
                        const [opened, ...moved] = got; // by command number: the opening first
                        assert.equal(opened.status, round === 'first' ? 'OPEN' : 'DELIVERED', `${round}: the opening's answer`);
                        for (const m of moved) assert.deepEqual([m.status, m.rider], ['DELIVERED', 'rider_batch'], `${round}: command ${m.command}`);
                        const row = await p.sql(`SELECT status, rider_id, version, pickup_text, dropoff_text, region FROM delivery.deliveries
                                WHERE order_id = '${a}'`);
                        assert.equal(row, 'DELIVERED|rider_batch|6|가게|집|mapo', `${round}: the delivery`);
                }
                assert.equal(await dlq('delivery'), dead + 2, 'the poison command dead-lettered once per delivery of the batch');
        });

        // A fetch's openings and state changes are two statements. Fetch A opens C and moves A and B (in that order);
        // fetch B, taken by the other loop meanwhile, moves B and C. Made to cross: A's second statement is held at
        // delivery A (a session of ours locks its row) after it inserted C; B starts then. Without a lock order over
        // the whole fetch, B takes B's row and waits for A's C, A then waits for B's row: a deadlock PostgreSQL ends
        // after its deadlock_timeout, one fetch applied again. With it, B waits before holding anything.
        it('delivery: two fetches sharing deliveries in crossing order wait for each other, no deadlock', async () => {
                const tag = randomUUID().slice(0, 8);
                const [a, b, c] = ['a', 'b', 'c'].map((k) => `ord_batchx${tag}${k}`);
                await send('delivery', batch(open(a, 1, 4), open(b, 1, 4)), 2);
                const logFile = `${p.logDir}/delivery.log`;
                const logFrom = fs.statSync(logFile).size;
                const waiting = async () => Number(await p.sql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'food'"
                        + " AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO deliveries%'"));
                const hold = await p.sqlSession('food');
                let first, second;
                try {
                        await hold.run('BEGIN');
                        await hold.run(`SELECT 1 FROM delivery.deliveries WHERE id = '${a.replace('ord_', 'dlv_')}' FOR UPDATE`);
                        first = send('delivery', batch(open(c, 1, 4), move('assign', a, 'rider_x', 2, 5), move('assign', b, 'rider_x', 2, 5)), 3);
                        await p.waitFor(async () => (await waiting()) === 1, WAIT_MS, 50);
                        second = send('delivery', batch(move('complete', b, 'rider_x', 3, 6), move('assign', c, 'rider_y', 2, 5)), 2);
                        await p.waitFor(async () => (await waiting()) === 2, WAIT_MS, 50);
                } finally {
                        await hold.run('ROLLBACK');
                        await hold.close();
                }
                const [got1, got2] = await Promise.all([first, second]);
                assert.ok([...got1, ...got2].every((x) => x.type === 'delivery_recorded'), JSON.stringify([got1, got2]));
                const rows = await p.sql(`SELECT order_id, status, rider_id FROM delivery.deliveries WHERE order_id IN ('${a}', '${b}', '${c}') ORDER BY order_id`);
                assert.equal(rows, `${a}|PICKED_UP|rider_x\n${b}|DELIVERED|rider_x\n${c}|PICKED_UP|rider_y`);
                const log = fs.readFileSync(logFile, 'utf8').slice(logFrom);
                assert.doesNotMatch(log, /deadlock detected/, 'the two fetches deadlocked');
        });
});
