// Read-model rebuild from the archive: after ~30 orders in every state, projector-rebuild replays FOOD_ORDER
// from its first event into fresh tables and gives exactly the live readmodel.orders / readmodel.deliveries rows
// (ids, status, version, view, times); swapped in over a damaged read model it restores it; run while orders
// keep moving it loses nothing (the orchestrator's writes wait during the catch-up and swap, and a status event
// committed just before is waited for), and reads go on.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { throughNatsLink } from '../chaos-driver.mjs';
import { BUILD_DIR, startPlatform } from '../harness.mjs';
import {
        catalog, cookedOrder, expectStatus, fullLifecycle, orderBody, placeOrder, steps, storeAction, waitDelivery, waitRefunded,
        waitStatus,
} from '../flows.mjs';

const execFileP = promisify(execFile);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Runs projector-rebuild against platform p; resolves to its JSON report (its last line of output) and its log.
async function projectorRebuild(p, ...args) {
        const bin = path.join(BUILD_DIR, 'services/projector/projector-rebuild');
        const { stdout, stderr } = await execFileP(bin, args, {
                env: { ...process.env, NATS_URL: p.natsUrl, DATABASE_URL: p.databaseUrl, LOG_LEVEL: 'info' }, timeout: 120_000,
        });
        return { report: JSON.parse(stdout.trim().split('\n').at(-1)), stderr };
}

