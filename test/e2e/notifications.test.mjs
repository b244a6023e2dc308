// Notification delivery (SPEC F13) through the real sandbox sink: one webhook per status change, exactly once
// even across a SIGKILL of the notification worker mid-stream; retries while the provider fails; with the
// provider hanging, orders keep their pace and the backlog over NOTIFY_MAX_BACKLOG is shed (listed, never pushed,
// counted in /metrics); and the sender's throughput, printed as a diagnostic.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPlatform } from '../harness.mjs';
import {
        catalog, expectStatus, fullLifecycle, LIFECYCLE, notificationStatuses, ORDER_STATUSES, placeOrder, steps, storeAction,
        visible, waitStatus, WAIT_MS,
} from '../flows.mjs';

// Fast retries for the test: 200 ms doubling to 1 s, enough attempts to outlast a failing phase.
const NOTIFY_ENV = {
        NOTIFY_RETRY_BASE_MS: '200', NOTIFY_RETRY_MAX_MS: '1000', NOTIFY_MAX_ATTEMPTS: '60', NOTIFY_TIMEOUT_MS: '1000',
        NOTIFY_POLL_MS: '20',
        // The provider takes a list: each sender batch is one POST, with a status per message (the other e2e files,
        // chaos among them, run the one-message-per-POST webhook).
        NOTIFY_WEBHOOK_BATCH: 'true',
};

