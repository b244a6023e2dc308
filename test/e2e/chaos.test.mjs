// Crash recovery (issue 5): orders walk the saga at random through the gateway while test/chaos-driver.mjs strikes
// every few seconds: a random process SIGKILLed and restarted (as a supervisor would) or SIGSTOPped for a while
// (the orchestrator, every worker, the gateway, nats-server, PostgreSQL with its backends), every PostgreSQL
// session cut, or the link to PostgreSQL or NATS partitioned or slowed (every service connects through a LinkProxy).
// The client retries what got no answer (connection refused, 503, 504) with the same Idempotency-Key; an order
// counts as accepted once the gateway answered 201. After the chaos every order still waiting is driven to its end,
// and then, against PostgreSQL, the sandbox PSP's ledger and the sandbox sink: every order is terminal, charged -
// refunded is what its final status owes (each order and in total), no provider key twice, no decision the client
// was told about is lost, coupons are used once and given back, and one notification row and one webhook per
// status change. Before the load: every process's /readyz turns 503 while PostgreSQL or NATS is down, NATS is cut
// off or PostgreSQL hangs, and 200 once it is back.
// SEED=<n> replays the same orders, actions and fault schedule (written to <log dir>/chaos-schedule.json);
// ORDERS, LANES, THINK_MS, FAULTS=kill|pause|sever|partition|delay|both and REPLICAS size the run.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startPlatform } from '../harness.mjs';
import { ChaosDriver, childrenOf, LinkProxy, pick, rng } from '../chaos-driver.mjs';
import { catalog, fullLifecycle, ledgerOf, orderBody, ORDER_STATUSES, OWES_TOTAL, TERMINAL, visible } from '../flows.mjs';

const SEED = process.env.SEED !== undefined ? Number(process.env.SEED) : randomInt(2 ** 31);
const ORDERS = Number(process.env.ORDERS || 300);
const LANES = Number(process.env.LANES || 10);
const FAULTS = {
        kill: { kill: 1 }, pause: { pause: 1 }, sever: { sever: 1 }, partition: { partition: 1 }, delay: { delay: 1 },
        both: { kill: 8, pause: 2, sever: 1, partition: 2, delay: 1 },
}[process.env.FAULTS || 'both'];
const CUSTOMERS = 8;
const THINK_MS = Number(process.env.THINK_MS || 1500);
const STORE_TIMEOUT_S = 20;
const AUTO_COMPLETE_S = 8;
// How long one request is retried while the platform is recovering (each try is bounded by the harness).
const RETRY_MS = 60_000;
const SETTLE_MS = 180_000;
const TRANSIENT = new Set([0, 502, 503, 504]);
// REPLICAS=<n> runs n replicas of each worker (each one a target of its own).
const REPLICAS = Number(process.env.REPLICAS || 1);
const NOTICE_RE = /was updated|KRW was refunded/;

// Statuses only the walk's own action reaches (no timer or other actor leads there): a 409 to the action
// followed by that status means the decision was made and the client told otherwise.
const ONLY_BY_ACTION = new Set(['ACCEPTED', 'COOKING', 'COOKED', 'PICKED_UP', 'DELIVERED']);
// The status each action leads to, and what a walk does next in each state ('stop' leaves it there: the store
// deadline, the auto-completion or, after the chaos, the driver takes over).
const ACTIONS = {
        accept: 'ACCEPTED', refuse: 'REFUSED', cancel: 'CANCELLED', 'cooking-started': 'COOKING', 'cooking-finished': 'COOKED',
        pick: 'PICKED_UP', delivered: 'DELIVERED', confirm: 'COMPLETED', modify: null,
};
const MENU = {
        PAID: { accept: 60, refuse: 8, cancel: 10, modify: 8, stop: 4 },
        ACCEPTED: { 'cooking-started': 70, cancel: 10, modify: 8, stop: 3 },
        COOKING: { 'cooking-finished': 90, stop: 3 },
        COOKED: { pick: 90, stop: 3 },
        PICKED_UP: { delivered: 90, stop: 3 },
        DELIVERED: { confirm: 70, stop: 20 },
};
// What drives an order still waiting after the chaos to its end.
const NEXT = { PAID: 'accept', ACCEPTED: 'cooking-started', COOKING: 'cooking-finished', COOKED: 'pick', PICKED_UP: 'delivered', DELIVERED: 'confirm' };

