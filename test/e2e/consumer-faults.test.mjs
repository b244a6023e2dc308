// What a consumer does with a healthy message when PostgreSQL fails under it: hands it back, never drops it.
// Recipe (issue 11): a statement of the store worker's batch waits on a lock another session holds, its
// PostgreSQL session is cut meanwhile, the lock is released: the command must still be applied (redelivered by
// JetStream: the orchestrator's own re-send is set beyond the test). Every terminated message has its dead
// letter (FOOD_ADVISORY keeps nats-server's MSG_TERMINATED advisories).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import { natsSend, startPlatform } from '../harness.mjs';
import { catalog, placeOrder, storeAction, WAIT_MS } from '../flows.mjs';

describe('consumer faults', () => {
        let p, store, customer, owner;

        before(async () => {
                p = await startPlatform({ name: 'consumer-faults', env: { orchestrator: { COMMAND_RESEND_MS: '600000' } } });
                store = (await catalog(p))[0];
                customer = await p.token('cust_faults', 'customer');
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
        });
        after(async () => { await p?.stop(); });

        // The store's ticket status of an order ('' when it has none).
        const ticketStatus = (id) => p.sql(`SELECT status FROM store.tickets WHERE order_id = '${id}'`);

        it('a command whose batch loses its PostgreSQL session mid-way is handed back and applied', async () => {
                const o = await placeOrder(p, customer, store, [[store.menu[0], 1]]);
                await p.waitFor(async () => (await ticketStatus(o.id)) === 'PAID', WAIT_MS);
                const lock = await p.sqlSession();
                try {
                        // The store worker's ticket upsert (its first write of a batch) now waits for this session.
                        await lock.run('BEGIN; LOCK TABLE store.tickets IN ACCESS EXCLUSIVE MODE');
                        await storeAction(p, owner, store.id, o.id, 'accept', 'ACCEPTED');
                        const waiting = await p.waitFor(async () => await p.sql(
                                "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE datname = 'food' AND wait_event_type = 'Lock'"
                                + " AND query ILIKE '%tickets%' AND pid <> pg_backend_pid()") || false, WAIT_MS, 50);
                        // One call per pid: in a WHERE clause PostgreSQL may call pg_terminate_backend on every row.
                        const cut = await p.sql(`SELECT ${waiting.split(',').map((pid) => `pg_terminate_backend(${pid})`).join(', ')}`);
                        assert.ok(cut.split('|').every((t) => t === 't'), `the store worker's waiting session was cut (${waiting}: ${cut})`);
                        await lock.run('ROLLBACK');
                        const applied = await p.waitFor(async () => (await ticketStatus(o.id)) === 'ACCEPTED', WAIT_MS, 100).catch(() => false);
                        assert.ok(applied, `the ACCEPTED ticket update was never applied; the ticket stays ${await ticketStatus(o.id)}`);
                } finally {
                        await lock.close();
                }
        });

        it('a durable left with the old BackOff list is brought to the topology\'s settings by the set-up step, in place', async () => {
                // nats-server 2.9 waits BackOff[n] - AckWait + delay after a NAK with a delay: with the old list
                // (5/15/30/60 s) the waits were 1, 12, 29, 63 s... food-setup (run on every install and upgrade)
                // takes the list away in place; the worker may not change its durable and says so at start.
                const admin = p.natsAdminUrl;
                const info = async () => {
                        const [a] = await natsSend(admin, [{ subject: '$JS.API.CONSUMER.INFO.FOOD_CMD.coupon' }]);
                        return JSON.parse(a.payload.toString());
                };
                const now = (await info()).config;
                await p.kill('coupon');
                const [old] = await natsSend(admin, [{ subject: '$JS.API.CONSUMER.DURABLE.CREATE.FOOD_CMD.coupon',
                        payload: JSON.stringify({ stream_name: 'FOOD_CMD', config: { ...now, ack_wait: 5e9, backoff: [5e9, 15e9, 30e9, 60e9] } }) }]);
                const set = JSON.parse(old.payload.toString());
                assert.deepEqual(set.config?.backoff, [5e9, 15e9, 30e9, 60e9], `the old settings were put back: ${old.payload}`);
                await p.start('coupon');
                const [coupon] = p.find('coupon');
                assert.match(fs.readFileSync(coupon.log, 'utf8'), /consumer coupon differs from this version's topology: run food-setup/);
                assert.deepEqual((await info()).config.backoff, [5e9, 15e9, 30e9, 60e9], 'the worker left its durable alone');
                await p.setupNats();
                const after = await info();
                assert.equal(after.config.backoff, undefined, `no BackOff list after the start: ${JSON.stringify(after.config)}`);
                assert.equal(after.config.ack_wait, now.ack_wait, 'AckWait is the topology\'s');
                assert.equal(after.delivered.stream_seq >= set.delivered.stream_seq, true, 'updated in place: its position kept');
                assert.equal(new Date(after.created).getTime(), new Date(set.created).getTime(), 'the same consumer, not a new one');
        });

        it('terminated = dead-lettered, per consumer (poison messages sent on purpose)', async () => {
                // Garbage for the store and the delivery workers: each dead-letters its own.
                const acks = await natsSend(p.natsAdminUrl, ['store', 'delivery'].map((w) => ({ subject: `food.cmd.${w}`,
                        headers: { 'Food-Type': 'food.v1.CommandBatch', 'Nats-Msg-Id': `poison-${randomUUID()}` },
                        payload: Buffer.from([0x0a, 0x7f, 0x41]) })));
                const ack = acks[0];
                assert.ok(ack && !/error/.test(ack.payload?.toString() || ''), `the poison was stored: ${ack?.payload}`);
                const count = async () => {
                        const adv = await p.streamSample('FOOD_ADVISORY', 50);
                        const dlq = await p.streamSample('FOOD_DLQ', 50);
                        const terminated = {};
                        const lettered = {};
                        const other = [];
                        for (const m of adv.messages) {
                                const a = JSON.parse(Buffer.from(m.data || '', 'base64').toString());
                                if (a.type === 'io.nats.jetstream.advisory.v1.terminated') terminated[a.consumer] = (terminated[a.consumer] || 0) + 1;
                                else other.push(`${m.subject}: ${JSON.stringify(a)}`);
                        }
                        for (const m of dlq.messages) {
                                const durable = m.subject.replace(/^food\.dlq\./, '');
                                lettered[durable] = (lettered[durable] || 0) + 1;
                        }
                        return { terminated, lettered, other };
                };
                let last;
                const settled = await p.waitFor(async () => {
                        last = await count();
                        return last.terminated.store === 1 && last.terminated.delivery === 1 && last;
                }, WAIT_MS, 200).catch(() => undefined);
                assert.ok(settled, `the poison's MSG_TERMINATED advisories in FOOD_ADVISORY: ${JSON.stringify(last)}`);
                assert.deepEqual(settled.terminated, settled.lettered, 'per consumer, terminated messages = dead letters');
                assert.deepEqual(settled.other, [], 'no message given up after MaxDeliver');
        });
});
