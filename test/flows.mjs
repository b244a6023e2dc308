// Order-flow steps shared by the end-to-end tests, written as the customer, store owner and rider would use the
// HTTP API (SPEC §4); each step asserts the answer and reports expected vs actual on failure.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';

export const LIFECYCLE = ['PAID', 'ACCEPTED', 'COOKING', 'COOKED', 'PICKED_UP', 'DELIVERED', 'COMPLETED'];
// Generous: sanitizer builds on 2 cores are slow, and the read model is eventually consistent.
export const WAIT_MS = 30_000;

export function show(r) {
        return `${r.status} ${r.headers.get('content-type') || ''} ${r.text.slice(0, 500)}`;
}

// Asserts an HTTP answer's status, naming the request and showing the whole answer when it differs.
export function expectStatus(r, status, what) {
        const ok = Array.isArray(status) ? status.includes(r.status) : r.status === status;
        assert.ok(ok, `${what}: expected HTTP ${status}, got ${show(r)}`);
        return r;
}

// Asserts an RFC 9457 error: the status, application/problem+json and a non-empty detail.
export function expectProblem(r, status, what) {
        expectStatus(r, status, what);
        const ct = r.headers.get('content-type') || '';
        assert.match(ct, /^application\/problem\+json/, `${what}: expected content-type application/problem+json, got '${ct}'`);
        assert.ok(r.json && typeof r.json.detail === 'string' && r.json.detail.length > 0,
                `${what}: expected a problem with a non-empty "detail", got ${r.text.slice(0, 300)}`);
        return r;
}

// The seeded catalog: stores (at least two) and each one's menu.
export async function catalog(p) {
        const stores = expectStatus(await p.api('GET', '/stores'), 200, 'GET /stores').json;
        assert.ok(Array.isArray(stores) && stores.length >= 2, `GET /stores: expected at least 2 seeded stores, got ${JSON.stringify(stores)}`);
        for (const s of stores) {
                for (const k of ['id', 'name', 'region', 'lat', 'lon']) assert.ok(k in s, `GET /stores: store without "${k}": ${JSON.stringify(s)}`);
                const menu = expectStatus(await p.api('GET', `/stores/${s.id}/menu`), 200, `GET /stores/${s.id}/menu`).json;
                assert.ok(Array.isArray(menu), `GET /stores/${s.id}/menu: expected an array, got ${JSON.stringify(menu)}`);
                for (const m of menu) {
                        for (const k of ['id', 'name', 'price', 'available']) assert.ok(k in m, `menu item without "${k}": ${JSON.stringify(m)}`);
                        assert.ok(Number.isInteger(m.price) && m.price > 0, `menu item price must be a positive integer KRW: ${JSON.stringify(m)}`);
                }
                s.menu = menu.filter((m) => m.available);
        }
        const usable = stores.filter((s) => s.menu.length >= 2);
        assert.ok(usable.length >= 1, 'no store with two available menu items');
        return stores;
}

// A POST /orders body for `store` with `lines` = [[menu item, quantity], ...], delivered in the store's region.
export function orderBody(store, lines, card = 'tok_ok') {
        return {
                store_id: store.id,
                items: lines.map(([m, q]) => ({ menu_item_id: m.id, quantity: q })),
                address: { text: '12 Teheran-ro, apt 301', region: store.region, lat: store.lat + 0.001, lon: store.lon + 0.001 },
                note: 'door code 1234',
                payment: { card_token: card },
        };
}

export function totalOf(lines) {
        return lines.reduce((sum, [m, q]) => sum + m.price * q, 0);
}

// Places an order and checks the 201 answer; resolves to the order view.
export async function placeOrder(p, token, store, lines, { key = randomUUID(), card = 'tok_ok' } = {}) {
        const r = await p.api('POST', '/orders', { token, body: orderBody(store, lines, card), headers: { 'idempotency-key': key } });
        expectStatus(r, 201, 'POST /orders');
        const o = r.json;
        assert.match(o.id, /^ord_[0-9a-f]{24}$/, `POST /orders: order id ${o.id}`);
        assert.equal(o.status, 'PAID', 'POST /orders: status of the new order');
        assert.equal(o.total, totalOf(lines), 'POST /orders: total (sum of quantity * catalog price)');
        assert.equal(o.amount_paid, o.total, 'POST /orders: amount_paid == total');
        const loc = r.headers.get('location') || '';
        assert.ok(loc.endsWith(`/orders/${o.id}`), `POST /orders: Location '${loc}' should end with /orders/${o.id}`);
        return o;
}

