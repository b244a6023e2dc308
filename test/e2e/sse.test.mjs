// Live order status over Server-Sent Events (SPEC F12, GET /orders/{id}/events): every status of a full order
// arrives in order within a short delay of the change (measured and logged), a client reconnecting with
// Last-Event-ID misses nothing and gets no duplicates, a cancelled order's refund comes as a second CANCELLED
// event before the stream ends, someone else's order is 404, the stream cap answers 503 + Retry-After.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import { catalog, expectProblem, expectStatus, LIFECYCLE, placeOrder, show, steps, storeAction, waitDelivery, waitStatus } from '../flows.mjs';

const MAX_STREAMS = 4;
const EVENT_WAIT_MS = 10_000;
const MAX_DELAY_MS = 1_000; // from the action's answer to its event (typically a few ms)

// An SSE client on fetch with a streaming body reader: collects {id, event, data, at} and comment lines.
async function openStream(p, orderId, token, { lastEventId, query = '' } = {}) {
        const ctrl = new AbortController();
        const headers = { authorization: `Bearer ${token}`, accept: 'text/event-stream' };
        if (lastEventId !== undefined) headers['last-event-id'] = String(lastEventId);
        const res = await fetch(`${p.url}/orders/${orderId}/events${query}`, { headers, signal: ctrl.signal });
        const s = { res, status: res.status, events: [], comments: 0, ended: false, error: null, waiters: new Set(), ctrl };
        s.notify = () => { for (const w of [...s.waiters]) w(); };
        if (res.status !== 200) {
                s.text = await res.text();
                s.ended = true;
                return s;
        }
        s.done = (async () => {
                const reader = res.body.getReader();
                const dec = new TextDecoder();
                let buf = '';
                try {
                        for (;;) {
                                const { value, done } = await reader.read();
                                if (done) break;
                                buf += dec.decode(value, { stream: true });
                                let i;
                                while ((i = buf.indexOf('\n\n')) >= 0) {
                                        const block = buf.slice(0, i);
                                        buf = buf.slice(i + 2);
                                        const ev = { at: Date.now() };
                                        for (const line of block.split('\n')) {
                                                if (line.startsWith(':')) s.comments++;
                                                else if (line.startsWith('id: ')) ev.id = Number(line.slice(4));
                                                else if (line.startsWith('event: ')) ev.event = line.slice(7);
                                                else if (line.startsWith('data: ')) ev.data = JSON.parse(line.slice(6));
                                        }
                                        if (ev.data) s.events.push(ev);
                                        s.notify();
                                }
                        }
                } catch (e) {
                        if (e.name !== 'AbortError') s.error = e;
                }
                s.ended = true;
                s.notify();
        })();
        return s;
}

// Resolves when pred(s) holds; fails after timeoutMs naming what was seen.
function until(s, pred, what, timeoutMs = EVENT_WAIT_MS) {
        return new Promise((resolve, reject) => {
                const check = () => {
                        if (pred(s)) {
                                s.waiters.delete(check);
                                clearTimeout(timer);
                                resolve();
                        } else if (s.ended && !pred(s)) {
                                s.waiters.delete(check);
                                clearTimeout(timer);
                                reject(new Error(`${what}: stream ended first; events ${summary(s)}${s.error ? ` error ${s.error.message}` : ''}`));
                        }
                };
                const timer = setTimeout(() => {
                        s.waiters.delete(check);
                        reject(new Error(`${what}: not within ${timeoutMs} ms; events ${summary(s)}`));
                }, timeoutMs);
                s.waiters.add(check);
                check();
        });
}

function summary(s) {
        return JSON.stringify(s.events.map((e) => `${e.id}:${e.data.status}`));
}

// Asserts ids strictly increase, each event's id is its view's version order, and no id repeats.
function assertOrdered(s, what) {
        const ids = s.events.map((e) => e.id);
        for (let i = 1; i < ids.length; i++) assert.ok(ids[i] > ids[i - 1], `${what}: event ids must increase without duplicates, got ${JSON.stringify(ids)}`);
        for (const e of s.events) assert.equal(e.event, 'status', `${what}: event type`);
}

