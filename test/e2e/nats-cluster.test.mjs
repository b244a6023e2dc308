// Issue 14: the platform on a three-node JetStream cluster (nats-server processes clustered on loopback, every
// stream at three replicas, every service given the three URLs). While customers walk orders to the end, the
// JetStream meta leader, then FOOD_CMD's stream leader, then FOOD_ORDER's is SIGKILLed and started again a few
// seconds later (as Kubernetes would restart the pod). For each fault the test prints how long until a new order
// was placed and paid, and how many orders were answered 201 while the node was down. Afterwards every order placed
// completes, is charged once, and tells each status once (notifications and the archive).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import { catalog, expectCompleted, runLanes, timeToPaid, WAIT_MS } from '../flows.mjs';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const LANES = Number(process.env.LANES || 4);
const DOWN_MS = 4000; // how long a killed node stays down

describe('a three-node JetStream cluster losing one node at a time under load', () => {
        let p, stores, admin, probe;
        let lanes;
        const probes = []; // the probe orders, walked to COMPLETED
        before(async () => {
                p = await startPlatform({ name: 'nats-cluster', natsCluster: 3 });
                stores = (await catalog(p)).filter((s) => s.menu.length >= 1);
                admin = await p.token('admin_cluster', 'admin');
                probe = await p.token('probe_cluster');
        });
        after(async () => { await p?.stop(); });

        it('streams and their consumers are replicated on all three nodes', async () => {
                const jsz = await (await fetch(`${p.natsMonitorUrl}/jsz?streams=true&consumers=true&config=true`)).json();
                const streams = jsz.account_details.flatMap((a) => a.stream_detail || []);
                assert.deepEqual(streams.map((s) => s.name).sort(), ['FOOD_ADVISORY', 'FOOD_CMD', 'FOOD_DLQ', 'FOOD_ORDER']);
                for (const s of streams) {
                        assert.equal(s.config.num_replicas, 3, `${s.name} replicas`);
                        assert.equal((s.cluster?.replicas || []).length, 2, `${s.name}: a leader and two followers`);
                        for (const c of s.consumer_detail || []) assert.equal(c.config.num_replicas ?? 0, 0, `${c.name} follows its stream's replicas`);
                }
        });

        it('the meta leader and each stream leader killed in turn: orders go on, each fault recovered within seconds', async () => {
                lanes = runLanes(p, { lanes: LANES, stores, prefix: 'cust_cluster' });
                const faults = [];
                try {
                        await sleep(3000);
                        for (const [what, leaderOf] of [['meta leader', (l) => l.meta], ['FOOD_CMD leader', (l) => l.stream], ['FOOD_ORDER leader', (l) => l.stream]]) {
                                const leaders = await p.natsLeaders(what === 'FOOD_CMD leader' ? 'FOOD_CMD' : 'FOOD_ORDER');
                                const victim = p.natsNode(leaderOf(leaders));
                                assert.ok(victim, `no ${what} known (${JSON.stringify(leaders)})`);
                                const before = lanes.placed.length;
                                const t0 = Date.now();
                                victim.proc.stopping = true;
                                process.kill(victim.proc.child.pid, 'SIGKILL');
                                await victim.proc.exited;
                                const store = stores[faults.length % stores.length];
                                const [recovery] = await Promise.all([timeToPaid(p, probe, store), sleep(DOWN_MS)]);
                                probes.push(recovery.rest);
                                const during = lanes.placed.filter((o) => o.at >= t0).length;
                                await victim.proc.start();
                                const back = Date.now() - t0;
                                // Every stream has all three replicas current again before the next fault.
                                await p.waitFor(() => p.natsReplicasCurrent(), WAIT_MS, 250);
                                const f = { what, node: victim.serverName, recovered_ms: recovery.ms, orders_while_down: during, down_ms: back,
                                        new_leader: leaderOf(await p.natsLeaders(what === 'FOOD_CMD leader' ? 'FOOD_CMD' : 'FOOD_ORDER')) };
                                console.log(`# killed ${f.node} (${what}): a new order placed and paid ${f.recovered_ms} ms after the kill; `
                                        + `${f.orders_while_down} orders answered 201 while it was down (${f.down_ms} ms); leader now ${f.new_leader}`);
                                faults.push(f);
                                // The lanes' own orders go on once JetStream has its leaders again (4–9 s in nats-server 2.9, at
                                // times 12): one answered 201 since the kill, by now or within WAIT_MS (not only while it was down).
                                const goneOn = await p.waitFor(() => lanes.placed.length > before, WAIT_MS, 250).catch(() => false);
                                assert.ok(goneOn, `no lane order placed within ${WAIT_MS} ms after the ${what} fault`);
                                await sleep(2000);
                        }
                } finally {
                        const done = await lanes.stop();
                        console.log(`# ${lanes.placed.length} orders placed, ${done.length} completed; faults ${JSON.stringify(faults)}`);
                }
                for (const f of faults) assert.ok(f.recovered_ms < 30_000, `${f.what}: ${f.recovered_ms} ms to take an order again`);
        });

        it('every order answered 201 completed, was charged once and told each status once: none lost, none extra', async () => {
                const done = [...lanes.completed, ...(await Promise.all(probes))];
                assert.equal(done.length, lanes.placed.length + probes.length, 'every lane order and probe walked to its end');
                const sagas = Number(await p.sql('SELECT count(*) FROM orchestrator.sagas'));
                assert.equal(sagas, done.length, 'one saga per order answered 201, and no other');
                try {
                        await expectCompleted(p, done, admin);
                } catch (e) {
                        // What the CI log needs to tell a platform's loss from a cluster's: each replica's FOOD_ORDER
                        // (diverged replicas: nats-server's) and the order's status events the orchestrator still holds
                        // with its shard's watermark (an event at or below it was confirmed by JetStream).
                        for (const node of p.natsNodes) {
                                const jsz = await fetch(`${node.monitorUrl}/jsz?streams=true`).then((r) => r.json()).catch((x) => String(x));
                                const st = jsz.account_details?.flatMap((a) => a.stream_detail || []).find((x) => x.name === 'FOOD_ORDER');
                                console.log(`# ${node.serverName}: FOOD_ORDER ${JSON.stringify(st ? { state: st.state, leader: st.cluster?.leader } : jsz)}`);
                        }
                        const id = (String(e.message).match(/ord_[0-9a-f]+/) || [])[0];
                        if (id) console.log(`# ${id}: events (shard:seq:published watermark) `
                                + await p.sql(`SELECT string_agg(e.shard || ':' || e.seq || ':' || s.published, ' ' ORDER BY e.seq)`
                                        + ` FROM orchestrator.events e JOIN orchestrator.shards s USING (shard) WHERE e.order_id = '${id}'`).catch((x) => String(x)));
                        throw e;
                }
                console.log(`# orders lost: 0 of ${done.length} answered 201`);
        });
});
