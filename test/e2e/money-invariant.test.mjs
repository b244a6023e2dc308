// The money invariant under a randomized run: orders placed with tok_ok or tok_declined walk the saga at random
// (accept, refuse, cancel at any point, let the store time out, cook, pick, deliver, confirm or let it
// auto-complete, invalid actions, two conflicting actions at once); once every order is terminal or waiting in
// a state without a timer, for every order: charged - refunded on the PSP ledger is what the customer owes for
// its final status (the total, or 0 when REFUSED/CANCELLED/REJECTED), amount_paid/amount_refunded in the read
// model agree with the ledger, the saga agrees with the read model, and no charge or refund key appears twice.
// The seed is printed; SEED=<n> replays the same choices (interleavings still vary).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { startPlatform } from '../harness.mjs';
import { pick, rng } from '../chaos-driver.mjs'; // seeded choices: one stream per order, independent of interleaving
import {
        adminSaga, catalog, expectStatus, krw, ledgerOf, notificationsOf, orderBody, OWES_TOTAL, pspLedger, show,
        TERMINAL, visible,
} from '../flows.mjs';

const SEED = process.env.SEED !== undefined ? Number(process.env.SEED) : randomInt(2 ** 31);
const ORDERS = Number(process.env.ORDERS || 72);
const LANES = 8;
const CUSTOMERS = 6;
const STORE_TIMEOUT_S = 4;
const AUTO_COMPLETE_S = 5;
const SETTLE_MS = 60_000;
// PATCH racing accept/cancel/cooking-started is part of the walk (MODIFY_RACES=0 leaves it out).
const MODIFY_RACES = process.env.MODIFY_RACES !== '0';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The status each action leads to, and the states that allow it (SPEC §3, §4).
const ACTIONS = {
        accept: { to: 'ACCEPTED', from: ['PAID'] },
        refuse: { to: 'REFUSED', from: ['PAID'] },
        cancel: { to: 'CANCELLED', from: ['PAID', 'ACCEPTED'] },
        'cooking-started': { to: 'COOKING', from: ['ACCEPTED'] },
        'cooking-finished': { to: 'COOKED', from: ['COOKING'] },
        pick: { to: 'PICKED_UP', from: ['COOKED'] },
        delivered: { to: 'DELIVERED', from: ['PICKED_UP'] },
        confirm: { to: 'COMPLETED', from: ['DELIVERED'] },
        modify: { to: null, from: ['PAID', 'ACCEPTED'] }, // PATCH: the status stays
};

// What a walk does next in each state: an action, 'stop' (leave it there; in PAID the store deadline and in
// DELIVERED the auto-complete timer take over), 'race:a,b' (two actions at once) or 'bad' (an action the state
// does not allow).
const MENU = {
        PAID: { accept: 45, refuse: 10, cancel: 12, modify: 10, stop: 10, bad: 5, 'race:cancel,accept': 5, 'race:refuse,accept': 5, 'race:cancel,refuse': 4, 'race:cancel,cancel': 4,
                ...(MODIFY_RACES ? { 'race:modify,accept': 5, 'race:modify,cancel': 4 } : {}) },
        ACCEPTED: { 'cooking-started': 60, cancel: 12, modify: 10, stop: 8, bad: 6, 'race:cancel,cooking-started': 10, 'race:cancel,cancel': 4,
                ...(MODIFY_RACES ? { 'race:modify,cooking-started': 5, 'race:modify,cancel': 4 } : {}) },
        COOKING: { 'cooking-finished': 75, cancel: 8, stop: 8, bad: 9 },
        COOKED: { pick: 75, cancel: 8, stop: 8, bad: 9 },
        PICKED_UP: { delivered: 80, cancel: 8, stop: 6, bad: 6 },
        DELIVERED: { confirm: 45, stop: 30, 'race:confirm,confirm': 15, cancel: 10 },
};