describe(`chaos: ${ORDERS} orders while processes crash and links fail (SEED=${SEED})`, () => {
        let p, stores, rider, admin, chaos;
        const links = {}; // 'pg-link', 'nats-link': the proxies every service reaches PostgreSQL and NATS through
        const customers = []; // {sub, token}
        const owners = new Map();
        const orders = []; // accepted (201): {i, id, customer, store, decisions: [{action, to}], log}
        const unanswered = []; // {i, key, customer}: POST /orders never got a final answer
        const unexpected = []; // answers no request should get, even during a crash
        let declined = 0;
        let couponRefused = 0;
        let final = null; // after the settle step: {sagas, views, ledger, rows, sink, coupons}

        before(async () => {
                console.log(`# chaos: SEED=${SEED} ORDERS=${ORDERS} LANES=${LANES} (replay with SEED=${SEED})`);
                p = await startPlatform({
                        name: 'chaos',
                        sink: true,
                        replicas: REPLICAS,
                        // A crash must not lose what PostgreSQL said was committed (the harness's default does not wait
                        // for the WAL, which a SIGKILL of the server then loses).
                        pgSettings: { synchronous_commit: 'on' },
                        beforeServices: async (pl) => {
                                links['pg-link'] = new LinkProxy('pg-link', pl.pgPort);
                                links['nats-link'] = new LinkProxy('nats-link', Number(new URL(pl.natsUrl).port));
                                const pgLink = await links['pg-link'].listen();
                                const natsLink = await links['nats-link'].listen();
                                pl.opts.env.all = {
                                        ...pl.opts.env.all,
                                        DATABASE_URL: pl.databaseUrl.replace(`:${pl.pgPort}/`, `:${pgLink}/`),
                                        NATS_URL: `nats://127.0.0.1:${natsLink}`,
                                };
                        },
                        env: {
                                orchestrator: {
                                        STORE_ACCEPT_TIMEOUT_S: String(STORE_TIMEOUT_S), AUTO_COMPLETE_S: String(AUTO_COMPLETE_S),
                                        COMMAND_RESEND_MS: '1000', PAYMENT_TIMEOUT_S: '15',
                                },
                                notification: { NOTIFY_RETRY_BASE_MS: '200', NOTIFY_RETRY_MAX_MS: '2000', NOTIFY_MAX_ATTEMPTS: '200', NOTIFY_TIMEOUT_MS: '2000' },
                        },
                });
                fs.writeFileSync(path.join(p.logDir, 'seed.txt'), `SEED=${SEED} ORDERS=${ORDERS} LANES=${LANES}\n`);
                stores = (await catalog(p)).filter((s) => s.menu.length >= 2);
                rider = await p.token('rider_chaos', 'rider');
                admin = await p.token('ops_chaos', 'admin');
                for (let i = 0; i < CUSTOMERS; i++) customers.push({ sub: `cust_chaos_${i}`, token: await p.token(`cust_chaos_${i}`, 'customer') });
                for (const s of stores) owners.set(s.id, await p.token(`owner_${s.id}`, 'store', s.id));
        });
        after(async () => {
                if (chaos) await chaos.stop().catch(() => {});
                await p?.stop();
                for (const l of Object.values(links)) l.close();
        });

        // One HTTP request; a failed connection or timeout is status 0 instead of an exception.
        async function call(method, url, opts = {}) {
                try {
                        return await p.api(method, url, { timeoutMs: 8000, ...opts });
                } catch (e) {
                        return { status: 0, json: null, text: e.message, headers: new Headers() };
                }
        }

        // Repeats a request while the answer is transient (0, 502, 503, 504), for at most RETRY_MS; resolves to the
        // last answer and whether an earlier try may have been applied ({r, retried}).
        async function retrying(method, url, opts = {}) {
                const deadline = Date.now() + RETRY_MS;
                let retried = false;
                for (;;) {
                        const r = await call(method, url, opts);
                        if (!TRANSIENT.has(r.status) || Date.now() > deadline) return { r, retried };
                        retried = true;
                        await sleep(200 + randomInt(600));
                }
        }

        function note(what, r) {
                unexpected.push(`${what}: ${r.status} ${r.text.slice(0, 200)}`);
        }

        // The orchestrator's own state of an order (GET /admin/sagas), retried while the platform recovers.
        async function sagaState(id) {
                const { r } = await retrying('GET', `/admin/sagas/${id}`, { token: admin });
                if (r.status !== 200) {
                        note(`GET /admin/sagas/${id}`, r);
                        return null;
                }
                return r.json.state;
        }

        // Sends `action` for order `o` (retrying transient answers); resolves to {r, retried}.
        function send(o, action, rand = Math.random) {
                const dlv = o.id.replace(/^ord_/, 'dlv_');
                const owner = owners.get(o.store.id);
                if (action === 'modify') {
                        const lines = [[o.store.menu[0], 1 + Math.floor(rand() * 5)]];
                        if (rand() < 0.5) lines.push([o.store.menu[1], 1 + Math.floor(rand() * 3)]);
                        return retrying('PATCH', `/orders/${o.id}`, {
                                token: o.customer.token, body: { items: lines.map(([m, q]) => ({ menu_item_id: m.id, quantity: q })), note: 'changed under chaos' },
                        });
                }
                const [url, token, body] = {
                        accept: [`/stores/${o.store.id}/orders/${o.id}/accept`, owner],
                        refuse: [`/stores/${o.store.id}/orders/${o.id}/refuse`, owner, { reason: 'chaos refusal' }],
                        cancel: [`/orders/${o.id}/cancel`, o.customer.token],
                        'cooking-started': [`/stores/${o.store.id}/orders/${o.id}/cooking-started`, owner],
                        'cooking-finished': [`/stores/${o.store.id}/orders/${o.id}/cooking-finished`, owner],
                        pick: [`/deliveries/${dlv}/pick`, rider],
                        delivered: [`/deliveries/${dlv}/delivered`, rider],
                        confirm: [`/orders/${o.id}/confirm`, o.customer.token],
                }[action];
                return retrying('POST', url, { token, body });
        }

        // Sends one action and judges the answer; resolves to the state the walk goes on from (null: unknown).
        async function act(o, action, rand, known = null) {
                const { r, retried } = await send(o, action, rand);
                o.log.push(`${action}:${r.status}${retried ? '(retried)' : ''}`);
                if (r.status === 200) {
                        // The client was told: this decision must survive whatever crashes next.
                        o.decisions.push({ action, to: ACTIONS[action] });
                        return action === 'modify' ? r.json?.status : ACTIONS[action];
                }
                // 409: not allowed now (a timer moved it, or an earlier try that got no answer was applied);
                // 402: a declined extra charge; a transient answer after RETRY_MS: the saga knows.
                if (r.status !== 409 && r.status !== 402 && !TRANSIENT.has(r.status)) note(`${action} ${o.id}`, r);
                const now = await sagaState(o.id);
                if (r.status === 409 && !retried && known !== now && now === ACTIONS[action] && ONLY_BY_ACTION.has(now)) {
                        note(`${action} ${o.id} answered 409 in ${known}, but the order went to ${now}`, r);
                }
                return now;
        }

        // One order's walk: placing it (retried with the same key), then random actions until terminal or 'stop'.
        async function walk(i) {
                const rand = rng((SEED ^ Math.imul(i + 1, 0x9e3779b1)) >>> 0);
                const store = stores[Math.floor(rand() * stores.length)];
                const customer = customers[i % CUSTOMERS];
                const lines = [[store.menu[0], 1 + Math.floor(rand() * 5)]];
                if (rand() < 0.5) lines.push([store.menu[1], 1 + Math.floor(rand() * 3)]);
                const card = rand() < 0.08 ? 'tok_declined' : 'tok_ok';
                const body = orderBody(store, lines, card);
                // Often with one of the customer's unused coupons for the store (every cooked order gives one): its
                // redemption and give-back are saga steps too.
                if (rand() < 0.5) {
                        const { r: me } = await retrying('GET', '/customers/me', { token: customer.token });
                        const usable = me.status === 200 ? (me.json.coupons || []).filter((c) => c.store_id === store.id && !c.used) : [];
                        if (usable.length) body.coupon_id = usable[Math.floor(rand() * usable.length)].id;
                }
                const key = `chaos-${SEED}-${i}`;
                // Some customers give up when the first try gets no answer: whatever that try started must still
                // end consistently (no charge, or an order that runs its course).
                const givesUp = rand() < 0.25;
                const deadline = Date.now() + RETRY_MS;
                let placed;
                for (;;) {
                        placed = await call('POST', '/orders', { token: customer.token, body, headers: { 'idempotency-key': key } });
                        // 409: the same key is still being decided by an earlier try.
                        if ((!TRANSIENT.has(placed.status) && placed.status !== 409) || givesUp || Date.now() > deadline) break;
                        await sleep(300 + randomInt(700));
                }
                if (placed.status === 402 && card === 'tok_declined') {
                        declined++;
                        return;
                }
                // A coupon another order of the customer redeemed meanwhile: 422, nothing established.
                if (placed.status === 422 && body.coupon_id) {
                        couponRefused++;
                        return;
                }
                if (placed.status !== 201) {
                        if (!TRANSIENT.has(placed.status) && placed.status !== 409) note(`POST /orders #${i} (${card})`, placed);
                        unanswered.push({ i, key, customer: customer.sub });
                        return;
                }
                if (card === 'tok_declined') note(`POST /orders #${i} with tok_declined answered 201`, placed);
                const o = { i, id: placed.json.id, customer, store, decisions: [], log: ['PAID'] };
                orders.push(o);
                let state = 'PAID';
                for (let step = 0; step < 10 && state && !TERMINAL.has(state); step++) {
                        if (!MENU[state]) {
                                state = await sagaState(o.id);
                                continue;
                        }
                        await sleep(Math.floor(rand() * THINK_MS)); // people take their time: the load spans the chaos
                        const choice = pick(rand, MENU[state]);
                        if (choice === 'stop') {
                                o.log.push('stop');
                                return;
                        }
                        state = await act(o, choice, rand, state);
                }
        }

        it('readiness: every process answers /readyz 503 while NATS or (those using it) PostgreSQL is down, NATS is cut off or PostgreSQL hangs, 200 once it is back', async () => {
                const probes = [
                        ...p.procs.filter((x) => x.healthUrl).map((x) => ({ name: x.name, url: `${x.healthUrl}/readyz` })),
                        { name: 'gateway', url: `${p.url}/readyz` },
                ];
                const status = async (u) => {
                        try {
                                const r = await fetch(u, { signal: AbortSignal.timeout(3000) });
                                await r.arrayBuffer();
                                return r.status;
                        } catch {
                                return 0;
                        }
                };
                // The payment worker keeps no state and the gateway holds no session (its reads are the reader's): both
                // stay ready while the database is away.
                const usesPg = (x) => !/^(payment(-\d+)?|gateway)$/.test(x.name);
                // Polls every probe (those `only` keeps) until each has answered `want` once (or the bound
                // passes); resolves to the names that never did.
                const until = async (want, ms, only = () => true) => {
                        const left = new Set(probes.filter(only).map((x) => x.name));
                        const deadline = Date.now() + ms;
                        while (left.size && Date.now() < deadline) {
                                await Promise.all(probes.filter((x) => left.has(x.name)).map(async (x) => {
                                        if ((await status(x.url)) === want) left.delete(x.name);
                                }));
                                if (left.size) await sleep(200);
                        }
                        return [...left];
                };
                for (const infra of ['postgres', 'nats']) {
                        const postmaster = p.find(infra)[0].child.pid;
                        if (infra === 'postgres') {
                                for (const pid of childrenOf(postmaster)) {
                                        try { process.kill(pid, 'SIGKILL'); } catch { /* exited meanwhile */ }
                                }
                        }
                        await p.kill(infra, 'SIGKILL');
                        const t = Date.now();
                        const stillReady = await until(503, 10_000, infra === 'postgres' ? usesPg : undefined);
                        const down = Date.now() - t;
                        const statelessDown = infra === 'postgres'
                                ? (await Promise.all(probes.filter((x) => !usesPg(x)).map(async (x) => ((await status(x.url)) === 200 ? null : x.name)))).filter(Boolean)
                                : [];
                        // Bring it back before asserting, so that a failure leaves a usable platform behind.
                        await p.start(infra);
                        const t2 = Date.now();
                        const notReady = await until(200, 30_000);
                        console.log(`# readiness with ${infra} down: all 503 after ${down} ms; all 200 again ${Date.now() - t2} ms after its restart`);
                        assert.deepEqual(stillReady, [], `/readyz still 200 10 s after ${infra} was killed`);
                        assert.deepEqual(statelessDown, [], 'a process without PostgreSQL stopped being ready when PostgreSQL died');
                        assert.deepEqual(notReady, [], `/readyz not 200 30 s after ${infra} came back`);
                        // Every consumer works again (the pull requests pending in a killed nats-server are gone;
                        // each fetch loop must issue new ones): one order runs its whole course.
                        const t3 = Date.now();
                        const store = stores[0];
                        const customer = customers[0].token;
                        await fullLifecycle(p, { customer, owner: owners.get(store.id), rider, store, lines: [[store.menu[0], 1]] });
                        console.log(`# after ${infra} came back: a whole order lifecycle in ${Date.now() - t3} ms`);
                }
                // NATS out of reach (nothing passes the link, connections stay open): every process notices the
                // silent server by its pings, answers 503, and reconnects once the link heals.
                {
                        const healed = links['nats-link'].partition(25_000);
                        const t = Date.now();
                        const stillReady = await until(503, 22_000);
                        const down = Date.now() - t;
                        await healed;
                        const t2 = Date.now();
                        const notReady = await until(200, 30_000);
                        console.log(`# readiness with NATS partitioned: all 503 after ${down} ms; all 200 again ${Date.now() - t2} ms after the link healed`);
                        assert.deepEqual(stillReady, [], '/readyz still 200 22 s into a NATS partition');
                        assert.deepEqual(notReady, [], '/readyz not 200 30 s after the NATS partition healed');
                }
                // A paused (hung) PostgreSQL: every probe answers 503 within its own bound instead of hanging.
                const pg = p.find('postgres')[0].child.pid;
                const pids = [pg, ...childrenOf(pg)];
                for (const pid of pids) process.kill(pid, 'SIGSTOP');
                const t = Date.now();
                let stillReady;
                try {
                        stillReady = await until(503, 10_000, usesPg);
                } finally {
                        for (const pid of pids) {
                                try { process.kill(pid, 'SIGCONT'); } catch { /* exited */ }
                        }
                }
                const down = Date.now() - t;
                const notReady = await until(200, 30_000);
                console.log(`# readiness with postgres paused: all 503 after ${down} ms; all 200 again after it resumed`);
                assert.deepEqual(stillReady, [], '/readyz did not answer 503 within 10 s while PostgreSQL was paused (a probe hung or said 200)');
                // Each probe gives up on PostgreSQL after 800 ms: a probe that waited for the server would take longer.
                assert.ok(down < 5000, `/readyz took ${down} ms to say 503 everywhere with PostgreSQL paused: a probe waited for it`);
                assert.deepEqual(notReady, [], '/readyz not 200 30 s after PostgreSQL resumed');
        });

        it(`${ORDERS} orders, ${LANES} at a time, while a fault strikes every few seconds`, async () => {
                // Pauses up to 7 s outlast the consumers' first AckWait (5 s): JetStream redelivers to a paused worker.
                // Targets: every process but the sandbox PSP and sink, which stand for the outside world.
                chaos = new ChaosDriver(p, { seed: SEED, faults: FAULTS, pauseMs: [1000, 7000], links });
                chaos.start();
                const t = Date.now();
                let next = 0;
                const errors = [];
                await Promise.all(Array.from({ length: LANES }, async () => {
                        while (next < ORDERS) await walk(next++).catch((e) => errors.push(e));
                }));
                const schedule = await chaos.stop();
                chaos = null;
                const kills = schedule.filter((f) => f.fault === 'kill').length;
                const c = {};
                for (const f of schedule) c[`${f.fault} ${f.target}`] = (c[`${f.fault} ${f.target}`] || 0) + 1;
                console.log(`# chaos (SEED=${SEED}): ${ORDERS} walks in ${((Date.now() - t) / 1000).toFixed(0)} s: ${orders.length} accepted (201), `
                        + `${declined} declined (402), ${couponRefused} with a coupon already used (422), ${unanswered.length} without a final answer; `
                        + `${kills} kills and ${schedule.length - kills} other faults: ${JSON.stringify(c)}`);
                if (errors.length) throw errors[0];
                assert.deepEqual(unexpected, [], `(SEED=${SEED}) answers no request should get, even during a crash`);
                assert.ok(orders.length >= ORDERS / 2, `(SEED=${SEED}) only ${orders.length} of ${ORDERS} orders were accepted`);
                assert.ok(schedule.length >= 5, `(SEED=${SEED}) only ${schedule.length} faults during the load`);
                if (FAULTS.kill) assert.ok(kills >= 5, `(SEED=${SEED}) only ${kills} kills during the load`);
        });

        // Every saga the orchestrator knows: {order_id, customer_id, store_id, state, version, compensation_failed}.
        async function sagas() {
                return JSON.parse(await p.sql(`SELECT coalesce(json_agg(json_build_object('order_id', order_id, 'customer_id', customer_id,
                        'store_id', store_id, 'state', state, 'version', version, 'compensation_failed', compensation_failed)), '[]') FROM orchestrator.sagas`));
        }

        it('after the chaos: every order still waiting is driven to its end and the platform goes quiet', async () => {
                // An order is still waiting where its walk stopped (or where the client lost track of it).
                const byId = new Map(orders.map((o) => [o.id, o]));
                const deadline = Date.now() + SETTLE_MS;
                let open;
                for (;;) {
                        open = (await sagas()).filter((s) => !TERMINAL.has(s.state));
                        if (open.length === 0 || Date.now() > deadline) break;
                        await Promise.all(open.map(async (s) => {
                                const next = NEXT[s.state];
                                if (!next) return; // PAYMENT_PENDING: the payment outcome or its deadline decides
                                const o = byId.get(s.order_id) ?? {
                                        id: s.order_id, store: stores.find((x) => x.id === s.store_id), decisions: [], log: ['(unknown to the client)'],
                                        customer: { sub: s.customer_id, token: await p.token(s.customer_id, 'customer') },
                                };
                                await act(o, next);
                        }));
                        await sleep(500);
                }
                assert.deepEqual(open.map((s) => `${s.order_id}:${s.state}`), [], `(SEED=${SEED}) sagas not terminal ${SETTLE_MS / 1000} s after the chaos`);
                // Quiet: every saga settled (every command answered), every status event published, the read model at
                // every saga's version, every notification pushed, and every consumer with nothing pending or unacked.
                const consumers = async () => {
                        const jsz = await (await fetch(`${p.natsMonitorUrl}/jsz?consumers=true`)).json();
                        return (jsz.account_details || []).flatMap((a) => a.stream_detail || []).flatMap((st) => (st.consumer_detail || [])
                                .map((c) => ({ durable: c.name, pending: c.num_pending, ack_pending: c.num_ack_pending, redelivered: c.num_redelivered })));
                };
                const quiet = async () => Number(await p.sql(`SELECT
                          (SELECT count(*) FROM orchestrator.sagas WHERE NOT settled)
                        + (SELECT count(*) FROM orchestrator.events e LEFT JOIN orchestrator.shards w ON w.shard = e.shard
                           WHERE e.seq > coalesce(w.published, 0))
                        + (SELECT count(*) FROM orchestrator.sagas s LEFT JOIN readmodel.orders o ON o.id = s.order_id
                           WHERE s.state <> 'PAYMENT_PENDING' AND o.version IS DISTINCT FROM s.version)
                        + (SELECT count(*) FROM notification.outbox)`))
                        + (await consumers()).reduce((n, c) => n + c.pending + c.ack_pending, 0);
                let busy = -1;
                const qDeadline = Date.now() + 60_000;
                while (Date.now() < qDeadline) {
                        busy = await quiet();
                        if (busy === 0) {
                                await sleep(1500); // a late duplicate or refund shows by now
                                if ((busy = await quiet()) === 0) break;
                        }
                        await sleep(500);
                }
                const detail = await p.sql(`SELECT json_build_object(
                        'unsettled', (SELECT json_agg(order_id || ':' || state) FROM orchestrator.sagas WHERE NOT settled),
                        'unpublished_events', (SELECT json_agg(e.order_id || ':' || e.seq) FROM orchestrator.events e
                                LEFT JOIN orchestrator.shards w ON w.shard = e.shard WHERE e.seq > coalesce(w.published, 0)),
                        'readmodel_behind', (SELECT json_agg(s.order_id || ':' || s.version || '/' || coalesce(o.version::text, 'none')) FROM orchestrator.sagas s
                                LEFT JOIN readmodel.orders o ON o.id = s.order_id WHERE s.state <> 'PAYMENT_PENDING' AND o.version IS DISTINCT FROM s.version),
                        'notifications_waiting', (SELECT count(*) FROM notification.outbox))`);
                assert.equal(busy, 0, `(SEED=${SEED}) not quiet 60 s after every saga ended: ${detail}; consumers ${JSON.stringify(await consumers())}`);
                const views = new Map(JSON.parse(await p.sql(
                        "SELECT coalesce(json_agg(json_build_array(id, view::json)), '[]') FROM readmodel.orders")).map(([id, v]) => [id, v]));
                const rows = JSON.parse(await p.sql(`SELECT coalesce(json_agg(json_build_object('id', id, 'order_id', order_id, 'status', status,
                        'message', message, 'delivery', delivery_status) ORDER BY id), '[]') FROM notification.pushes WHERE order_id IS NOT NULL`));
                const sink = (await p.sink('/messages')).json;
                const coupons = JSON.parse(await p.sql(`SELECT coalesce(json_agg(json_build_object('id', id, 'customer_id', customer_id,
                        'status', status, 'order_id', order_id)), '[]') FROM coupon.coupons`));
                const ledger = (await p.psp('/ledger')).json;
                final = { sagas: await sagas(), views, rows, sink, ledger, coupons };
                // Kept for whoever reads a failure: the provider's ledger, the coupons and every saga's end.
                fs.writeFileSync(path.join(p.logDir, 'chaos-final.json'), JSON.stringify({ seed: SEED, ledger, coupons, sagas: final.sagas }));
                const counts = {};
                for (const s of final.sagas) counts[s.state] = (counts[s.state] || 0) + 1;
                console.log(`# chaos (SEED=${SEED}) final: ${final.sagas.length} sagas ${JSON.stringify(counts)}; ${ledger.charges.length} charges, `
                        + `${ledger.refunds.length} refunds; ${rows.length} notifications, sink received ${sink.received} (${sink.duplicates} repeats absorbed)`);
        });

        const where = (id) => {
                const o = orders.find((x) => x.id === id);
                return `(SEED=${SEED}) ${id}${o ? ` #${o.i}, walk: ${o.log.join(' → ')}` : ' (no 201 seen by the client)'}`;
        };

        // A stream's message count (undefined when it does not exist) and its first few messages.
        const streamSample = (name) => p.streamSample(name);

        it('nothing dead-lettered: no message of the platform\'s own was taken for poison under chaos', async () => {
                assert.ok(final, 'the settle step did not complete');
                const { n, messages } = await streamSample('FOOD_DLQ');
                const letters = messages.map((m) => `${m.subject}: ${Buffer.from(m.hdrs || '', 'base64').toString().replace(/\r\n/g, ' | ')}`);
                assert.equal(n, 0, `(SEED=${SEED}) ${n} dead letters: ${letters.join(' ;; ')}`);
        });

        it('nothing given up: no consumer reached MaxDeliver (FOOD_ADVISORY is empty)', async () => {
                assert.ok(final, 'the settle step did not complete');
                const { exists, n, messages } = await streamSample('FOOD_ADVISORY');
                assert.ok(exists, 'the FOOD_ADVISORY stream exists');
                const notes = messages.map((m) => Buffer.from(m.data || '', 'base64').toString());
                assert.equal(n, 0, `(SEED=${SEED}) ${n} messages given up after MaxDeliver: ${notes.join(' ;; ')}`);
        });

        it('no order lost: every 201 order has its saga and view; decisions answered 200 survived', async () => {
                assert.ok(final, 'the settle step did not complete');
                const states = new Map(final.sagas.map((s) => [s.order_id, s.state]));
                for (const o of orders) {
                        assert.ok(states.has(o.id), `accepted order without a saga ${where(o.id)}`);
                        const v = final.views.get(o.id);
                        assert.ok(v, `accepted order without a read-model view ${where(o.id)}`);
                        assert.equal(v.status, states.get(o.id), `read model vs saga ${where(o.id)}`);
                        const hist = visible(v.history.map((h) => h.status));
                        assert.equal(new Set(hist).size, hist.length, `a status twice in the history ${hist} ${where(o.id)}`);
                        for (const d of o.decisions) {
                                if (!d.to) continue;
                                if (TERMINAL.has(d.to)) assert.equal(v.status, d.to, `${d.action} was answered 200 ${where(o.id)}`);
                                else assert.ok(hist.includes(d.to), `${d.action} was answered 200 but ${d.to} is not in the history ${hist} ${where(o.id)}`);
                        }
                }
                // POSTs that never got a final answer: either nothing was established, or an order that ended like any other.
                const keys = JSON.parse(await p.sql("SELECT coalesce(json_agg(json_build_array(customer_id, key, order_id)), '[]') FROM orchestrator.idempotency"));
                const found = unanswered.map((u) => keys.find(([c, k]) => c === u.customer && k === u.key)?.[2]).filter(Boolean);
                for (const id of found) assert.ok(TERMINAL.has(states.get(id)), `an order without a final answer is not terminal ${where(id)}`);
                console.log(`# chaos (SEED=${SEED}): ${unanswered.length} POSTs without a final answer, ${found.length} of them established an order`);
        });

        it('money: for every order and in total, charged - refunded = what its final status owes; no provider key twice', async () => {
                assert.ok(final, 'the settle step did not complete');
                const { ledger } = final;
                const dup = (list) => list.filter((k, i) => list.indexOf(k) !== i);
                assert.deepEqual(dup(ledger.charges.map((c) => c.idempotency_key)), [], `(SEED=${SEED}) charge idempotency keys twice`);
                assert.deepEqual(dup(ledger.refunds.map((x) => x.idempotency_key)), [], `(SEED=${SEED}) refund idempotency keys twice`);
                let owedTotal = 0;
                for (const s of final.sagas) {
                        const v = final.views.get(s.order_id);
                        assert.ok(v, `no read-model view ${where(s.order_id)}`);
                        const l = ledgerOf(ledger, s.order_id);
                        const owed = OWES_TOTAL.has(s.state) ? v.total - v.discount : 0;
                        owedTotal += owed;
                        assert.equal(l.net, owed, `${s.state}: charged ${l.charged} - refunded ${l.refunded} on the PSP, owed ${owed} ${where(s.order_id)}`);
                        assert.equal(v.amount_paid, l.charged, `read model amount_paid vs the PSP ${where(s.order_id)}`);
                        assert.equal(v.amount_refunded, l.refunded, `read model amount_refunded vs the PSP ${where(s.order_id)}`);
                        assert.equal(s.compensation_failed, false, `compensation_failed ${where(s.order_id)}`);
                        for (const c of l.approved) {
                                const back = l.refunds.filter((x) => x.charge_id === c.id).reduce((sum, x) => sum + x.amount, 0);
                                assert.ok(back <= c.amount, `charge ${c.id}: refunded ${back} > charged ${c.amount} ${where(s.order_id)}`);
                        }
                        if (s.state === 'REJECTED') assert.equal(l.net, 0, `a rejected order keeps nothing ${where(s.order_id)}`);
                }
                const known = new Set(final.sagas.map((s) => s.order_id));
                const orphans = ledger.charges.filter((c) => c.status === 'approved' && !known.has(c.idempotency_key.split('.')[0]));
                assert.deepEqual(orphans.map((c) => c.idempotency_key), [], `(SEED=${SEED}) charges of no order`);
                const charged = ledger.charges.filter((c) => c.status === 'approved').reduce((s, c) => s + c.amount, 0);
                const refunded = ledger.refunds.reduce((s, x) => s + x.amount, 0);
                assert.equal(charged - refunded, owedTotal, `(SEED=${SEED}) kept by the platform: charged ${charged} - refunded ${refunded}, owed ${owedTotal}`);
                console.log(`# chaos (SEED=${SEED}): charged ${charged} - refunded ${refunded} = ${owedTotal} KRW owed by ${final.sagas.length} orders`);
        });

        it('coupons: one issued per cooked order; used iff an order that redeemed it still owes', async () => {
                assert.ok(final, 'the settle step did not complete');
                const cooked = final.sagas.filter((s) => visible(final.views.get(s.order_id).history.map((h) => h.status)).includes('COOKED'));
                const ids = new Set(final.coupons.map((c) => c.id));
                assert.equal(ids.size, final.coupons.length, `(SEED=${SEED}) a coupon id twice`);
                assert.deepEqual(cooked.filter((s) => !ids.has(`cpn_${s.order_id.slice(4)}`)).map((s) => s.order_id), [],
                        `(SEED=${SEED}) cooked orders without their coupon`);
                let used = 0;
                for (const c of final.coupons) {
                        const holders = final.sagas.filter((s) => final.views.get(s.order_id).coupon_id === c.id && final.views.get(s.order_id).discount > 0
                                && OWES_TOTAL.has(s.state));
                        assert.ok(holders.length <= 1, `(SEED=${SEED}) coupon ${c.id} redeemed by ${holders.length} orders that still owe`);
                        assert.equal(c.status === 'REDEEMED', holders.length === 1,
                                `(SEED=${SEED}) coupon ${c.id} is ${c.status} (order ${c.order_id}) but the orders holding it are [${holders.map((s) => `${s.order_id}:${s.state}`)}] ${holders[0] ? where(holders[0].order_id) : ''}`);
                        if (holders.length) used++;
                }
                console.log(`# chaos (SEED=${SEED}): ${final.coupons.length} coupons, ${used} used by an order that kept it`);
        });

        it('notifications: one row and one webhook per status change, every one pushed', async () => {
                assert.ok(final, 'the settle step did not complete');
                const rowsOf = new Map();
                for (const r of final.rows) {
                        if (!rowsOf.has(r.order_id)) rowsOf.set(r.order_id, []);
                        rowsOf.get(r.order_id).push(r);
                }
                const sinkOf = new Map();
                for (const m of final.sink.messages) {
                        if (!sinkOf.has(m.order_id)) sinkOf.set(m.order_id, []);
                        sinkOf.get(m.order_id).push(m);
                }
                const statusChanges = (list) => visible(list.filter((n) => ORDER_STATUSES.has(n.status) && !NOTICE_RE.test(n.message)).map((n) => n.status)).sort();
                for (const s of final.sagas) {
                        const v = final.views.get(s.order_id);
                        const want = visible(v.history.map((h) => h.status)).sort();
                        const rows = rowsOf.get(s.order_id) ?? [];
                        if (JSON.stringify(statusChanges(rows)) !== JSON.stringify(want)) {
                                // The saga's history says which status events it published.
                                const history = await p.sql(`SELECT json_agg(json_build_object('seq', e.seq, 'msg_id', e.msg_id, 'at', e.at))
                                        FROM orchestrator.events e WHERE e.order_id = '${s.order_id}'`);
                                assert.deepEqual(statusChanges(rows), want, `notification rows per status change ${where(s.order_id)}; its status events still kept: ${history}`);
                        }
                        const pending = rows.filter((n) => n.status === 'PAYMENT_PENDING');
                        assert.ok(pending.length <= 1, `PAYMENT_PENDING notified ${pending.length} times ${where(s.order_id)}`);
                        const same = rows.filter((n) => !/was updated/.test(n.message)).map((n) => `${n.status}:${n.message}`);
                        assert.deepEqual(same.filter((k, i) => same.indexOf(k) !== i), [], `the same notice twice ${where(s.order_id)}`);
                        assert.deepEqual(rows.filter((n) => n.delivery !== 'sent').map((n) => `${n.status}:${n.delivery}`), [], `rows not pushed ${where(s.order_id)}`);
                        const hooks = sinkOf.get(s.order_id) ?? [];
                        assert.deepEqual(statusChanges(hooks), want, `webhooks per status change ${where(s.order_id)}`);
                        assert.equal(hooks.length, rows.length, `one webhook per notification row ${where(s.order_id)}`);
                }
        });
});
