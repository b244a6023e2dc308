// Issue 14: PostgreSQL failover without loss. The platform runs on a primary with a synchronous standby
// (synchronous_standby_names, synchronous_commit on), every process given both hosts with
// target_session_attrs=read-write. While customers walk orders to the end, the primary and all its backends are
// SIGKILLed (a lost node); two seconds later the standby is promoted, as a failover manager (CloudNativePG,
// Patroni, a managed database) would. No process is restarted: each finds the new primary by itself. The test prints
// how long until a new order was placed and paid and how many orders were answered 201 while there was no primary,
// then checks that every order answered 201 and every decision answered 200 survived, every saga resumed and every
// order completed, was charged once and told each status once.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import { childrenOf } from '../chaos-driver.mjs';
import { adminSaga, catalog, expectCompleted, LIFECYCLE, runLanes, timeToPaid, visible, WAIT_MS } from '../flows.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const LANES = Number(process.env.LANES || 4);
const DETECT_MS = 2000; // the failover manager's time to decide the primary is gone

describe('PostgreSQL primary lost under load, its synchronous standby promoted', () => {
        let p, stores, admin, probe, lanes, fault;
        const probes = [];
        before(async () => {
                p = await startPlatform({ name: 'pg-failover', pgStandby: true });
                stores = (await catalog(p)).filter((s) => s.menu.length >= 1);
                admin = await p.token('admin_failover', 'admin');
                probe = await p.token('probe_failover');
        });
        after(async () => { await p?.stop(); });

        it('every service reaches the primary through the two-host URL, and the standby is synchronous', async () => {
                assert.match(p.databaseUrl, /,127\.0\.0\.1:\d+\/food\?target_session_attrs=read-write$/);
                assert.equal(await p.sql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'", 'postgres'), 'sync');
                assert.equal(await p.sql("SHOW synchronous_commit", 'postgres'), 'on');
                const apps = await p.sql("SELECT count(DISTINCT application_name) FROM pg_stat_activity WHERE datname = 'food' AND application_name <> 'psql'");
                assert.ok(Number(apps) >= 6, `only ${apps} services connected to the primary`);
        });

        it('the primary killed mid-load: the standby takes over, orders go on without restarting anything', async () => {
                const pids = Object.fromEntries(p.procs.filter((x) => x.service && x.service !== 'postgres' && x.service !== 'nats')
                        .map((x) => [x.name, x.child.pid]));
                lanes = runLanes(p, { lanes: LANES, stores, prefix: 'cust_failover' });
                try {
                        await sleep(3000);
                        const [primary] = p.find('postgres');
                        const before = lanes.placed.length;
                        const t0 = Date.now();
                        primary.stopping = true;
                        for (const pid of [primary.child.pid, ...childrenOf(primary.child.pid)]) {
                                try { process.kill(pid, 'SIGKILL'); } catch { /* gone already */ }
                        }
                        await primary.exited;
                        const recovery = timeToPaid(p, probe, stores[0]);
                        await sleep(DETECT_MS);
                        await p.promoteStandby();
                        const promoted = Date.now() - t0;
                        const r = await recovery;
                        probes.push(r.rest);
                        fault = { promoted_ms: promoted, recovered_ms: r.ms, orders_before: before,
                                orders_while_no_primary: lanes.placed.filter((o) => o.at >= t0 && o.at < t0 + promoted).length };
                        console.log(`# primary SIGKILLed; standby promoted ${fault.promoted_ms} ms later; a new order placed and paid `
                                + `${fault.recovered_ms} ms after the kill; ${fault.orders_while_no_primary} orders answered 201 without a primary`);
                        // Orders flow on the new primary for a while.
                        const after = lanes.placed.length;
                        await p.waitFor(() => lanes.placed.length >= after + 10 || lanes.failed(), WAIT_MS);
                } finally {
                        const done = await lanes.stop();
                        console.log(`# ${lanes.placed.length} orders placed, ${done.length} completed`);
                }
                assert.ok(fault.recovered_ms < 30_000, `${fault.recovered_ms} ms to take an order again`);
                // Nothing was restarted: every service is the same process, ready, connected to the new primary.
                for (const [name, pid] of Object.entries(pids)) {
                        const [proc] = p.find(name);
                        assert.equal(proc.child.pid, pid, `${name} was restarted`);
                        assert.ok(proc.alive(), `${name} is not running`);
                }
                const apps = await p.sql("SELECT count(DISTINCT application_name) FROM pg_stat_activity WHERE datname = 'food' AND application_name <> 'psql'");
                assert.ok(Number(apps) >= 6, `only ${apps} services reconnected to the new primary`);
        });

        it('no order answered 201 and no decision answered 200 lost: every saga resumed and completed once', async () => {
                const done = [...lanes.completed, ...(await Promise.all(probes))];
                assert.equal(done.length, lanes.placed.length + probes.length, 'every order answered 201 walked to its end');
                assert.equal(Number(await p.sql('SELECT count(*) FROM orchestrator.sagas')), done.length, 'one saga per order answered 201, and no other');
                // A saga settles once every command it sent is answered; a completed order's last ticket or delivery
                // update may still be on its way (or retried) when its walk ends: settled within WAIT_MS.
                const unsettled = () => p.sql("SELECT coalesce(string_agg(order_id || ' ' || state || ' updated '"
                        + " || updated_at::time, ', '), '') FROM orchestrator.sagas WHERE NOT settled");
                if (await p.waitFor(async () => (await unsettled()) === '', WAIT_MS, 250).then(() => false, () => true)) {
                        const left = await unsettled();
                        const steps = await adminSaga(p, admin, left.split(' ')[0]);
                        const jsz = await (await fetch(`${p.natsMonitorUrl}/jsz?consumers=true`)).json();
                        const consumers = jsz.account_details.flatMap((a) => a.stream_detail || []).flatMap((st) => st.consumer_detail || [])
                                .map((c) => ({ name: c.name, pending: c.num_pending, ack_pending: c.num_ack_pending, waiting: c.num_waiting }));
                        assert.fail(`sagas not settled ${WAIT_MS / 1000} s after their orders ended: ${left}; the first one's steps: `
                                + `${JSON.stringify(steps.steps.filter((x) => x.detail !== 'answered' && x.detail !== 'applied'))}; consumers: ${JSON.stringify(consumers)}`);
                }
                // Each order's history holds every status its walk was told, once, in order.
                for (const { order, customer } of done) {
                        const v = await p.api('GET', `/orders/${order.id}`, { token: customer });
                        assert.deepEqual(visible(v.json.history.map((h) => h.status)), LIFECYCLE, `${order.id}: history`);
                }
                await expectCompleted(p, done, admin);
                console.log(`# orders lost: 0 of ${done.length} answered 201 (${fault.orders_before} placed before the kill)`);
        });
});
