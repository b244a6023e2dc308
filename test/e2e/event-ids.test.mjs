// Status events keep their identity whatever PostgreSQL remembers (issue 11, fixes 3 and 4).
// 3: a status event's Nats-Msg-Id must never come back. After PostgreSQL forgot commits it had confirmed (an
//    asynchronous replica promoted, a point-in-time restore) the shard's event numbers are given again; an id made
//    from them would be dropped by JetStream as a duplicate of the forgotten event (its window is 120 s), and the
//    order's status events would be lost without a trace.
// 4: an event row nobody can decode is still published as it was stored, never skipped or marked published unsent.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { natsSend, startPlatform } from '../harness.mjs';
import { catalog, placeOrder, storeAction, WAIT_MS } from '../flows.mjs';

describe('event identity', () => {
        let p, store, customer, owner;

        before(async () => {
                p = await startPlatform({ name: 'event-ids' });
                // No automatic ANALYZE of the events during this file: the prune test below wants the table as a
                // fresh one is (no statistics), where the planner once read every event by the primary key.
                await p.sql('ALTER TABLE orchestrator.events SET (autovacuum_enabled = off)');
                store = (await catalog(p))[0];
                customer = await p.token('cust_event_ids', 'customer');
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
        });
        after(async () => { await p?.stop(); });

        // How many messages FOOD_ORDER holds on an order's status subject.
        const inStream = async (id) => {
                const subject = `food.order.${id}.status`;
                const [a] = await natsSend(p.natsAdminUrl, [{ subject: '$JS.API.STREAM.INFO.FOOD_ORDER', payload: JSON.stringify({ subjects_filter: subject }) }]);
                return JSON.parse(a.payload.toString()).state?.subjects?.[subject] ?? 0;
        };
        const num = async (q) => Number(await p.sql(q));
        const shardOf = (id) => num(`SELECT shard FROM orchestrator.sagas WHERE order_id = '${id}'`);
        const eventsOf = (id) => num(`SELECT count(*) FROM orchestrator.events WHERE order_id = '${id}'`);

        // First in the file: the janitor's first prunes run while the table is empty, as on a fresh install.
        it('a prune with nothing expired reads only the age index, not every event of the shards', async () => {
                // Eight prunes or so of the empty table first (one a second; PostgreSQL makes a statement's generic
                // plan at its sixth run): a plan made then and kept deleted by a sequential scan of every event at
                // each prune (`ctid = ANY(...)` as a filter), 5,000 pages a second in a benchmark's first minute.
                await new Promise((r) => setTimeout(r, 9000));
                // Then 20,000 young events, published (numbered below the watermark), and no statistics yet: where
                // the planner once preferred the primary key on "shard = ANY(owned)" and read every event each second,
                // between the writer's batches.
                await p.sql(`BEGIN;
                        INSERT INTO orchestrator.shards (shard, published) VALUES (5, 0) ON CONFLICT (shard) DO NOTHING;
                        INSERT INTO orchestrator.events (shard, seq, order_id, msg_id, payload)
                                SELECT 5, -i, 'ord_young_' || i, 'young-' || i, '\\x00'::bytea FROM generate_series(1, 20000) AS i;
                        COMMIT`);
                const pkeyRead = () => num(`SELECT idx_tup_read FROM pg_stat_user_indexes WHERE schemaname = 'orchestrator' AND indexrelname = 'events_pkey'`);
                const seqRead = () => num(`SELECT seq_tup_read FROM pg_stat_user_tables WHERE schemaname = 'orchestrator' AND relname = 'events'`);
                const before = await pkeyRead(), seqBefore = await seqRead();
                try {
                        await new Promise((r) => setTimeout(r, 3500)); // three prunes at least (JANITOR_PRUNE_EVERY_MS)
                        const read = (await pkeyRead()) - before, scanned = (await seqRead()) - seqBefore;
                        assert.ok(read < 20000, `the prunes read ${read} events by the primary key`);
                        assert.ok(scanned < 20000, `the prunes read ${scanned} events by sequential scans`);
                        assert.equal(await num(`SELECT count(*) FROM orchestrator.events WHERE order_id LIKE 'ord_young_%'`), 20000, 'young events stay');
                } finally {
                        await p.sql(`DELETE FROM orchestrator.events WHERE order_id LIKE 'ord_young_%'`);
                }
        });

        it('after PostgreSQL forgot confirmed events, the event numbers given again carry new events into the stream', async () => {
                const a = await placeOrder(p, customer, store, [[store.menu[0], 1]]);
                await storeAction(p, owner, store.id, a.id, 'accept', 'ACCEPTED');
                const shard = await shardOf(a.id);
                const nA = await eventsOf(a.id);
                assert.ok(nA >= 2, `order A has its status events (${nA})`);
                await p.waitFor(async () => (await inStream(a.id)) === nA, WAIT_MS);
                const first = await num(`SELECT min(seq) FROM orchestrator.events WHERE order_id = '${a.id}'`);

                // PostgreSQL forgets everything of the shard from A's first event on, as a restore to just before would.
                await p.kill('orchestrator');
                await p.sql(`BEGIN;
                        DELETE FROM orchestrator.events WHERE shard = ${shard} AND seq >= ${first};
                        UPDATE orchestrator.shards SET published = ${first - 1} WHERE shard = ${shard};
                        DELETE FROM orchestrator.sagas WHERE order_id = '${a.id}';
                        DELETE FROM readmodel.orders WHERE id = '${a.id}';
                        COMMIT`);
                await p.start('orchestrator');

                // The next order of the same shard (the shard follows the Idempotency-Key) takes A's numbers again.
                let b;
                for (let i = 0; i < 200 && !b; i++) {
                        const o = await placeOrder(p, customer, store, [[store.menu[0], 1]]);
                        if ((await shardOf(o.id)) === shard) b = o;
                }
                assert.ok(b, `an order landed in shard ${shard}`);
                await storeAction(p, owner, store.id, b.id, 'accept', 'ACCEPTED');
                const reused = await num(`SELECT count(*) FROM orchestrator.events WHERE order_id = '${b.id}' AND seq BETWEEN ${first} AND ${first + nA - 1}`);
                assert.ok(reused > 0, `order B's events reuse the forgotten numbers ${first}..${first + nA - 1}`);
                const nB = await eventsOf(b.id);
                const seen = await p.waitFor(async () => (await inStream(b.id)) === nB, WAIT_MS).catch(() => false);
                assert.ok(seen, `order B's ${nB} status events reached FOOD_ORDER: ${await inStream(b.id)} there`);
        });

        it('an event row that does not decode is published as stored and the watermark passes it', async () => {
                const o = await placeOrder(p, customer, store, [[store.menu[0], 1]]);
                const shard = await shardOf(o.id);
                await p.waitFor(async () => (await inStream(o.id)) === (await eventsOf(o.id)), WAIT_MS);
                const odd = `ord_${'f'.repeat(24)}`;
                await p.kill('orchestrator');
                const seq = await num(`INSERT INTO orchestrator.events (shard, seq, order_id, msg_id, payload)
                        SELECT ${shard}, coalesce(max(seq), 0) + 1, '${odd}', '${randomUUID()}', '\\x0a7f41'::bytea
                        FROM orchestrator.events WHERE shard = ${shard} RETURNING seq`);
                await p.start('orchestrator');
                const passed = await p.waitFor(async () => (await num(`SELECT published FROM orchestrator.shards WHERE shard = ${shard}`)) >= seq, WAIT_MS)
                        .catch(() => false);
                assert.ok(passed, `the shard's watermark reached the odd event ${seq}`);
                assert.equal(await inStream(odd), 1, 'the odd event is in FOOD_ORDER, bytes as stored');
                const [m] = await natsSend(p.natsAdminUrl, [{ subject: '$JS.API.STREAM.MSG.GET.FOOD_ORDER', payload: JSON.stringify({ last_by_subj: `food.order.${odd}.status` }) }]);
                const got = JSON.parse(m.payload.toString()).message;
                assert.equal(Buffer.from(got.data, 'base64').toString('hex'), '0a7f41', 'its payload is the row\'s bytes');
        });

        it('published events and idempotency keys past their age are deleted as fast as they expire, not a chunk a minute', async () => {
                // 10,000 of each, expired (EVENTS_KEEP_S 3600, IDEMPOTENCY_KEEP_S 86400), as an hour of a busy
                // platform leaves them; numbered below every real event (the watermark is past them).
                const recent = `SELECT count(*) FROM orchestrator.events WHERE order_id NOT LIKE 'ord_prune_%'`;
                const kept = await num(recent);
                assert.ok(kept > 0, 'the earlier orders\' events are there');
                await p.kill('orchestrator');
                await p.sql(`BEGIN;
                        INSERT INTO orchestrator.shards (shard, published) VALUES (3, 0) ON CONFLICT (shard) DO NOTHING;
                        INSERT INTO orchestrator.events (shard, seq, order_id, msg_id, payload, at)
                                SELECT 3, -i, 'ord_prune_' || i, 'prune-' || i, '\\x00'::bytea, now() - interval '2 hours'
                                FROM generate_series(1, 10000) AS i;
                        INSERT INTO orchestrator.idempotency (customer_id, key, order_id, request_hash, created_at)
                                SELECT 'cust_prune', 'key-' || i, 'ord_prune_' || i, 'h', now() - interval '2 days'
                                FROM generate_series(1, 10000) AS i;
                        COMMIT`);
                await p.start('orchestrator');
                const left = async () => num(`SELECT (SELECT count(*) FROM orchestrator.events WHERE order_id LIKE 'ord_prune_%')
                        + (SELECT count(*) FROM orchestrator.idempotency WHERE customer_id = 'cust_prune')`);
                const gone = await p.waitFor(async () => (await left()) === 0, 15000).catch(() => false);
                assert.ok(gone, `every expired row deleted within 15 s of the start: ${await left()} left`);
                assert.ok((await num(recent)) >= kept, 'events younger than EVENTS_KEEP_S stay');
        });
});