describe('read-model rebuild from the archive', () => {
        let p, stores, customer, rider, owners;
        const expected = new Map(); // order id -> final status
        const step = steps(it);

        before(async () => {
                p = await startPlatform({ name: 'rebuild' });
                stores = (await catalog(p)).filter((s) => s.menu.length >= 2);
                customer = await p.token('cust_rb', 'customer');
                rider = await p.token('rider_rb', 'rider');
                owners = new Map();
                for (const s of stores) owners.set(s.id, await p.token(`owner_${s.id}`, 'store', s.id));
        });
        after(async () => { await p?.stop(); });

        const rebuild = (...args) => projectorRebuild(p, ...args);

        // The live rows, as JSON text of every column, ordered by id.
        async function rows() {
                const orders = await p.sql("SELECT coalesce(json_agg(o ORDER BY o.id), '[]') FROM (SELECT id, customer_id, store_id, status, version, view, created_at, updated_at FROM readmodel.orders) o");
                const deliveries = await p.sql("SELECT coalesce(json_agg(d ORDER BY d.id), '[]') FROM readmodel.deliveries d");
                return { orders: JSON.parse(orders), deliveries: JSON.parse(deliveries) };
        }

        // Runs one order of kind `kind` at store s; resolves when the read model shows its final state.
        async function run(kind, i) {
                const s = stores[i % stores.length];
                const owner = owners.get(s.id);
                const lines = [[s.menu[0], 1 + (i % 3)], [s.menu[1], 1]];
                if (kind === 'completed') {
                        const v = await fullLifecycle(p, { customer, owner, rider, store: s, lines });
                        expected.set(v.id, 'COMPLETED');
                } else if (kind === 'declined') {
                        const r = await p.api('POST', '/orders', { token: customer, body: orderBody(s, lines, 'tok_declined'), headers: { 'idempotency-key': `rb-declined-${i}` } });
                        expectStatus(r, 402, 'declined card');
                } else {
                        const o = await placeOrder(p, customer, s, lines);
                        await waitStatus(p, owner, o.id, 'PAID');
                        if (kind === 'paid') {
                                expected.set(o.id, 'PAID');
                        } else if (kind === 'cancelled') {
                                expectStatus(await p.api('POST', `/orders/${o.id}/cancel`, { token: customer }), 200, 'cancel');
                                await waitRefunded(p, customer, o.id, 'CANCELLED');
                                expected.set(o.id, 'CANCELLED');
                        } else if (kind === 'refused') {
                                await storeAction(p, owner, s.id, o.id, 'refuse', 'REFUSED', { reason: 'sold out' });
                                await waitRefunded(p, customer, o.id, 'REFUSED');
                                expected.set(o.id, 'REFUSED');
                        } else {
                                await storeAction(p, owner, s.id, o.id, 'accept', 'ACCEPTED');
                                await storeAction(p, owner, s.id, o.id, 'cooking-started', 'COOKING');
                                await storeAction(p, owner, s.id, o.id, 'cooking-finished', 'COOKED');
                                if (kind === 'picked') {
                                        const d = await waitDelivery(p, rider, o.id, s.region);
                                        expectStatus(await p.api('POST', `/deliveries/${d.id}/pick`, { token: rider }), 200, 'pick');
                                        await waitStatus(p, customer, o.id, 'PICKED_UP');
                                        expected.set(o.id, 'PICKED_UP');
                                } else {
                                        await waitDelivery(p, rider, o.id, s.region);
                                        expected.set(o.id, 'COOKED');
                                }
                        }
                }
        }

        step('~30 orders in every state', async () => {
                const kinds = [
                        ...Array(8).fill('completed'), ...Array(6).fill('cancelled'), ...Array(5).fill('refused'),
                        ...Array(4).fill('cooked'), ...Array(3).fill('picked'), ...Array(4).fill('paid'), ...Array(2).fill('declined'),
                ];
                for (let i = 0; i < kinds.length; i += 6) await Promise.all(kinds.slice(i, i + 6).map((k, j) => run(k, i + j)));
                const live = await rows();
                const statuses = new Map(live.orders.map((o) => [o.id, o.status]));
                for (const [id, status] of expected) assert.equal(statuses.get(id), status, `read model status of ${id}`);
                assert.ok(live.orders.length >= 30, `orders in the read model: ${live.orders.length}`);
                assert.ok(live.deliveries.length >= 15, `deliveries in the read model: ${live.deliveries.length}`);
        });

        step('a dry run rebuilds the same rows as the live read model and leaves it alone', async () => {
                const before = await rows();
                const { report } = await rebuild('--dry-run');
                console.log(`# rebuild (dry run): ${JSON.stringify(report)}`);
                assert.equal(report.orders, before.orders.length, 'orders rebuilt');
                assert.equal(report.deliveries, before.deliveries.length, 'deliveries rebuilt');
                for (const k of ['changed_orders', 'missing_orders', 'changed_deliveries', 'missing_deliveries']) assert.equal(report[k], 0, k);
                assert.equal(report.swapped, false);
                assert.deepEqual(await rows(), before, 'the live rows are untouched');
                assert.equal(await p.sql("SELECT count(*) FROM pg_namespace WHERE nspname = 'readmodel_rebuild'"), '0', 'the rebuild schema is dropped');
        });

        step('over a damaged read model, the rebuild restores every row (ids, status, version, view)', async () => {
                const good = await rows();
                await p.sql("DELETE FROM readmodel.orders WHERE id IN (SELECT id FROM readmodel.orders ORDER BY id LIMIT 5)");
                await p.sql("UPDATE readmodel.orders SET status = 'PAID', view = '{}' WHERE id IN (SELECT id FROM readmodel.orders ORDER BY id DESC LIMIT 3)");
                await p.sql("DELETE FROM readmodel.deliveries WHERE id IN (SELECT id FROM readmodel.deliveries ORDER BY id LIMIT 4)");
                await p.sql("INSERT INTO readmodel.orders SELECT 'ord_bogus', customer_id, store_id, status, version, view, created_at, updated_at FROM readmodel.orders LIMIT 1");
                const { report } = await rebuild();
                console.log(`# rebuild: ${JSON.stringify(report)}`);
                assert.equal(report.swapped, true);
                assert.ok(report.changed_orders >= 4 && report.missing_orders >= 8, `differences found: ${JSON.stringify(report)}`);
                const after = await rows();
                assert.deepEqual(after.orders.map((o) => o.id), good.orders.map((o) => o.id), 'order ids');
                assert.deepEqual(after.orders.map((o) => [o.status, o.version]), good.orders.map((o) => [o.status, o.version]), 'status and version');
                assert.deepEqual(after, good, 'every column of every row');
                // The gateway reads the rebuilt rows.
                const [id, status] = [...expected][0];
                assert.equal((await waitStatus(p, customer, id, status)).id, id);
        });

        step('a rebuild while orders keep moving loses nothing; the platform goes on', async () => {
                const moving = Promise.all([0, 1, 2, 3].map((i) => run(i % 2 ? 'completed' : 'cancelled', 100 + i)));
                const { report } = await rebuild();
                console.log(`# rebuild under load: ${JSON.stringify(report)}`);
                const movingError = await moving.then(() => null, (e) => e);
                // Whatever happened after the swap was applied by the live projector to the rebuilt rows: once it has
                // caught up (a dry run counts its lag as differences), a rebuild finds nothing to change. A row lost by
                // the swap would never come back (the live projector acked its event).
                let last;
                try {
                        await p.waitFor(async () => {
                                last = (await rebuild('--dry-run')).report;
                                return ['changed_orders', 'missing_orders', 'changed_deliveries', 'missing_deliveries'].every((k) => last[k] === 0);
                        }, 15_000, 500);
                } catch {
                        await rebuild('--dry-run', '--keep');
                        const diff = await p.sql("SELECT json_agg(x) FROM (SELECT 'live' AS side, id, status, version FROM (SELECT id, status, version, view FROM readmodel.orders EXCEPT SELECT id, status, version, view FROM readmodel_rebuild.orders) a UNION ALL SELECT 'rebuilt', id, status, version FROM (SELECT id, status, version, view FROM readmodel_rebuild.orders EXCEPT SELECT id, status, version, view FROM readmodel.orders) b) x");
                        console.log(`# differing rows: ${diff}`);
                        assert.fail(`the rebuilt rows still differ from the live ones: ${JSON.stringify(last)}`);
                }
                assert.equal(movingError, null, 'the orders moving during the rebuild reached their states');
                const s = stores[0];
                const v = await cookedOrder(p, { customer, owner: owners.get(s.id), store: s, lines: [[s.menu[0], 1]] });
                await waitStatus(p, customer, v.id, 'COOKED');
        });
});