describe('notifications: webhooks to the sandbox sink, retries and shedding', () => {
        let p, store, owner, rider;
        const step = steps(it);

        before(async () => {
                p = await startPlatform({ name: 'notifications', sink: true, env: { notification: NOTIFY_ENV } });
                store = (await catalog(p)).find((s) => s.menu.length >= 2);
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
                rider = await p.token('rider_notify', 'rider');
        });
        after(async () => { await p?.stop(); });

        const worker = () => p.find('notification')[0];

        // The worker's Prometheus counter or gauge `name` (0 when absent).
        async function metric(name) {
                const r = await fetch(`${worker().healthUrl}/metrics`, { signal: AbortSignal.timeout(5000) });
                const text = await r.text();
                const m = text.match(new RegExp(`^${name} (\\d+)`, 'm'));
                return m ? Number(m[1]) : 0;
        }

        async function sinkMessages(query = '') {
                const r = expectStatus(await p.sink(`/messages${query}`), 200, 'sink GET /messages');
                assert.ok(Array.isArray(r.json?.messages), `sink GET /messages: ${r.text.slice(0, 300)}`);
                return r.json;
        }

        // The status-change webhooks the sink recorded for one order, as statuses (internal PAYMENT_PENDING and
        // other notices about the order, such as a coupon, left out).
        async function sinkStatuses(orderId) {
                return visible((await sinkMessages(`?order_id=${orderId}`)).messages.map((m) => m.status).filter((s) => ORDER_STATUSES.has(s)));
        }

        // Waits until the sink holds `expected` statuses for the order, then asserts exactly one webhook each.
        async function expectWebhooks(orderId, expected, timeoutMs = WAIT_MS) {
                const got = await p.waitFor(async () => {
                        const s = await sinkStatuses(orderId);
                        return s.length >= expected.length && s;
                }, timeoutMs).catch(() => null);
                const final = got ?? await sinkStatuses(orderId);
                assert.deepEqual([...final].sort(), [...expected].sort(), `webhooks recorded by the sink for ${orderId} (one per status change)`);
        }

        // delivery_status counts of the notification rows matching `where`.
        async function deliveryCounts(where) {
                const out = await p.sql(`SELECT delivery_status, count(*) FROM notification.pushes WHERE ${where} GROUP BY 1`);
                const counts = {};
                for (const line of out.split('\n').filter(Boolean)) {
                        const [k, v] = line.split('|');
                        counts[k] = Number(v);
                }
                return counts;
        }

        step('a full order: one webhook per status change, with the customer-facing fields', async () => {
                const customer = await p.token('cust_notify_full', 'customer');
                const o = await fullLifecycle(p, { customer, owner, rider, store, lines: [[store.menu[0], 1]] });
                await expectWebhooks(o.id, LIFECYCLE);
                const { messages, batches } = await sinkMessages(`?order_id=${o.id}`);
                assert.ok(batches > 0, `NOTIFY_WEBHOOK_BATCH=true: the sink saw no batch POST (${batches})`);
                const listed = await p.api('GET', '/customers/me/notifications', { token: customer });
                for (const m of messages) {
                        assert.equal(m.customer_id, 'cust_notify_full', `webhook customer_id: ${JSON.stringify(m)}`);
                        assert.equal(m.order_id, o.id);
                        assert.match(m.id, /^ntf_[0-9a-f-]{36}$/, `webhook id (ntf_ + the row's msg_id): ${JSON.stringify(m)}`);
                        assert.equal(m.idempotency_key, `${o.id}:${m.idempotency_key.split(':')[1]}`, 'Idempotency-Key is <order id>:<message id>');
                        assert.ok(!Number.isNaN(Date.parse(m.at)), `webhook at is RFC 3339: ${m.at}`);
                        const same = listed.json.find((n) => n.order_id === o.id && n.status === m.status);
                        assert.ok(same, `the customer's list has the ${m.status} notification the webhook carried`);
                        assert.equal(m.message, same.message, `webhook message = the listed message (${m.status})`);
                        assert.equal(m.at, same.at, `webhook at = the listed at (${m.status})`);
                }
                // ?order_id= gives that order's notifications only: all of them, none of another order; a bad id is 400.
                const other = await fullLifecycle(p, { customer, owner, rider, store, lines: [[store.menu[0], 2]] });
                const one = await p.api('GET', `/customers/me/notifications?order_id=${o.id}`, { token: customer });
                assert.equal(one.status, 200);
                assert.ok(one.json.every((n) => n.order_id === o.id), `GET ...?order_id= answered other orders: ${one.text}`);
                for (const n of listed.json.filter((x) => x.order_id === o.id)) {
                        assert.ok(one.json.some((m) => JSON.stringify(m) === JSON.stringify(n)), `GET ...?order_id= lacks ${JSON.stringify(n)}`);
                }
                assert.ok(!one.json.some((n) => n.order_id === other.id));
                const stranger = await p.api('GET', `/customers/me/notifications?order_id=${o.id}`, { token: await p.token('cust_notify_stranger') });
                assert.deepEqual(stranger.json, [], 'another customer sees none of this order\'s notifications');
                const bad = await p.api('GET', '/customers/me/notifications?order_id=no%20such%0Aid', { token: customer });
                assert.equal(bad.status, 400, `a malformed order_id: ${bad.status} ${bad.text}`);
                // Every row of the order ends 'sent' after one attempt; the list is unchanged by delivery.
                await p.waitFor(async () => {
                        const c = await deliveryCounts(`order_id = '${o.id}'`);
                        return Object.keys(c).length === 1 && c.sent >= LIFECYCLE.length;
                }, WAIT_MS);
                assert.deepEqual(visible(await notificationStatuses(p, customer, o.id)).sort(), [...LIFECYCLE].sort());
                assert.ok(await metric('food_notifications_sent_total') >= LIFECYCLE.length, 'food_notifications_sent_total');
        });

        step('killed (SIGKILL) with webhooks in flight and restarted: still exactly one webhook per status change', async () => {
                const customer = await p.token('cust_notify_kill', 'customer');
                const dupBefore = (await sinkMessages('?order_id=none')).duplicates;
                // A slow provider (800 ms, under the 1 s timeout) keeps requests in flight when the worker dies.
                expectStatus(await p.sink('/config', { method: 'PUT', body: { latency_ms: 800 } }), 200, 'sink PUT /config');
                const runs = [0, 1, 2, 3, 4].map((i) => fullLifecycle(p, { customer, owner, rider, store, lines: [[store.menu[i % 2], i + 1]] }));
                // Rows of these orders are recorded and being pushed (the provider takes 800 ms each).
                await p.waitFor(async () => Number(await p.sql(
                        "SELECT count(*) FROM notification.pushes WHERE customer_id = 'cust_notify_kill' AND delivery_status = 'pending'")) > 0, WAIT_MS, 10);
                await sleep(200);
                const [exit] = await p.kill('notification', 'SIGKILL');
                assert.equal(exit.signal, 'SIGKILL');
                await sleep(500);
                await p.start('notification');
                const orders = await Promise.all(runs);
                for (const o of orders) await expectWebhooks(o.id, LIFECYCLE);
                expectStatus(await p.sink('/config', { method: 'PUT', body: { latency_ms: 0 } }), 200, 'sink PUT /config');
                for (const o of orders) {
                        assert.deepEqual(visible(await notificationStatuses(p, customer, o.id)).sort(), [...LIFECYCLE].sort(),
                                `the customer's list for ${o.id}: one per status`);
                }
                // The webhooks in flight at the kill are sent again by the sweep (rows still pending 10 s after they
                // were recorded); the sink keeps one each.
                await p.waitFor(async () => Number(await p.sql(
                        "SELECT count(*) FROM notification.outbox")) === 0, WAIT_MS);
                const { duplicates } = await sinkMessages('?order_id=none');
                console.log(`# sink after the SIGKILL: ${duplicates - dupBefore} repeated deliveries absorbed by the idempotency key`);
                assert.ok(duplicates > dupBefore, 'the webhooks in flight at the kill were sent again (and recorded once)');
        });

        step('a provider that takes no lists (400 to a batch): each row goes again on its own, once, and is sent', async () => {
                const customer = await p.token('cust_notify_nolists', 'customer');
                expectStatus(await p.sink('/config', { method: 'PUT', body: { refuse_lists: true } }), 200, 'sink PUT /config');
                const batchesBefore = (await sinkMessages('?order_id=none')).batches;
                try {
                        const o = await fullLifecycle(p, { customer, owner, rider, store, lines: [[store.menu[0], 1]] });
                        await expectWebhooks(o.id, LIFECYCLE);
                        await p.waitFor(async () => {
                                const c = await deliveryCounts(`order_id = '${o.id}'`);
                                return Object.keys(c).length === 1 && c.sent >= LIFECYCLE.length;
                        }, WAIT_MS);
                        assert.equal((await sinkMessages('?order_id=none')).batches, batchesBefore,
                                'no batch was recorded while the sink refused lists');
                } finally {
                        expectStatus(await p.sink('/config', { method: 'PUT', body: { refuse_lists: false } }), 200, 'sink PUT /config');
                }
        });

        step('the provider fails for a while: attempts are retried with backoff, then delivered once', async () => {
                const customer = await p.token('cust_notify_retry', 'customer');
                const retriedBefore = await metric('food_notifications_retried_total');
                expectStatus(await p.sink('/config', { method: 'PUT', body: { failure_rate: 1 } }), 200, 'sink PUT /config');
                const o = await placeOrder(p, customer, store, [[store.menu[0], 1]]);
                await waitStatus(p, owner, o.id, 'PAID');
                await storeAction(p, owner, store.id, o.id, 'accept', 'ACCEPTED');
                // Several failed attempts each, nothing recorded by the sink, rows still waiting.
                await p.waitFor(async () => (await p.sql(
                        `SELECT count(*) FROM notification.pushes WHERE order_id = '${o.id}' AND status IN ('PAID', 'ACCEPTED') AND attempts >= 3`)) === '2', WAIT_MS);
                assert.deepEqual(await sinkStatuses(o.id), [], 'the failing sink recorded nothing');
                const c = await deliveryCounts(`order_id = '${o.id}'`);
                assert.equal(c.sent ?? 0, 0, `no row sent while the provider fails: ${JSON.stringify(c)}`);
                assert.equal(c.failed ?? 0, 0, `no row given up yet: ${JSON.stringify(c)}`);
                assert.ok(await metric('food_notifications_retried_total') >= retriedBefore + 4, 'food_notifications_retried_total grew');
                // Whole batches failed in a row: pushes wait out pauses (a probe batch after each) until the provider takes one.
                assert.equal(await metric('food_notifications_paused'), 1, 'pushes paused while every batch fails');
                expectStatus(await p.sink('/config', { method: 'PUT', body: { failure_rate: 0 } }), 200, 'sink PUT /config');
                await expectWebhooks(o.id, ['PAID', 'ACCEPTED']);
                // The sink records a push before the sender reads its answer: the gauge follows a moment later.
                await p.waitFor(async () => (await metric('food_notifications_paused')) === 0, WAIT_MS);
                const sent = await p.waitFor(async () => {
                        const out = await p.sql(`SELECT delivery_status, attempts FROM notification.pushes WHERE order_id = '${o.id}' AND status IN ('PAID', 'ACCEPTED')`);
                        const rows = out.split('\n').map((l) => l.split('|'));
                        return rows.length === 2 && rows.every(([s]) => s === 'sent') && rows;
                }, WAIT_MS);
                for (const [, attempts] of sent) assert.ok(Number(attempts) >= 3, `sent after several attempts, got ${attempts}`);
        });

        step('a provider that keeps failing: after NOTIFY_MAX_ATTEMPTS every row is failed, with its attempts and error, never pushed', async () => {
                const customer = await p.token('cust_notify_gave_up', 'customer');
                await p.restart('notification', { env: { NOTIFY_MAX_ATTEMPTS: 2 } });
                const failedBefore = await metric('food_notifications_failed_total'); // a new process counts from 0
                expectStatus(await p.sink('/config', { method: 'PUT', body: { failure_rate: 1 } }), 200, 'sink PUT /config');
                try {
                        // Four orders at once: their PAID rows fail in the same batches.
                        const orders = await Promise.all([0, 1, 2, 3].map((i) => placeOrder(p, customer, store, [[store.menu[i % 2], 1]])));
                        const ids = orders.map((o) => `'${o.id}'`).join(',');
                        const rows = await p.waitFor(async () => {
                                const out = await p.sql(`SELECT delivery_status, attempts, last_error <> '' FROM notification.pushes WHERE order_id IN (${ids}) AND status = 'PAID'`);
                                const r = out.split('\n').filter(Boolean).map((l) => l.split('|'));
                                return r.length === 4 && r.every(([s]) => s === 'failed') && r;
                        }, WAIT_MS);
                        for (const [, attempts, hasError] of rows) {
                                assert.equal(attempts, '2', 'given up after NOTIFY_MAX_ATTEMPTS attempts');
                                assert.equal(hasError, 't', 'the last error is kept');
                        }
                        assert.equal(await p.sql(`SELECT count(*) FROM notification.outbox o JOIN notification.notifications n USING (msg_id) WHERE n.order_id IN (${ids}) AND n.status = 'PAID'`), '0',
                                'failed rows left the outbox');
                        assert.ok(await metric('food_notifications_failed_total') >= failedBefore + 4, 'food_notifications_failed_total counts them');
                        for (const o of orders) assert.deepEqual(await sinkStatuses(o.id), [], 'the failing sink recorded nothing');
                } finally {
                        expectStatus(await p.sink('/config', { method: 'PUT', body: { failure_rate: 0 } }), 200, 'sink PUT /config');
                        await p.restart('notification', { env: { NOTIFY_MAX_ATTEMPTS: NOTIFY_ENV.NOTIFY_MAX_ATTEMPTS } });
                }
        });

        step('the provider hangs: orders keep their pace, the backlog over its bound is shed and counted', async () => {
                const customer = await p.token('cust_notify_hang', 'customer');
                // place -> PAID in the store's inbox -> accepted: the latency the customer and the store see.
                async function placeAndAccept(i) {
                        const t0 = performance.now();
                        const o = await placeOrder(p, customer, store, [[store.menu[i % 2], 1]]);
                        await waitStatus(p, owner, o.id, 'PAID');
                        await storeAction(p, owner, store.id, o.id, 'accept', 'ACCEPTED');
                        return { o, ms: performance.now() - t0 };
                }
                const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
                const baseline = [];
                for (let i = 0; i < 5; i++) baseline.push((await placeAndAccept(i)).ms);

                // One sender thread with two requests in flight, at most 5 waiting: easy to overflow.
                const [calm] = await p.restart('notification', { env: { NOTIFY_MAX_BACKLOG: 5, NOTIFY_THREADS: 1, NOTIFY_BATCH: 2 } });
                assert.deepEqual([calm.code, calm.killed], [0, false], `SIGTERM with the sender idle: exit ${JSON.stringify(calm)}`);
                const shedBefore = await metric('food_notifications_shed_total');
                expectStatus(await p.sink('/config', { method: 'PUT', body: { latency_ms: 10000 } }), 200, 'sink PUT /config');
                const hanging = [];
                const placed = [];
                for (let i = 0; i < 10; i++) {
                        const { o, ms } = await placeAndAccept(i);
                        hanging.push(ms);
                        placed.push(o);
                }
                const b = median(baseline), h = median(hanging);
                console.log(`# place->accept median: ${b.toFixed(0)} ms with the sink answering, ${h.toFixed(0)} ms with it hanging`);
                assert.ok(h <= 3 * b + 500, `place->accept slowed by the hanging provider: median ${h.toFixed(0)} ms vs ${b.toFixed(0)} ms before`);

                // 20 new notifications (PAID, ACCEPTED x 10), at most 2 in flight and 5 waiting: the rest is shed.
                const ids = placed.map((o) => `'${o.id}'`).join(',');
                await p.waitFor(async () => (await metric('food_notifications_shed_total')) > shedBefore, WAIT_MS);
                const counts = await p.waitFor(async () => {
                        const c = await deliveryCounts(`order_id IN (${ids})`);
                        return (c.shed ?? 0) >= 10 && c;
                }, WAIT_MS);
                assert.ok((counts.sent ?? 0) === 0, `nothing reached the hanging provider: ${JSON.stringify(counts)}`);
                assert.ok(await metric('food_notifications_backlog') <= 5, 'food_notifications_backlog within NOTIFY_MAX_BACKLOG');
                // Shed notifications are still in the customer's list (the last events may still be on their way to
                // the worker: wait for them, then require both).
                for (const o of placed) {
                        const list = async () => visible(await notificationStatuses(p, customer, o.id)).sort();
                        await p.waitFor(async () => (await list()).length >= 2, WAIT_MS).catch(() => {});
                        assert.deepEqual(await list(), ['ACCEPTED', 'PAID'], `the customer's list for ${o.id} keeps shed notifications`);
                }

                // Stopping while webhooks hang: the batch in flight ends at its timeout, then a clean exit.
                const [busy] = await p.restart('notification');
                assert.deepEqual([busy.code, busy.killed], [0, false], `SIGTERM with webhooks hanging: exit ${JSON.stringify(busy)}`);

                // The provider recovers: what was kept is delivered, what was shed never is.
                expectStatus(await p.sink('/config', { method: 'PUT', body: { latency_ms: 0 } }), 200, 'sink PUT /config');
                await p.waitFor(async () => {
                        const c = await deliveryCounts(`order_id IN (${ids})`);
                        return !c.pending && !c.sending && c;
                }, WAIT_MS);
                const shedIds = (await p.sql(`SELECT 'ntf_' || msg_id FROM notification.pushes WHERE order_id IN (${ids}) AND delivery_status = 'shed'`)).split('\n');
                const sentIds = (await p.sql(`SELECT 'ntf_' || msg_id FROM notification.pushes WHERE order_id IN (${ids}) AND delivery_status = 'sent'`)).split('\n').filter(Boolean);
                const recorded = new Set((await sinkMessages()).messages.map((m) => m.id));
                for (const id of shedIds) assert.ok(!recorded.has(id), `shed notification ${id} was pushed`);
                for (const id of sentIds) assert.ok(recorded.has(id), `sent notification ${id} is not in the sink`);
                await p.restart('notification', { env: { NOTIFY_MAX_BACKLOG: undefined, NOTIFY_THREADS: undefined, NOTIFY_BATCH: undefined } });
        });

        step('throughput: a backlog of 2000 pending rows is delivered once each (webhooks/s printed)', async () => {
                const N = 2000;
                const sinkBefore = await sinkMessages('?customer_id=cust_bench');
                const before = sinkBefore.messages.length;
                const t0 = performance.now();
                // Queued as the orchestrator queues them: the log row and its outbox row.
                await p.sql(`WITH n AS (INSERT INTO notification.notifications (msg_id, customer_id, status, message, delivery_status, attempts)
                        SELECT 'bench.' || g, 'cust_bench', 'BENCH', '처리량 (throughput)', 'sent', 1 FROM generate_series(1, ${N}) g RETURNING msg_id, id)
                        INSERT INTO notification.outbox (msg_id, id, next_attempt_at) SELECT msg_id, id, now() FROM n`);
                await p.waitFor(async () => (await p.sql(
                        "SELECT count(*) FROM notification.pushes WHERE customer_id = 'cust_bench' AND delivery_status = 'sent'")) === String(N), 60_000, 20);
                const secs = (performance.now() - t0) / 1000;
                console.log(`# notification throughput: ${N} webhooks in ${secs.toFixed(2)} s = ${(N / secs).toFixed(0)} webhooks/s`);
                const sinkAfter = await sinkMessages('?customer_id=cust_bench');
                assert.equal(sinkAfter.messages.length - before, N, 'the sink recorded each notification once');
                const posts = sinkAfter.batches - sinkBefore.batches;
                console.log(`# ${N} webhooks in ${posts} batch POSTs`);
                assert.ok(posts > 0 && posts <= N / 4, `a backlog goes in batches of several messages: ${posts} POSTs for ${N}`);
        });
});