describe('live order status (SSE)', () => {
        let p, store, customer, other, owner, otherOwner, rider, admin;
        const delays = [];
        const step = steps(it);

        before(async () => {
                p = await startPlatform({ name: 'sse', env: { gateway: { SSE_MAX_STREAMS: String(MAX_STREAMS), SSE_HEARTBEAT_S: '1' } } });
                const stores = await catalog(p);
                store = stores.find((s) => s.menu.length >= 2);
                const second = stores.find((s) => s.id !== store.id);
                customer = await p.token('cust_sse', 'customer');
                other = await p.token('cust_sse_other', 'customer');
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
                otherOwner = await p.token(`owner_${second.id}`, 'store', second.id);
                rider = await p.token('rider_sse', 'rider');
                admin = await p.token('ops_sse', 'admin');
        });
        after(async () => {
                if (delays.length) {
                        const sorted = [...delays].sort((a, b) => a - b);
                        console.log(`# SSE delay from the action's answer to its event: n=${delays.length} median ${sorted[Math.floor(sorted.length / 2)]} ms max ${sorted[sorted.length - 1]} ms (${delays.join(' ')})`);
                }
                await p?.stop();
        });

        // Runs `action` (an HTTP call) and waits for the stream's event with `status`; records the delay between the
        // action's answer and the event's arrival (negative: the event came first).
        async function actAndSee(s, status, action) {
                const before = s.events.length;
                const sent = Date.now();
                const r = await action();
                const answered = Date.now();
                await until(s, (x) => x.events.slice(before).some((e) => e.data.status === status), `event ${status}`);
                const ev = s.events.slice(before).find((e) => e.data.status === status);
                const delay = ev.at - answered;
                delays.push(delay);
                console.log(`# ${status}: event ${delay} ms after the answer (${ev.at - sent} ms after the request)`);
                assert.ok(delay <= MAX_DELAY_MS, `event ${status} came ${delay} ms after the change (limit ${MAX_DELAY_MS} ms)`);
                return r;
        }

        step('a full order streams PAID … COMPLETED in order, each within a moment, then the stream ends', async () => {
                const o = await placeOrder(p, customer, store, [[store.menu[0], 1], [store.menu[1], 2]]);
                const s = await openStream(p, o.id, customer);
                assert.equal(s.status, 200, `GET /orders/${o.id}/events: ${s.status} ${s.text || ''}`);
                assert.match(s.res.headers.get('content-type') || '', /^text\/event-stream/, 'content-type');
                await until(s, (x) => x.events.length >= 1, 'first event (the current view)');
                assert.equal(s.events[0].data.status, 'PAID', 'first event is the order as placed');
                assert.equal(s.events[0].data.id, o.id);
                await actAndSee(s, 'ACCEPTED', () => storeAction(p, owner, store.id, o.id, 'accept', 'ACCEPTED'));
                await actAndSee(s, 'COOKING', () => storeAction(p, owner, store.id, o.id, 'cooking-started', 'COOKING'));
                await actAndSee(s, 'COOKED', () => storeAction(p, owner, store.id, o.id, 'cooking-finished', 'COOKED'));
                const d = await waitDelivery(p, rider, o.id, store.region);
                await actAndSee(s, 'PICKED_UP', async () => expectStatus(await p.api('POST', `/deliveries/${d.id}/pick`, { token: rider }), 200, 'pick'));
                await actAndSee(s, 'DELIVERED', async () => expectStatus(await p.api('POST', `/deliveries/${d.id}/delivered`, { token: rider }), 200, 'delivered'));
                await actAndSee(s, 'COMPLETED', async () => expectStatus(await p.api('POST', `/orders/${o.id}/confirm`, { token: customer }), 200, 'confirm'));
                await until(s, (x) => x.ended, 'the stream ends after COMPLETED', 5_000);
                assert.equal(s.error, null, `stream error: ${s.error}`);
                assertOrdered(s, 'full order');
                const statuses = s.events.map((e) => e.data.status).filter((x, i, a) => i === 0 || a[i - 1] !== x);
                assert.deepEqual(statuses, LIFECYCLE, 'statuses of the stream');
                const last = s.events.at(-1).data;
                assert.equal(last.status, 'COMPLETED');
                assert.deepEqual(last, await waitStatus(p, customer, o.id, 'COMPLETED'), 'the last event is the read model\'s view');
                assert.deepEqual(last.history.map((h) => h.status).filter((x) => x !== 'PAYMENT_PENDING'), LIFECYCLE, 'history of the last view');

                // Reconnecting after the end with the last id: nothing more will come, 204 stops EventSource.
                const again = await openStream(p, o.id, customer, { lastEventId: s.events.at(-1).id });
                assert.equal(again.status, 204, `reconnect after COMPLETED: expected 204, got ${again.status} ${again.text}`);
                // A fresh client gets the final view once, then the end.
                const fresh = await openStream(p, o.id, admin);
                await until(fresh, (x) => x.ended, 'a fresh stream of a completed order ends');
                assert.deepEqual(fresh.events.map((e) => [e.id, e.data.status]), [[s.events.at(-1).id, 'COMPLETED']], 'fresh stream of a completed order');
        });

        step('a client reconnecting with Last-Event-ID misses nothing and gets no duplicates', async () => {
                const o = await placeOrder(p, customer, store, [[store.menu[0], 3]]);
                const first = await openStream(p, o.id, customer);
                await until(first, (x) => x.events.length >= 1, 'first event');
                await actAndSee(first, 'ACCEPTED', () => storeAction(p, owner, store.id, o.id, 'accept', 'ACCEPTED'));
                const lastId = first.events.at(-1).id;
                first.ctrl.abort();
                await first.done;
                // Changes while disconnected.
                await storeAction(p, owner, store.id, o.id, 'cooking-started', 'COOKING');
                await waitStatus(p, customer, o.id, 'COOKING');
                const second = await openStream(p, o.id, customer, { lastEventId: lastId });
                assert.equal(second.status, 200, `reconnect: ${second.status} ${second.text || ''}`);
                await until(second, (x) => x.events.length >= 1, 'the missed change on reconnect');
                assert.equal(second.events[0].data.status, 'COOKING', 'first event after reconnecting: the current view');
                assert.ok(second.events[0].id > lastId, `id after reconnecting ${second.events[0].id} must be above Last-Event-ID ${lastId}`);
                assert.deepEqual(second.events[0].data.history.map((h) => h.status).filter((x) => x !== 'PAYMENT_PENDING'),
                        ['PAID', 'ACCEPTED', 'COOKING'], 'the view carries every status missed');
                await actAndSee(second, 'COOKED', () => storeAction(p, owner, store.id, o.id, 'cooking-finished', 'COOKED'));
                assertOrdered(second, 'reconnected stream');
                const all = [...first.events, ...second.events].map((e) => e.id);
                assert.equal(new Set(all).size, all.length, `no event twice across the two connections: ${JSON.stringify(all)}`);

                // Reconnecting at the current version (the ?last_event_id= form): nothing is re-sent, the next change comes.
                const third = await openStream(p, o.id, owner, { query: `?last_event_id=${second.events.at(-1).id}` });
                await until(third, (x) => x.comments >= 1, 'a heartbeat first');
                assert.equal(third.events.length, 0, `nothing re-sent at the current version: ${summary(third)}`);
                const d = await waitDelivery(p, rider, o.id, store.region);
                await actAndSee(third, 'PICKED_UP', async () => expectStatus(await p.api('POST', `/deliveries/${d.id}/pick`, { token: rider }), 200, 'pick'));
                assert.deepEqual(third.events.map((e) => e.data.status), ['PICKED_UP']);
                second.ctrl.abort();
                third.ctrl.abort();
                await Promise.all([second.done, third.done]);
        });

        step('a cancellation streams CANCELLED, then the refund (same status, higher version), then ends', async () => {
                const o = await placeOrder(p, customer, store, [[store.menu[1], 1]]);
                const s = await openStream(p, o.id, customer);
                await until(s, (x) => x.events.length >= 1, 'first event');
                await actAndSee(s, 'CANCELLED', async () => expectStatus(await p.api('POST', `/orders/${o.id}/cancel`, { token: customer }), 200, 'cancel'));
                await until(s, (x) => x.ended, 'the stream ends once refunded', 20_000);
                assertOrdered(s, 'cancelled order');
                const last = s.events.at(-1).data;
                assert.equal(last.status, 'CANCELLED');
                assert.equal(last.amount_refunded, last.amount_paid, `the last event carries the refund: ${JSON.stringify(last)}`);
                const cancelled = s.events.filter((e) => e.data.status === 'CANCELLED');
                assert.ok(cancelled.length >= 2, `CANCELLED, then CANCELLED refunded: ${summary(s)}`);
        });

        step('someone else\'s order is 404, a bad Last-Event-ID 400, no token 401', async () => {
                const o = await placeOrder(p, customer, store, [[store.menu[0], 1]]);
                await waitStatus(p, customer, o.id, 'PAID');
                const s = await openStream(p, o.id, other);
                assert.equal(s.status, 404, `another customer: ${s.status} ${s.text}`);
                expectProblem({ status: s.status, headers: s.res.headers, json: JSON.parse(s.text), text: s.text }, 404, 'another customer');
                const st = await openStream(p, o.id, otherOwner);
                assert.equal(st.status, 404, `another store: ${st.status} ${st.text}`);
                const unknown = await openStream(p, 'ord_000000000000000000000000', customer);
                assert.equal(unknown.status, 404, `unknown order: ${unknown.status}`);
                const bad = await openStream(p, o.id, customer, { lastEventId: 'abc' });
                assert.equal(bad.status, 400, `bad Last-Event-ID: ${bad.status} ${bad.text}`);
                const anon = await p.api('GET', `/orders/${o.id}/events`);
                expectProblem(anon, 401, 'no token');
                const rid = await p.api('GET', `/orders/${o.id}/events`, { token: rider });
                expectProblem(rid, 403, 'a rider');
        });

        step(`beyond SSE_MAX_STREAMS=${MAX_STREAMS} streams: 503 + Retry-After, a slot frees when a client leaves`, async () => {
                const o = await placeOrder(p, customer, store, [[store.menu[0], 2]]);
                const open = [];
                // Streams of earlier steps end at the server's next heartbeat after their client left: retry a moment.
                for (let i = 0; i < MAX_STREAMS; i++) {
                        let last;
                        try {
                                open.push(await p.waitFor(async () => {
                                        last = await openStream(p, o.id, customer);
                                        return last.status === 200 && last;
                                }, 10_000, 200));
                        } catch {
                                assert.fail(`stream ${i + 1}: expected 200, got ${last?.status} ${last?.text || ''}`);
                        }
                }
                const over = await p.api('GET', `/orders/${o.id}/events`, { token: customer });
                expectProblem(over, 503, 'one stream too many');
                assert.ok(Number(over.headers.get('retry-after')) > 0, `Retry-After: ${over.headers.get('retry-after')}`);
                open[0].ctrl.abort();
                await open[0].done;
                // The server notices at its next write (heartbeat every second).
                const again = await p.waitFor(async () => {
                        const s = await openStream(p, o.id, customer);
                        if (s.status === 200) return s;
                        return false;
                }, 10_000, 200);
                open[0] = again;
                for (const s of open) s.ctrl.abort();
                await Promise.all(open.map((s) => s.done));
        });
});