// A batch the orchestrator committed just before the rebuild's lock publishes its status event right after its
// commit: the rebuild must wait for that event instead of putting the row's earlier version back for good. Here
// the event is held back for certain: the orchestrator reaches NATS through a link that the test blocks before a
// timer of the orchestrator's own (the store's acceptance deadline) changes an order, and opens 800 ms into the
// rebuild.
describe('read-model rebuild while a committed status event is still on its way', () => {
        const STORE_TIMEOUT_S = 3;
        let p, store, customer, link;

        before(async () => {
                p = await startPlatform({ name: 'rebuild-in-flight' });
                store = (await catalog(p))[0];
                customer = await p.token('cust_rb_flight', 'customer');
                link = await throughNatsLink(p, 'orchestrator', { STORE_ACCEPT_TIMEOUT_S: STORE_TIMEOUT_S });
        });
        after(async () => {
                link?.close();
                await p?.stop();
        });

        it('waits for it under the lock, and the live row keeps the version the orchestrator committed', async () => {
                const live = async (id) => JSON.parse(await p.sql(`SELECT coalesce(json_agg(json_build_object('status', status, 'version', version)), '[]') FROM readmodel.orders WHERE id = '${id}'`))[0];
                const o = await placeOrder(p, customer, store, [[store.menu[0], 1]]);
                await waitStatus(p, customer, o.id, 'PAID');
                const paid = await live(o.id);
                link.block();
                let refused;
                try {
                        // The deadline fires inside the orchestrator, which commits REFUSED (read model included) and
                        // sends its status event into the blocked link.
                        refused = await p.waitFor(async () => { const r = await live(o.id); return r.status === 'REFUSED' && r; }, 15_000, 100);
                        assert.ok(refused.version > paid.version, `REFUSED at version ${refused.version} after PAID at ${paid.version}`);
                        const rebuilding = projectorRebuild(p);
                        await sleep(800);
                        link.unblock();
                        await rebuilding;
                } finally {
                        link.unblock();
                }
                const after = await live(o.id);
                assert.ok(after.version >= refused.version,
                        `the rebuild put back version ${after.version} (${after.status}) over the committed ${refused.version} (REFUSED)`);
                // The refund goes on; once it is done a rebuild finds nothing to change.
                await waitRefunded(p, customer, o.id, 'REFUSED');
                await p.waitFor(async () => {
                        const { report } = await projectorRebuild(p, '--dry-run');
                        return ['changed_orders', 'missing_orders', 'changed_deliveries', 'missing_deliveries'].every((k) => report[k] === 0);
                }, 15_000, 500);
        });
});