describe(`money invariant: ${ORDERS} random orders (SEED=${SEED})`, () => {
        let p, stores, rider, admin;
        const customers = [];
        const owners = new Map();
        const orders = []; // {i, id, total, customer, store, log: [..]}
        let declined = 0;
        const couponTries = []; // {coupon, customer} of every placement with a coupon (declined and refused ones too)

        before(async () => {
                console.log(`# money-invariant: SEED=${SEED} (replay with SEED=${SEED})`);
                p = await startPlatform({
                        name: 'money-invariant',
                        replicas: { payment: 2 },
                        env: { orchestrator: { STORE_ACCEPT_TIMEOUT_S: String(STORE_TIMEOUT_S), AUTO_COMPLETE_S: String(AUTO_COMPLETE_S) } },
                });
                stores = (await catalog(p)).filter((s) => s.menu.length >= 2);
                rider = await p.token('rider_money', 'rider');
                admin = await p.token('ops_money', 'admin');
                for (let i = 0; i < CUSTOMERS; i++) customers.push(await p.token(`cust_money_${i}`, 'customer'));
                for (const s of stores) owners.set(s.id, await p.token(`owner_${s.id}`, 'store', s.id));
        });
        after(async () => { await p?.stop(); });

        const where = (o) => `(SEED=${SEED}) order #${o.i} ${o.id}, walk: ${o.log.join(' → ')}`;

        // Sends one action for order `o`; resolves to the answer.
        function send(o, action) {
                const dlv = o.id.replace(/^ord_/, 'dlv_');
                const owner = owners.get(o.store.id);
                if (action === 'modify') {
                        // New items priced from the menu (the walk's own random source decides them).
                        const lines = [[o.store.menu[0], 1 + Math.floor(o.r() * 5)]];
                        if (o.r() < 0.5) lines.push([o.store.menu[1], 1 + Math.floor(o.r() * 3)]);
                        const total = lines.reduce((sum, [m, q]) => sum + m.price * q, 0);
                        o.asked = total;
                        return p.api('PATCH', `/orders/${o.id}`, { token: o.customer, body: { items: lines.map(([m, q]) => ({ menu_item_id: m.id, quantity: q })), note: `changed #${o.log.length}` } });
                }
                const path = {
                        accept: [`/stores/${o.store.id}/orders/${o.id}/accept`, owner],
                        refuse: [`/stores/${o.store.id}/orders/${o.id}/refuse`, owner, { reason: 'random refusal' }],
                        cancel: [`/orders/${o.id}/cancel`, o.customer],
                        'cooking-started': [`/stores/${o.store.id}/orders/${o.id}/cooking-started`, owner],
                        'cooking-finished': [`/stores/${o.store.id}/orders/${o.id}/cooking-finished`, owner],
                        pick: [`/deliveries/${dlv}/pick`, rider],
                        delivered: [`/deliveries/${dlv}/delivered`, rider],
                        confirm: [`/orders/${o.id}/confirm`, o.customer],
                }[action];
                return p.api('POST', path[0], { token: path[1], body: path[2] });
        }

        // The orchestrator's own current state of the order.
        async function sagaState(o) {
                return (await adminSaga(p, admin, o.id)).state;
        }

        // Checks one answer to `action` sent while the order was (as far as this walk knew) in `known`:
        // 200 with the action's status, or 409 when the saga's state does not allow it. Resolves to the
        // state the walk continues from.
        async function judge(o, action, known, r) {
                const a = ACTIONS[action];
                o.log.push(`${action}:${r.status}${action === 'modify' ? `(${o.total}→${o.asked})` : ''}`);
                if (action === 'modify' && r.status === 200) {
                        assert.ok(a.from.includes(r.json?.status), `PATCH answered 200 with status ${r.json?.status} ${where(o)}`);
                        assert.equal(r.json.total, o.asked, `PATCH: the new total in the answer ${show(r)} ${where(o)}`);
                        if (o.asked > o.total) o.extraCharges++;
                        o.total = o.asked;
                        o.modified++;
                        return r.json.status;
                }
                if (r.status === 200) {
                        assert.ok(a.from.includes(known) || !TERMINAL.has(known),
                                `${action} answered 200 although the order was already ${known}: ${show(r)} ${where(o)}`);
                        assert.equal(r.json?.status, a.to, `${action}: status in the 200 answer ${show(r)} ${where(o)}`);
                        return a.to;
                }
                assert.equal(r.status, 409, `${action} in ${known}: expected 200 or 409, got ${show(r)} ${where(o)}`);
                assert.match(r.headers.get('content-type') || '', /^application\/problem\+json/, `${action}: 409 content-type ${where(o)}`);
                const now = await sagaState(o);
                // A 409 is only right when the state (now) does not allow the action; a timer may have moved it.
                assert.ok(!a.from.includes(now), `${action} answered 409 but the saga is ${now}, which allows it: ${show(r)} ${where(o)}`);
                return now;
        }

        // One order's random walk, starting with placing it.
        async function walk(i) {
                const r = rng((SEED ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
                const store = stores[Math.floor(r() * stores.length)];
                const customer = customers[i % CUSTOMERS];
                const lines = [[store.menu[0], 1 + Math.floor(r() * 5)]];
                if (r() < 0.5) lines.push([store.menu[1], 1 + Math.floor(r() * 3)]);
                const card = r() < 0.15 ? 'tok_declined' : 'tok_ok';
                const body = orderBody(store, lines, card);
                // Sometimes with one of the customer's unused coupons for this store (one comes with every cooked order).
                let coupon = null;
                if (r() < 0.7) {
                        const me = expectStatus(await p.api('GET', '/customers/me', { token: customer }), 200, 'GET /customers/me').json;
                        const usable = (me.coupons || []).filter((c) => c.store_id === store.id && !c.used);
                        if (usable.length) coupon = usable[Math.floor(r() * usable.length)];
                }
                if (coupon) {
                        body.coupon_id = coupon.id;
                        couponTries.push({ coupon: coupon.id, customer });
                }
                const placed = await p.api('POST', '/orders', { token: customer, body, headers: { 'idempotency-key': `money-${SEED}-${i}` } });
                // A coupon another order of the customer redeemed meanwhile is refused with 422, nothing established.
                if (coupon && placed.status === 422) return;
                if (card === 'tok_declined') {
                        assert.equal(placed.status, 402, `(SEED=${SEED}) order #${i} with tok_declined${coupon ? ` and coupon ${coupon.id}` : ''}: expected 402, got ${show(placed)}`);
                        declined++;
                        return;
                }
                expectStatus(placed, 201, `(SEED=${SEED}) order #${i}${coupon ? ` with coupon ${coupon.id}` : ''}: POST /orders`);
                const o = {
                        i, id: placed.json.id, total: placed.json.total, discount: placed.json.discount, coupon: coupon?.id ?? null, customer, store,
                        log: ['PAID'], r, firstCharge: placed.json.total > placed.json.discount ? 1 : 0, extraCharges: 0, modified: 0, raced: false,
                };
                if (coupon) {
                        assert.equal(o.discount, Math.min(coupon.discount, o.total), `(SEED=${SEED}) discount of ${o.id} with coupon ${JSON.stringify(coupon)}`);
                        o.log.push(`coupon ${coupon.id} -${o.discount}`);
                }
                assert.equal(placed.json.amount_paid, o.total - o.discount, `(SEED=${SEED}) amount_paid of ${o.id} = total - discount`);
                orders.push(o);
                let state = 'PAID';
                for (let step = 0; step < 12 && !TERMINAL.has(state); step++) {
                        if (r() < 0.4) await sleep(Math.floor(r() * 250));
                        const choice = pick(r, MENU[state]);
                        if (choice === 'stop') {
                                o.log.push('stop');
                                return;
                        }
                        if (choice === 'bad') {
                                // ('delivered' of a delivery nobody picked is refused with 403 today; refuse-cancel checks it.)
                                const bad = Object.keys(ACTIONS).filter((a) => !ACTIONS[a].from.includes(state) && a !== 'delivered');
                                const action = bad[Math.floor(r() * bad.length)];
                                const ans = await send(o, action);
                                // Only this walk acts on the order and timers only lead to terminal states: a
                                // state that did not allow the action never comes to allow it.
                                assert.equal(ans.status, 409, `${action} is not allowed in ${state}: ${show(ans)} ${where(o)}`);
                                state = await judge(o, action, state, ans);
                                continue;
                        }
                        if (choice.startsWith('race:')) {
                                const [a, b] = choice.slice(5).split(',');
                                const known = state;
                                const [ra, rb] = await Promise.all([send(o, a), send(o, b)]);
                                o.log.push(`race(${a}:${ra.status},${b}:${rb.status})`);
                                for (const [act, ans] of [[a, ra], [b, rb]]) {
                                        assert.ok(ans.status === 200 || ans.status === 409, `race ${a} vs ${b}: ${act} answered ${show(ans)} ${where(o)}`);
                                        if (ans.status === 200 && act !== 'modify') assert.equal(ans.json?.status, ACTIONS[act].to, `race: ${act} answer ${show(ans)} ${where(o)}`);
                                }
                                if (a === 'modify' || b === 'modify') {
                                        // Who went first is unknown: the final total comes from the read model.
                                        o.raced = true;
                                        state = await sagaState(o);
                                        continue;
                                }
                                const wins = [ra, rb].filter((x) => x.status === 200).length;
                                // Only cancel after accept can both succeed (cancel is allowed in ACCEPTED).
                                const both = (a === 'cancel' && b === 'accept') || (a === 'accept' && b === 'cancel');
                                assert.ok(wins === 1 || (wins === 2 && both) || (wins === 0 && TERMINAL.has(await sagaState(o))),
                                        `race ${a} vs ${b} in ${known}: ${wins} winners ${where(o)}`);
                                state = await sagaState(o);
                                continue;
                        }
                        state = await judge(o, choice, state, await send(o, choice));
                }
                // A terminal order refuses anything more, sometimes tried.
                if (TERMINAL.has(state) && r() < 0.3) {
                        const action = Object.keys(ACTIONS).filter((a) => a !== 'delivered')[Math.floor(r() * 7)];
                        const ans = await send(o, action);
                        o.log.push(`${action}:${ans.status}`);
                        assert.equal(ans.status, 409, `${action} on a ${state} order: ${show(ans)} ${where(o)}`);
                }
        }

        it(`${ORDERS} orders walk the saga at random, ${LANES} at a time; every answer is 200/201, 402 or 409`, async () => {
                let next = 0;
                const errors = [];
                // A failed walk ends its order only: the others go on, so that the checks below see a quiet platform.
                await Promise.all(Array.from({ length: LANES }, async () => {
                        while (next < ORDERS) await walk(next++).catch((e) => errors.push(e));
                }));
                if (errors.length) {
                        errors[0].message += errors.length > 1 ? `\n(and ${errors.length - 1} more failed walks: ${errors.slice(1).map((e) => e.message.split('\n')[0]).join(' | ')})` : '';
                        throw errors[0];
                }
                assert.ok(orders.length >= ORDERS / 2, `(SEED=${SEED}) only ${orders.length} orders were paid`);
        });

        // Settled: terminal with any refund complete, or waiting where no timer will move it.
        const STABLE = new Set(['ACCEPTED', 'COOKING', 'COOKED', 'PICKED_UP']);
        let views = new Map();

        it('every order settles: terminal (refund complete) or waiting in ACCEPTED/COOKING/COOKED/PICKED_UP', async () => {
                const unsettled = () => orders.filter((o) => {
                        const v = views.get(o.id);
                        if (!v) return true;
                        if (STABLE.has(v.status) || v.status === 'COMPLETED') return false;
                        return !(TERMINAL.has(v.status) && v.amount_refunded === v.amount_paid);
                });
                const deadline = Date.now() + SETTLE_MS;
                for (;;) {
                        for (const o of unsettled()) {
                                const r = await p.api('GET', `/orders/${o.id}`, { token: o.customer });
                                if (r.status === 200) views.set(o.id, r.json);
                        }
                        if (unsettled().length === 0 || Date.now() > deadline) break;
                        await sleep(500);
                }
                const left = unsettled();
                assert.deepEqual(left.map((o) => `${o.id}:${views.get(o.id)?.status}:${views.get(o.id)?.amount_paid}/${views.get(o.id)?.amount_refunded}`), [],
                        `(SEED=${SEED}) orders not settled within ${SETTLE_MS} ms:\n${left.map(where).join('\n')}`);
                await sleep(1000); // anything still in flight (a late refund, a duplicate) shows by now
                views = new Map();
                for (const o of orders) views.set(o.id, expectStatus(await p.api('GET', `/orders/${o.id}`, { token: o.customer }), 200, `GET /orders/${o.id}`).json);
        });

        it('for every order: charged - refunded on the PSP = what its final status owes; read model and saga agree', async () => {
                assert.equal(views.size, orders.length, 'the settle step did not complete');
                const ledger = await pspLedger(p);
                const counts = {};
                for (const o of orders) {
                        const v = views.get(o.id);
                        counts[v.status] = (counts[v.status] || 0) + 1;
                        const l = ledgerOf(ledger, o.id);
                        if (!o.raced) assert.equal(v.total, o.total, `total after ${o.modified} modifications ${where(o)}`);
                        const owed = OWES_TOTAL.has(v.status) ? v.total - o.discount : 0;
                        assert.equal(v.discount, o.discount, `discount ${where(o)}`);
                        assert.equal(l.net, owed, `${v.status}: charged ${l.charged} - refunded ${l.refunded} on the PSP, owed ${owed} ${where(o)}`);
                        if (!o.raced) {
                                assert.equal(l.approved.length, o.firstCharge + o.extraCharges,
                                        `approved charges: the first (none when a coupon paid it all) and one per higher modification: ${JSON.stringify(l.approved)} ${where(o)}`);
                        }
                        assert.equal(v.amount_paid, l.charged, `read model amount_paid vs the PSP ${where(o)}`);
                        assert.equal(v.amount_refunded, l.refunded, `read model amount_refunded vs the PSP ${where(o)}`);
                        for (const c of l.approved) {
                                const back = l.refunds.filter((x) => x.charge_id === c.id).reduce((sum, x) => sum + x.amount, 0);
                                assert.equal(c.refunded, back, `charge ${c.id}: its refunded amount vs its refunds ${where(o)}`);
                                assert.ok(back <= c.amount, `charge ${c.id}: refunded ${back} > charged ${c.amount} ${where(o)}`);
                        }
                        const saga = await adminSaga(p, admin, o.id);
                        assert.equal(saga.state, v.status, `saga state vs read model ${where(o)}`);
                        assert.equal(saga.compensation_failed, false, `compensation_failed ${where(o)}`);
                        const hist = visible(v.history.map((h) => h.status));
                        assert.equal(hist[0], 'PAID', `history starts with PAID: ${hist} ${where(o)}`);
                        assert.equal(hist[hist.length - 1], v.status, `history ends with the status: ${hist} ${where(o)}`);
                        assert.equal(new Set(hist).size, hist.length, `no status twice in the history: ${hist} ${where(o)}`);
                }
                console.log(`# money-invariant (SEED=${SEED}): final statuses ${JSON.stringify(counts)}, ${declined} declined, `
                        + `${orders.reduce((n, o) => n + o.modified, 0)} modifications (${orders.reduce((n, o) => n + o.extraCharges, 0)} charged extra)`);
        });

        it('the PSP ledger: no key twice, no charge refunded beyond what it took, every charge belongs to a paid order, declined ones to none', async () => {
                const ledger = await pspLedger(p);
                const dup = (list) => list.filter((k, i) => list.indexOf(k) !== i);
                assert.deepEqual(dup(ledger.charges.map((c) => c.idempotency_key)), [], `(SEED=${SEED}) charge idempotency keys twice`);
                assert.deepEqual(dup(ledger.charges.map((c) => c.id)), [], `(SEED=${SEED}) charge ids twice`);
                assert.deepEqual(dup(ledger.refunds.map((x) => x.idempotency_key)), [], `(SEED=${SEED}) refund idempotency keys twice`);
                for (const c of ledger.charges) {
                        const back = ledger.refunds.filter((x) => x.charge_id === c.id).reduce((sum, x) => sum + x.amount, 0);
                        assert.ok(back <= (c.status === 'approved' ? c.amount : 0), `(SEED=${SEED}) charge ${c.id} (${c.status}, ${c.amount}) refunded ${back}`);
                }
                const known = new Set(orders.map((o) => o.id));
                const orderOf = (key) => key.slice(0, key.indexOf('.'));
                const approved = ledger.charges.filter((c) => c.status === 'approved');
                assert.deepEqual(approved.filter((c) => !known.has(orderOf(c.idempotency_key))).map((c) => c.idempotency_key), [],
                        `(SEED=${SEED}) approved charges of no paid order`);
                const declinedKeys = ledger.charges.filter((c) => c.status !== 'approved').map((c) => orderOf(c.idempotency_key));
                assert.equal(declinedKeys.length, declined, `(SEED=${SEED}) declined charges on the PSP vs 402 answers`);
                for (const id of declinedKeys) {
                        assert.ok(!known.has(id), `(SEED=${SEED}) a declined charge for a paid order ${id}`);
                        assert.deepEqual(ledger.refunds.filter((x) => orderOf(x.idempotency_key) === id), [], `(SEED=${SEED}) a refund for the declined order ${id}`);
                }
                const refundedTotal = ledger.refunds.reduce((s, x) => s + x.amount, 0);
                const chargedTotal = approved.reduce((s, c) => s + c.amount, 0);
                // The view's total: a raced modification may have changed it without the walk knowing.
                const owedTotal = orders.reduce((s, o) => s + (OWES_TOTAL.has(views.get(o.id)?.status) ? views.get(o.id).total - o.discount : 0), 0);
                assert.equal(chargedTotal - refundedTotal, owedTotal, `(SEED=${SEED}) kept by the platform: charged ${chargedTotal} - refunded ${refundedTotal}, owed ${owedTotal}`);
        });

        it('coupons: one used iff an order that redeemed it still owes (given back on refusal, cancellation, decline)', async () => {
                const tried = [...new Set(couponTries.map((t) => `${t.customer}\n${t.coupon}`))];
                for (const key of tried) {
                        const [customer, id] = key.split('\n');
                        const holders = orders.filter((o) => o.coupon === id && OWES_TOTAL.has(views.get(o.id)?.status));
                        assert.ok(holders.length <= 1, `(SEED=${SEED}) coupon ${id} redeemed by ${holders.length} orders that still owe: ${holders.map(where).join('\n')}`);
                        let c, want;
                        try {
                                // A give-back follows the refusal or cancellation asynchronously.
                                c = await p.waitFor(async () => {
                                        const me = expectStatus(await p.api('GET', '/customers/me', { token: customer }), 200, 'GET /customers/me').json;
                                        const x = me.coupons.find((k) => k.id === id);
                                        want = holders.length === 1;
                                        return x && x.used === want && x;
                                }, 15_000);
                        } catch {
                                const me = (await p.api('GET', '/customers/me', { token: customer })).json;
                                assert.fail(`(SEED=${SEED}) coupon ${id}: expected used=${want} (orders with it: ${orders.filter((o) => o.coupon === id).map((o) => `${o.id}:${views.get(o.id)?.status}`).join(', ') || 'none established'}), got ${JSON.stringify(me.coupons.find((k) => k.id === id))}`);
                        }
                        assert.ok(c);
                }
                console.log(`# money-invariant (SEED=${SEED}): ${couponTries.length} placements with a coupon, ${orders.filter((o) => o.coupon).length} established`);
        });

        it('customers: every paid order in their list, no REJECTED one; one notification per status change (and per refund)', async () => {
                for (let c = 0; c < CUSTOMERS; c++) {
                        const mine = orders.filter((o) => o.customer === customers[c]);
                        const list = expectStatus(await p.api('GET', '/orders', { token: customers[c] }), 200, 'GET /orders').json;
                        assert.deepEqual(list.map((o) => o.id).sort(), mine.map((o) => o.id).sort(), `(SEED=${SEED}) GET /orders of cust_money_${c}`);
                        assert.ok(!list.some((o) => o.status === 'REJECTED' || o.status === 'PAYMENT_PENDING'), `(SEED=${SEED}) REJECTED in the list of cust_money_${c}`);
                }
                for (const o of orders) {
                        const v = views.get(o.id);
                        const hist = visible(v.history.map((h) => h.status));
                        if (o.modified || o.raced) {
                                // Modifications and their refunds add notices with the same status ("updated",
                                // "refunded"): count only the status changes, one each.
                                const want = hist.map((st) => `${st}`).sort();
                                let got;
                                try {
                                        got = await p.waitFor(async () => {
                                                const n = (await notificationsOf(p, o.customer, o.id)).filter((x) => !/KRW was refunded|was updated/.test(x.message));
                                                return n.length >= want.length && n;
                                        }, 15_000);
                                } catch {
                                        got = (await notificationsOf(p, o.customer, o.id)).filter((x) => !/KRW was refunded|was updated/.test(x.message));
                                }
                                assert.deepEqual(got.map((x) => x.status).sort(), want, `status-change notifications of a modified order ${where(o)}`);
                                continue;
                        }
                        const refunded = v.amount_refunded > 0;
                        const want = [...hist.map((s) => `${s}:status`), ...(refunded ? [`${v.status}:refund`] : [])].sort();
                        const got = await p.waitFor(async () => {
                                const n = await notificationsOf(p, o.customer, o.id);
                                return n.length >= want.length && n;
                        }, 15_000).catch(() => null) ?? await notificationsOf(p, o.customer, o.id);
                        const text = `${krw(v.amount_refunded)} KRW was refunded`;
                        const kinds = got.map((n) => `${n.status}:${refunded && n.message.includes(text) ? 'refund' : 'status'}`).sort();
                        assert.deepEqual(kinds, want, `notifications ${JSON.stringify(got.map((n) => n.status))} ${where(o)}`);
                }
        });
});
