// One order from PAID to COMPLETED on a platform whose every process runs from a container image's file system:
// test/images/run.sh mounts each image (buildah mount) and puts, where test/harness.mjs looks for a binary under
// $BUILD_DIR, a wrapper that chroots into that image's root as the image's user and execs its entrypoint. The
// harness starts nats-server and PostgreSQL on loopback as usual, food-setup (the orchestrator image's) as admin,
// then the services, the sandbox PSP, the sandbox sink and the gateway, all from the images.
// Run it through test/images/run.sh, not directly.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import { catalog, fullLifecycle, notificationStatuses, steps, WAIT_MS } from '../flows.mjs';

describe('images: one whole order on processes started from the images', () => {
        let p, customer, rider, owner, store, lines, order;
        const step = steps(it);

        before(async () => {
                p = await startPlatform({ name: 'images', sink: true });
                customer = await p.token('cust_images', 'customer');
                rider = await p.token('rider_images', 'rider');
        });
        after(async () => { await p?.stop(); });

        step('lists the stores and a menu', async () => {
                store = (await catalog(p)).find((s) => s.menu.length >= 2);
                lines = [[store.menu[0], 2], [store.menu[1], 1]];
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
        });

        step('walks an order PAID → … → COMPLETED over HTTP', async () => {
                order = await fullLifecycle(p, { customer, owner, rider, store, lines });
                assert.equal(order.status, 'COMPLETED');
                assert.equal(order.amount_paid, order.total, 'amount_paid == total');
        });

        step('the notification worker (its image) recorded the status changes and pushed them to the sink', async () => {
                await p.waitFor(async () => (await notificationStatuses(p, customer, order.id)).includes('COMPLETED'), WAIT_MS);
                const r = await p.sink('/messages');
                assert.equal(r.status, 200, `sink GET /messages: ${r.text}`);
                assert.ok(JSON.stringify(r.json).includes(order.id), `the sink received no webhook for ${order.id}: ${r.text.slice(0, 300)}`);
        });

        step('every process stops cleanly on SIGTERM', async () => {
                const { exits } = await p.stop();
                for (const [name, e] of Object.entries(exits)) {
                        assert.equal(e.killed, false, `${name} needed SIGKILL`);
                }
        });
});
