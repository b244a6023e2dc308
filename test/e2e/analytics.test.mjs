// The analytics archive (SPEC F17): GET /analytics/events (admin) streams every archived order status event as
// NDJSON, oldest first, equal to what the orders went through (count, order, statuses, amounts); `since` as a
// sequence resumes exactly after it and as an RFC 3339 time starts at that time; `limit` pages; non-admins get
// 403; the food-export CLI prints the same lines and resumes from the last sequence it printed.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BUILD_DIR, startPlatform } from '../harness.mjs';
import {
        catalog, expectProblem, expectStatus, fullLifecycle, LIFECYCLE, placeOrder, steps, storeAction, visible, waitRefunded, waitStatus,
} from '../flows.mjs';

const execFileP = promisify(execFile);
const FIELDS = ['seq', 'order_id', 'type', 'status', 'previous_status', 'at', 'customer_id', 'store_id', 'rider_id', 'total',
        'amount_paid', 'amount_refunded'];

describe('analytics archive export (NDJSON over HTTP and food-export)', () => {
        let p, store, customer, owner, rider, admin;
        const orders = {}; // name -> final view
        let all; // every line of the full export, parsed
        let allText;
        const step = steps(it);

        before(async () => {
                p = await startPlatform({ name: 'analytics' });
                store = (await catalog(p)).find((s) => s.menu.length >= 2);
                customer = await p.token('cust_an', 'customer');
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
                rider = await p.token('rider_an', 'rider');
                admin = await p.token('ops_an', 'admin');
        });
        after(async () => { await p?.stop(); });

        async function exportHttp(query = '') {
                const t0 = Date.now();
                const r = await p.api('GET', `/analytics/events${query}`, { token: admin, timeoutMs: 60_000 });
                expectStatus(r, 200, `GET /analytics/events${query}`);
                assert.match(r.headers.get('content-type') || '', /^application\/x-ndjson/, 'content-type');
                const lines = r.text.split('\n').filter((l) => l !== '');
                assert.ok(r.text === '' || r.text.endsWith('\n'), 'every line ends with a newline');
                return { text: r.text, lines: lines.map((l) => JSON.parse(l)), ms: Date.now() - t0 };
        }

        async function cli(...args) {
                const bin = path.join(BUILD_DIR, 'services/projector/food-export');
                const { stdout, stderr } = await execFileP(bin, args, { env: { ...process.env, NATS_URL: p.natsUrl }, timeout: 60_000, maxBuffer: 64 << 20 });
                return { stdout, stderr };
        }

        // Messages in FOOD_ORDER according to nats-server's monitor.
        async function streamMessages() {
                const r = await fetch(`${p.natsMonitorUrl}/jsz?streams=true`);
                const j = await r.json();
                const s = j.account_details?.flatMap((a) => a.stream_detail || []).find((d) => d.name === 'FOOD_ORDER');
                return s?.state?.messages ?? 0;
        }

        step('an empty archive exports nothing', async () => {
                const e = await exportHttp();
                assert.deepEqual(e.lines, [], 'no orders yet');
        });

        step('a few orders: completed, cancelled (refunded), refused (refunded), still cooking', async () => {
                orders.completed = await fullLifecycle(p, { customer, owner, rider, store, lines: [[store.menu[0], 1]] });
                const c = await placeOrder(p, customer, store, [[store.menu[1], 2]]);
                expectStatus(await p.api('POST', `/orders/${c.id}/cancel`, { token: customer }), 200, 'cancel');
                orders.cancelled = await waitRefunded(p, customer, c.id, 'CANCELLED');
                const f = await placeOrder(p, customer, store, [[store.menu[0], 3]]);
                await waitStatus(p, owner, f.id, 'PAID');
                await storeAction(p, owner, store.id, f.id, 'refuse', 'REFUSED', { reason: 'closing early' });
                orders.refused = await waitRefunded(p, customer, f.id, 'REFUSED');
                const k = await placeOrder(p, customer, store, [[store.menu[1], 1]]);
                await waitStatus(p, owner, k.id, 'PAID');
                await storeAction(p, owner, store.id, k.id, 'accept', 'ACCEPTED');
                await storeAction(p, owner, store.id, k.id, 'cooking-started', 'COOKING');
                orders.cooking = await waitStatus(p, customer, k.id, 'COOKING');
        });

        step('the export holds every archived event once, in stream order, with the documented fields', async () => {
                const e = await exportHttp();
                all = e.lines;
                allText = e.text;
                console.log(`# HTTP export: ${all.length} events in ${e.ms} ms`);
                assert.equal(all.length, await streamMessages(), 'one line per message of FOOD_ORDER');
                for (let i = 0; i < all.length; i++) {
                        assert.deepEqual(Object.keys(all[i]), FIELDS, `fields of line ${i + 1}`);
                        assert.equal(all[i].type, 'food.v1.OrderStatusChanged');
                        assert.ok(!Number.isNaN(Date.parse(all[i].at)) && /Z$/.test(all[i].at), `RFC 3339 at: ${all[i].at}`);
                        if (i > 0) assert.ok(all[i].seq > all[i - 1].seq, `seq increases: ${all[i - 1].seq} then ${all[i].seq}`);
                }
                assert.equal(new Set(all.map((l) => l.order_id)).size, 4, 'four orders');
                for (const [name, view] of Object.entries(orders)) {
                        const mine = all.filter((l) => l.order_id === view.id);
                        const changes = mine.map((l) => l.status).filter((s, i, a) => i === 0 || a[i - 1] !== s);
                        const history = view.history.map((h) => h.status);
                        assert.deepEqual(visible(changes), visible(history), `${name}: the status changes are the order's history`);
                        const before = history[history.indexOf(mine[0].status) - 1] ?? null;
                        for (let i = 0; i < mine.length; i++) {
                                assert.equal(mine[i].previous_status, i === 0 ? before : mine[i - 1].status, `${name}: previous_status of event ${i + 1}`);
                                assert.equal(mine[i].customer_id, 'cust_an');
                                assert.equal(mine[i].store_id, store.id);
                        }
                        const last = mine.at(-1);
                        assert.equal(last.status, view.status, `${name}: last status`);
                        assert.equal(last.total, view.total, `${name}: total`);
                        assert.equal(last.amount_paid, view.amount_paid, `${name}: amount_paid`);
                        assert.equal(last.amount_refunded, view.amount_refunded, `${name}: amount_refunded`);
                }
                const completed = all.filter((l) => l.order_id === orders.completed.id).map((l) => l.status);
                assert.deepEqual(completed.filter((s) => s !== 'PAYMENT_PENDING'), LIFECYCLE, 'completed order: every status once');
                assert.equal(all.filter((l) => l.order_id === orders.completed.id && l.status === 'PICKED_UP')[0].rider_id, 'rider_an', 'rider of the pick');
                for (const name of ['cancelled', 'refused']) {
                        const last = all.filter((l) => l.order_id === orders[name].id).at(-1);
                        assert.ok(last.amount_refunded === last.amount_paid && last.amount_paid > 0, `${name}: the refund is an event: ${JSON.stringify(last)}`);
                }
        });

        step('since=<seq> resumes exactly after it; limit pages through the same lines', async () => {
                const k = Math.floor(all.length / 2);
                const rest = await exportHttp(`?since=${all[k - 1].seq}`);
                assert.deepEqual(rest.lines, all.slice(k), `since=${all[k - 1].seq}`);
                const none = await exportHttp(`?since=${all.at(-1).seq}`);
                assert.deepEqual(none.lines, [], 'since the last seq: nothing');
                const pages = [];
                let since = '';
                for (let n = 0; n < 100; n++) {
                        const page = await exportHttp(`?limit=7${since}`);
                        if (page.lines.length === 0) break;
                        assert.ok(page.lines.length <= 7, 'limit=7');
                        pages.push(...page.lines);
                        since = `&since=${page.lines.at(-1).seq}`;
                }
                assert.deepEqual(pages, all, 'pages of 7 joined are the whole export');
        });

        step('since=<RFC 3339 time> starts at the first event at or after it', async () => {
                const k = Math.floor(all.length / 3);
                const t = all[k].at;
                const want = all.filter((l) => Date.parse(l.at) >= Date.parse(t));
                const got = await exportHttp(`?since=${encodeURIComponent(t)}`);
                assert.deepEqual(got.lines, want, `since=${t}`);
                // The same instant in another offset.
                const d = new Date(Date.parse(t) + 9 * 3600_000).toISOString().replace('Z', '+09:00');
                const got9 = await exportHttp(`?since=${encodeURIComponent(d)}`);
                assert.deepEqual(got9.lines, want, `since=${d}`);
                const future = await exportHttp(`?since=${encodeURIComponent(new Date(Date.now() + 3600_000).toISOString())}`);
                assert.deepEqual(future.lines, [], 'since an hour from now: nothing');
                const past = await exportHttp('?since=2000-01-01T00:00:00Z');
                assert.deepEqual(past.lines, all, 'since 2000: everything');
        });

        step('only admins: 403 for customer, store and rider, 401 without a token; 400 for a bad since or limit', async () => {
                for (const [who, token] of [['customer', customer], ['store', owner], ['rider', rider]]) {
                        expectProblem(await p.api('GET', '/analytics/events', { token }), 403, who);
                }
                expectProblem(await p.api('GET', '/analytics/events'), 401, 'no token');
                for (const q of ['?since=yesterday', '?since=-1', '?since=2024-13-01T00:00:00Z', '?limit=0', '?limit=100001', '?limit=ten']) {
                        expectProblem(await p.api('GET', `/analytics/events${q}`, { token: admin }), 400, q);
                }
        });

        step('food-export prints the same lines and resumes from the last seq it printed', async () => {
                const full = await cli();
                assert.equal(full.stdout, allText, 'food-export prints what GET /analytics/events sends');
                console.log(`# ${full.stderr.trim()}`);
                const k = Math.floor(all.length / 2);
                const part = await cli('--since', String(all[k - 1].seq));
                assert.equal(part.stdout, all.slice(k).map((l) => JSON.stringify(l) + '\n').join(''), '--since <seq>');
                const t = all[k].at;
                const timed = await cli('--since', t);
                assert.deepEqual(timed.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l)),
                        all.filter((l) => Date.parse(l.at) >= Date.parse(t)), '--since <time>');

                const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'food-export-'));
                try {
                        const state = path.join(dir, 'last-seq');
                        const first = await cli('--resume', state, '--limit', '5');
                        assert.equal(first.stdout, allText.split('\n').slice(0, 5).map((l) => l + '\n').join(''), 'first run: 5 lines');
                        assert.equal(fs.readFileSync(state, 'utf8').trim(), String(all[4].seq), 'the file holds the last seq printed');
                        const second = await cli('--resume', state);
                        assert.equal(first.stdout + second.stdout, allText, 'two resumed runs print everything once');
                        const third = await cli('--resume', state);
                        assert.equal(third.stdout, '', 'nothing new: nothing printed');
                } finally {
                        fs.rmSync(dir, { recursive: true, force: true });
                }
                await assert.rejects(cli('--since', 'nonsense'), (e) => e.code === 2, 'a bad --since exits 2');
        });
});