// Waits until GET /orders/{id} (read model) shows `status`; resolves to the view.
export async function waitStatus(p, token, id, status) {
        let last;
        try {
                return await p.waitFor(async () => {
                        last = await p.api('GET', `/orders/${id}`, { token });
                        return last.status === 200 && last.json.status === status && last.json;
                }, WAIT_MS);
        } catch {
                assert.fail(`GET /orders/${id}: expected status ${status} within ${WAIT_MS} ms, last answer ${last ? show(last) : 'none'}`);
        }
}

// A store owner's action on an order; asserts 200 and the new status in the answer.
export async function storeAction(p, token, storeId, orderId, action, status, body = undefined) {
        const r = await p.api('POST', `/stores/${storeId}/orders/${orderId}/${action}`, { token, body });
        expectStatus(r, 200, `POST /stores/${storeId}/orders/${orderId}/${action}`);
        assert.equal(r.json?.status, status, `POST .../${action}: status in the answer`);
        return r.json;
}

// Waits until a rider sees the order's delivery in GET /deliveries?region=; resolves to it.
export async function waitDelivery(p, riderToken, orderId, region) {
        let last;
        try {
                return await p.waitFor(async () => {
                        last = await p.api('GET', `/deliveries?region=${encodeURIComponent(region)}`, { token: riderToken });
                        return last.status === 200 && Array.isArray(last.json) && last.json.find((d) => d.order_id === orderId);
                }, WAIT_MS);
        } catch {
                assert.fail(`GET /deliveries?region=${region}: expected the delivery of ${orderId} within ${WAIT_MS} ms, last answer ${last ? show(last) : 'none'}`);
        }
}

// Places an order and has its store accept and cook it; resolves to the order as placed.
export async function cookedOrder(p, { customer, owner, store, lines }) {
        const o = await placeOrder(p, customer, store, lines);
        await waitStatus(p, owner, o.id, 'PAID');
        await storeAction(p, owner, store.id, o.id, 'accept', 'ACCEPTED');
        await storeAction(p, owner, store.id, o.id, 'cooking-started', 'COOKING');
        await storeAction(p, owner, store.id, o.id, 'cooking-finished', 'COOKED');
        return o;
}

// Runs one order from placing to COMPLETED as customer, owner and rider; resolves to the final view.
export async function fullLifecycle(p, { customer, owner, rider, store, lines }) {
        const o = await cookedOrder(p, { customer, owner, store, lines });
        const d = await waitDelivery(p, rider, o.id, store.region);
        expectStatus(await p.api('POST', `/deliveries/${d.id}/pick`, { token: rider }), 200, `POST /deliveries/${d.id}/pick`);
        expectStatus(await p.api('POST', `/deliveries/${d.id}/delivered`, { token: rider }), 200, `POST /deliveries/${d.id}/delivered`);
        await waitStatus(p, customer, o.id, 'DELIVERED');
        const c = expectStatus(await p.api('POST', `/orders/${o.id}/confirm`, { token: customer }), 200, `POST /orders/${o.id}/confirm`);
        assert.equal(c.json?.status, 'COMPLETED', 'POST /orders/{id}/confirm: status in the answer');
        return waitStatus(p, customer, o.id, 'COMPLETED');
}

// Order statuses (§4, with the internal PAYMENT_PENDING): a notification with one of them is a status change;
// others (COUPON_ISSUED, THANK_YOU...) are notices of their own and not counted as status changes.
export const ORDER_STATUSES = new Set(['PAYMENT_PENDING', ...LIFECYCLE, 'REJECTED', 'REFUSED', 'CANCELLED']);

// The customer's status notifications for one order, as statuses in arrival order.
export async function notificationStatuses(p, token, orderId) {
        return (await notificationsOf(p, token, orderId))
                .sort((a, b) => String(a.at).localeCompare(String(b.at))).map((n) => n.status);
}

// The statuses an order went through, without the internal PAYMENT_PENDING.
export function visible(statuses) {
        return statuses.filter((s) => s !== 'PAYMENT_PENDING');
}

