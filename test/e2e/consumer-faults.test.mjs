// What a consumer does with a healthy message when PostgreSQL fails under it: hands it back, never drops it.
// Recipe (issue 11): a statement of the projector's batch waits on a lock another session holds, its
// PostgreSQL session is cut meanwhile, the lock is released: the status event must still reach the read
// model (redelivered). Every terminated message has its dead letter (FOOD_ADVISORY keeps nats-server's
// MSG_TERMINATED advisories).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { natsSend, startPlatform } from '../harness.mjs';
import { catalog, placeOrder, storeAction, WAIT_MS } from '../flows.mjs';

describe('consumer faults', () => {
        let p, store, customer, owner;

        before(async () => {
                p = await startPlatform({ name: 'consumer-faults' });
                store = (await catalog(p))[0];
                customer = await p.token('cust_faults', 'customer');
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
        });
        after(async () => { await p?.stop(); });

        // The read model's status of an order ('' when it has none).
        const readStatus = (id) => p.sql(`SELECT status FROM readmodel.orders WHERE id = '${id}'`);

        it('a status event whose batch loses its PostgreSQL session mid-way is handed back and applied', async () => {
                const o = await placeOrder(p, customer, store, [[store.menu[0], 1]]);
                await p.waitFor(async () => (await readStatus(o.id)) === 'PAID', WAIT_MS);
                const lock = await p.sqlSession();
                try {
                        // The projector's dedupe claim (its first write of a batch) now waits for this session.
                        await lock.run('BEGIN; LOCK TABLE readmodel.processed IN ACCESS EXCLUSIVE MODE');
                        await storeAction(p, owner, store.id, o.id, 'accept', 'ACCEPTED');
                        const waiting = await p.waitFor(async () => await p.sql(
                                "SELECT string_agg(pid::text, ',') FROM pg_stat_activity WHERE datname = 'food' AND wait_event_type = 'Lock'"
                                + " AND query ILIKE '%processed%' AND pid <> pg_backend_pid()") || false, WAIT_MS, 50);
                        // One call per pid: in a WHERE clause PostgreSQL may call pg_terminate_backend on every row.
                        const cut = await p.sql(`SELECT ${waiting.split(',').map((pid) => `pg_terminate_backend(${pid})`).join(', ')}`);
                        assert.ok(cut.split('|').every((t) => t === 't'), `the projector's waiting session was cut (${waiting}: ${cut})`);
                        await lock.run('ROLLBACK');
                        const applied = await p.waitFor(async () => (await readStatus(o.id)) === 'ACCEPTED', WAIT_MS, 100).catch(() => false);
                        assert.ok(applied, `the ACCEPTED event never reached the read model, which stays ${await readStatus(o.id)}`);
                } finally {
                        await lock.close();
                }
        });

        it('terminated = dead-lettered, per consumer (one poison message sent on purpose)', async () => {
                // A garbage status event: the projector and the notification worker each dead-letter it.
                const [ack] = await natsSend(p.natsAdminUrl, [{ subject: 'food.order.ord_faults.status',
                        headers: { 'Food-Type': 'food.v1.OrderStatusChanged', 'Nats-Msg-Id': `poison-${randomUUID()}` },
                        payload: Buffer.from([0x0a, 0x7f, 0x41]) }]);
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
                        return last.terminated.projector === 1 && last.terminated.notification === 1 && last;
                }, WAIT_MS, 200).catch(() => undefined);
                assert.ok(settled, `the poison's MSG_TERMINATED advisories in FOOD_ADVISORY: ${JSON.stringify(last)}`);
                assert.deepEqual(settled.terminated, settled.lettered, 'per consumer, terminated messages = dead letters');
                assert.deepEqual(settled.other, [], 'no message given up after MaxDeliver');
        });
});