// Sorted by lifecycle position, for comparisons that do not depend on arrival order.
export function byLifecycle(statuses) {
        return [...statuses].sort((a, b) => LIFECYCLE.indexOf(a) - LIFECYCLE.indexOf(b));
}

// Sequential steps of one scenario: after a failed step the later ones are skipped (their failure would only
// repeat the first), except those marked {always: true}.
export function steps(it) {
        let failed = null;
        return (name, fn, { always = false } = {}) => it(name, async (t) => {
                if (failed && !always) return t.skip(`skipped: step '${failed}' failed`);
                try {
                        await fn(t);
                } catch (e) {
                        failed ??= name;
                        throw e;
                }
        });
}

// --- money, notifications and saga history (refusal, cancellation, races, invariants) ---

// The statuses an order may still move on from without anyone paying more: what the customer owes in them is
// the whole amount charged (COMPLETED included); REFUSED, CANCELLED and REJECTED owe nothing.
export const OWES_TOTAL = new Set(['PAID', 'ACCEPTED', 'COOKING', 'COOKED', 'PICKED_UP', 'DELIVERED', 'COMPLETED']);
export const TERMINAL = new Set(['COMPLETED', 'REFUSED', 'CANCELLED', 'REJECTED']);

// Integer KRW as the notification worker writes it: 12,500.
export function krw(n) {
        return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export async function pspLedger(p) {
        const r = expectStatus(await p.psp('/ledger'), 200, 'PSP GET /ledger');
        assert.ok(Array.isArray(r.json?.charges) && Array.isArray(r.json?.refunds), `PSP GET /ledger: ${r.text.slice(0, 300)}`);
        return r.json;
}

// One order's part of the PSP ledger: the payment worker's idempotency keys start with "<order id>.".
// approved/declined charges, refunds, and the net amount kept (charged - refunded).
export function ledgerOf(ledger, orderId) {
        const mine = (e) => typeof e.idempotency_key === 'string' && e.idempotency_key.startsWith(`${orderId}.`);
        const charges = ledger.charges.filter(mine);
        const approved = charges.filter((c) => c.status === 'approved');
        const refunds = ledger.refunds.filter(mine);
        const charged = approved.reduce((s, c) => s + c.amount, 0);
        const refunded = refunds.reduce((s, r) => s + r.amount, 0);
        return { approved, declined: charges.filter((c) => c.status !== 'approved'), refunds, charged, refunded, net: charged - refunded };
}

// GET /orders/{id} as `token`, asserting 200.
export async function getOrder(p, token, id) {
        return expectStatus(await p.api('GET', `/orders/${id}`, { token }), 200, `GET /orders/${id}`).json;
}

// Waits until the order shows `status` and a complete refund (amount_refunded == amount_paid > 0).
export async function waitRefunded(p, token, id, status) {
        let last;
        try {
                return await p.waitFor(async () => {
                        last = await p.api('GET', `/orders/${id}`, { token });
                        const o = last.json;
                        return last.status === 200 && o.status === status && o.amount_paid > 0 && o.amount_refunded === o.amount_paid && o;
                }, WAIT_MS);
        } catch {
                assert.fail(`GET /orders/${id}: expected ${status} with amount_refunded == amount_paid within ${WAIT_MS} ms, last answer ${last ? show(last) : 'none'}`);
        }
}

// The customer's notifications for one order ({order_id, status, message, at}) in the order recorded: those
// of status changes (ORDER_STATUSES), or with {all: true} the other notices too.
export async function notificationsOf(p, token, orderId, { all = false } = {}) {
        const path = `/customers/me/notifications?order_id=${encodeURIComponent(orderId)}`;
        const r = expectStatus(await p.api('GET', path, { token }), 200, `GET ${path}`);
        assert.ok(Array.isArray(r.json), `GET ${path}: expected an array, got ${r.text.slice(0, 300)}`);
        // The filter is the gateway's; checked here too, so that a filter that lets others through fails.
        for (const n of r.json) assert.equal(n.order_id, orderId, `GET ${path} answered another order's notification`);
        return r.json.filter((n) => all || ORDER_STATUSES.has(n.status));
}

// GET /admin/sagas/{id} with an admin token, asserting 200 and the documented fields.
export async function adminSaga(p, adminToken, id) {
        const r = expectStatus(await p.api('GET', `/admin/sagas/${id}`, { token: adminToken }), 200, `GET /admin/sagas/${id}`);
        const s = r.json;
        for (const k of ['order_id', 'state', 'step', 'attempt', 'version', 'definition_version', 'deadline_at', 'compensation_failed', 'created_at', 'updated_at', 'steps']) {
                assert.ok(s && k in s, `GET /admin/sagas/${id}: no "${k}" in ${r.text.slice(0, 300)}`);
        }
        assert.ok(Array.isArray(s.steps), `GET /admin/sagas/${id}: steps should be an array`);
        for (const st of s.steps) {
                for (const k of ['kind', 'type', 'step', 'attempt', 'at', 'detail']) assert.ok(k in st, `saga step without "${k}": ${JSON.stringify(st)}`);
                assert.ok(['command', 'compensation', 'event', 'reply'].includes(st.kind), `saga step kind '${st.kind}' is none of command, compensation, event, reply`);
        }
        return s;
}

// Saga steps matching {kind, step, type} (any field left out matches anything).
export function sagaSteps(saga, { kind, step, type } = {}) {
        return saga.steps.filter((s) => (kind === undefined || s.kind === kind) && (step === undefined || s.step === step) && (type === undefined || s.type === type));
}

// What can change when something happens to an order: its view, its part of the ledger, its notifications
// and its saga's version and steps; compared before and after a refused request.
export async function orderSnapshot(p, { customer, admin }, id) {
        const view = await getOrder(p, customer, id);
        const l = ledgerOf(await pspLedger(p), id);
        const notes = (await notificationsOf(p, customer, id)).map((n) => `${n.status}:${n.message}`);
        const saga = admin ? await adminSaga(p, admin, id) : null;
        return {
                view,
                ledger: { approved: l.approved.map((c) => `${c.id}:${c.amount}:${c.refunded}`), refunds: l.refunds.map((r) => `${r.id}:${r.amount}`) },
                notifications: notes,
                // What the saga sent (replies to earlier commands may still be arriving, so they are not compared).
                saga: saga && { state: saga.state, version: saga.version, sent: saga.steps.filter((x) => x.kind !== 'reply').map((x) => `${x.kind}:${x.step}`) },
        };
}

// orderSnapshot once it stopped changing (the same twice, `gapMs` apart): notifications and replies of the last
// step may still be arriving when the read model already shows it.
export async function stableSnapshot(p, who, id, { gapMs = 300, timeoutMs = WAIT_MS } = {}) {
        const deadline = Date.now() + timeoutMs;
        let prev = await orderSnapshot(p, who, id);
        for (;;) {
                await new Promise((r) => setTimeout(r, gapMs));
                const cur = await orderSnapshot(p, who, id);
                if (JSON.stringify(cur) === JSON.stringify(prev) || Date.now() > deadline) return cur;
                prev = cur;
        }
}

// --- steps retried through an outage (a writer, NATS node or PostgreSQL primary down for a while) ---

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const RETRYABLE = new Set([502, 503, 504]);

// POST /orders with one Idempotency-Key until it is answered 201 (504/503 meanwhile: the writer is down).
export async function placeRetrying(p, token, store, lines, key = randomUUID(), deadlineMs = 60_000) {
        const until = Date.now() + deadlineMs;
        for (;;) {
                const r = await p.api('POST', '/orders', { token, body: orderBody(store, lines), headers: { 'idempotency-key': key } })
                        .catch((e) => ({ status: 0, text: e.message }));
                if (r.status === 201) return r.json;
                if (!RETRYABLE.has(r.status) && r.status !== 0) expectStatus(r, 201, `POST /orders (key ${key})`);
                if (Date.now() > until) assert.fail(`POST /orders (key ${key}) still ${r.status} after ${deadlineMs} ms: ${r.text}`);
                await sleep(200);
        }
}

// A decision retried while the writer is away: 200, or already taken (the order shows `status` or later).
export async function decide(p, call, { token, id, status, what }) {
        const until = Date.now() + 60_000;
        for (;;) {
                const r = await call().catch((e) => ({ status: 0, text: e.message }));
                if (r.status === 200) return r.json;
                if (r.status === 409 || RETRYABLE.has(r.status) || r.status === 0) {
                        const v = await p.api('GET', `/orders/${id}`, { token }).catch(() => null);
                        const at = v?.json ? LIFECYCLE.indexOf(v.json.status) : -1;
                        if (at >= LIFECYCLE.indexOf(status)) return v.json;
                        if (r.status === 409 && at < 0) assert.fail(`${what}: 409 and the order is ${v?.json?.status}`);
                } else expectStatus(r, 200, what);
                if (Date.now() > until) assert.fail(`${what}: still ${r.status} after 60 s: ${r.text}`);
                await sleep(200);
        }
}

// Place to COMPLETED, every step retried through an orchestrator outage; onPlaced(order) once it is answered 201.
export async function resilientLifecycle(p, { customer, owner, rider, store, lines, onPlaced = () => {} }) {
        const o = await placeRetrying(p, customer, store, lines);
        onPlaced(o);
        return walkToCompleted(p, o, { customer, owner, rider, store });
}

// A placed order `o` from PAID to COMPLETED, every step retried through an outage.
export async function walkToCompleted(p, o, { customer, owner, rider, store }) {
        for (const [action, status] of [['accept', 'ACCEPTED'], ['cooking-started', 'COOKING'], ['cooking-finished', 'COOKED']]) {
                await decide(p, () => p.api('POST', `/stores/${store.id}/orders/${o.id}/${action}`, { token: owner }),
                        { token: owner, id: o.id, status, what: `${action} ${o.id}` });
        }
        const d = await waitDelivery(p, rider, o.id, store.region);
        await decide(p, () => p.api('POST', `/deliveries/${d.id}/pick`, { token: rider }), { token: customer, id: o.id, status: 'PICKED_UP', what: `pick ${d.id}` });
        await decide(p, () => p.api('POST', `/deliveries/${d.id}/delivered`, { token: rider }), { token: customer, id: o.id, status: 'DELIVERED', what: `delivered ${d.id}` });
        await decide(p, () => p.api('POST', `/orders/${o.id}/confirm`, { token: customer }), { token: customer, id: o.id, status: 'COMPLETED', what: `confirm ${o.id}` });
        return waitStatus(p, customer, o.id, 'COMPLETED');
}

// Every order COMPLETED, charged once, one notification and one archived event per status.
export async function expectCompleted(p, orders, admin) {
        const ledger = await pspLedger(p);
        // The archive is read again while an order's events are not all there yet: they are published after the
        // commit, and after a stream leader was lost they wait for JetStream's confirmation (seconds).
        const readArchive = async () => {
                const archive = await p.api('GET', '/analytics/events?limit=100000', { token: admin });
                expectStatus(archive, 200, 'GET /analytics/events');
                return archive.text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
        };
        let events = await readArchive();
        const archived = (id) => byLifecycle(visible(events.filter((e) => e.order_id === id).map((e) => e.status)));
        for (const { order, customer } of orders) {
                const view = await waitStatus(p, customer, order.id, 'COMPLETED');
                const l = ledgerOf(ledger, order.id);
                assert.equal(l.approved.length, 1, `${order.id}: charged ${l.approved.length} times`);
                assert.equal(l.net, view.total, `${order.id}: kept ${l.net}, owes ${view.total}`);
                const notes = await p.waitFor(async () => {
                        const n = visible(await notificationStatuses(p, customer, order.id));
                        return n.length >= LIFECYCLE.length && n;
                }, WAIT_MS).catch(async () => visible(await notificationStatuses(p, customer, order.id)));
                assert.deepEqual(byLifecycle(notes), LIFECYCLE, `${order.id}: one notification per status`);
                if (archived(order.id).length < LIFECYCLE.length)
                        await p.waitFor(async () => { events = await readArchive(); return archived(order.id).length >= LIFECYCLE.length; },
                                WAIT_MS).catch(() => {});
                assert.deepEqual(archived(order.id), LIFECYCLE, `${order.id}: one archived status event per status`);
        }
        // Nothing charged for an order that does not exist (keys are "<order id>.<step>...").
        const known = new Set(orders.map((o) => o.order.id));
        const strays = ledger.charges.filter((c) => c.status === 'approved' && !known.has(String(c.idempotency_key).split('.')[0]));
        assert.deepEqual(strays, [], 'charges of orders nobody placed');
}

// A lane's customer places at most this many orders before the next one takes over, within the gateway's
// per-customer limit (ORDER_RATE_BURST 200, then 20 a second) however fast the lane goes: a lane of one customer
// went past it in a fast e2e-nats-cluster run (429).
const ORDERS_PER_CUSTOMER = 100;

// `lanes` lanes of customers each walking orders to COMPLETED (resilientLifecycle) one after another until stop(),
// over `stores` in turn. placed: [{id, at}] every order answered 201 and when; stop() resolves to the completed
// orders ([{order, customer}], for expectCompleted) and throws the first lane's failure.
export function runLanes(p, { lanes, stores, prefix = 'lane' }) {
        const placed = [];
        const completed = [];
        const failures = [];
        let running = true;
        const loop = async (k) => {
                const rider = await p.token(`${prefix}_rider_${k}`, 'rider');
                for (let n = 0; running; n++) {
                        const customer = await p.token(`${prefix}_${k}_${Math.floor(n / ORDERS_PER_CUSTOMER)}`);
                        const store = stores[(k + n) % stores.length];
                        const owner = await p.token(`owner_${store.id}`, 'store', store.id);
                        const order = await resilientLifecycle(p, {
                                customer, owner, rider, store, lines: [[store.menu[0], 1 + (n % 3)]],
                                onPlaced: (o) => placed.push({ id: o.id, at: Date.now() }),
                        });
                        completed.push({ order, customer });
                }
        };
        const loops = Array.from({ length: lanes }, (_, k) => loop(k).catch((e) => { failures.push(e); running = false; }));
        return {
                placed,
                completed,
                failed: () => failures.length > 0,
                stop: async () => {
                        running = false;
                        await Promise.all(loops);
                        if (failures.length) throw failures[0];
                        return completed;
                },
        };
}

// Milliseconds from now until a new order is placed and shown PAID (placing retried through an outage): how long
// the platform takes to take orders again after a fault. Resolves to {ms, order, rest}: rest walks that order on
// to COMPLETED in the background and resolves to {order, customer} (for expectCompleted).
export async function timeToPaid(p, customer, store) {
        const t0 = Date.now();
        const o = await placeRetrying(p, customer, store, [[store.menu[0], 1]]);
        await waitStatus(p, customer, o.id, 'PAID');
        const ms = Date.now() - t0;
        const owner = await p.token(`owner_${store.id}`, 'store', store.id);
        const rider = await p.token('probe_rider', 'rider');
        const rest = walkToCompleted(p, o, { customer, owner, rider, store }).then((order) => ({ order, customer }));
        rest.catch(() => {}); // awaited by the caller; not an unhandled rejection meanwhile
        return { ms, order: o, rest };
}

// --- orchestrator replicas and their shards ---

// The instance id an orchestrator process logs ("orchestrator orch_…:"), as its writing session names itself.
export function orchestratorInstance(proc) {
        return (fs.readFileSync(proc.log, 'utf8').match(/orchestrator (orch_[0-9a-f]+):/g) || []).map((m) => m.slice(13, -1)).pop();
}

// The sessions holding shard locks (advisory 1718579556, shard), most shards first: [{pid, n, instance}].
export async function shardHolders(p) {
        return (await p.sql("SELECT string_agg(l.pid || ':' || l.n || ':' || a.application_name, ',')"
                + " FROM (SELECT pid, count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = 1718579556 AND granted"
                + " GROUP BY pid) l JOIN pg_stat_activity a USING (pid)")).split(',').filter(Boolean)
                .map((x) => x.split(':')).map(([pid, n, app]) => ({ pid: Number(pid), n: Number(n), instance: app.split(' ')[1] }))
                .sort((a, b) => b.n - a.n);
}

// A value of a service's Prometheus metric `name` (its first series), from the /metrics beside its /readyz; NaN
// when it has none.
export async function serviceMetric(proc, name, labels) {
        const url = proc.readyUrl.replace('/readyz', '/metrics');
        const text = await (await fetch(url)).text();
        // `labels` (e.g. 'phase="await"') picks one series of a family; without it, the family's first series.
        const series = labels ? `\\{${labels.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\}` : '(?:\\{[^}]*\\})?';
        const m = text.match(new RegExp(`^${name}${series} (\\S+)$`, 'm'));
        return m ? Number(m[1]) : NaN;
}
