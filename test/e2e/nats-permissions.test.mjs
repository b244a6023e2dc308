// NATS users and permissions (deploy/helm/food-saga/charts/nats/files/auth.conf, also local mode's): every
// process connects as its own user, a publish or subscribe outside a user's permissions is refused by
// nats-server, a wrong password is refused, and the platform works with them (every e2e file runs with them;
// the harness fails a file on any violation it did not expect).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fs from 'node:fs';
import { natsSend, startPlatform } from '../harness.mjs';
import { catalog, placeOrder } from '../flows.mjs';

const PROBE = 'permission-probe';

// A minimal NATS client over the text protocol: connects as `user`, then each call sends one protocol
// operation followed by PING and resolves, once the PONG came, to the first -ERR the server sent before it, or
// to 'PONG' when there was none (or to the -ERR when the server closed the connection instead).
async function natsProbe(url, user, password) {
        const { port } = new URL(url);
        const sock = net.connect(Number(port), '127.0.0.1');
        sock.setEncoding('utf8');
        let buf = '';
        const pending = []; // one {err, resolve} per operation, answered in order by the PONGs
        sock.on('data', (d) => {
                buf += d;
                let i;
                while ((i = buf.indexOf('\r\n')) >= 0) {
                        const line = buf.slice(0, i);
                        buf = buf.slice(i + 2);
                        if (line === 'PING') sock.write('PONG\r\n');
                        else if (line.startsWith('-ERR') && pending[0]) pending[0].err ??= line;
                        else if (line === 'PONG' && pending[0]) {
                                const op = pending.shift();
                                op.resolve(op.err ?? 'PONG');
                        }
                }
        });
        sock.on('error', () => {});
        sock.once('close', () => {
                for (const op of pending.splice(0)) op.resolve(op.err ?? 'CLOSED');
        });
        const send = (op) => {
                const answer = new Promise((resolve, reject) => {
                        pending.push({ err: null, resolve });
                        setTimeout(() => reject(new Error('no answer from nats-server in 5 s')), 5000).unref();
                });
                sock.write(`${op}PING\r\n`);
                return answer;
        };
        const hello = await send(`CONNECT ${JSON.stringify({ user, pass: password, name: PROBE, verbose: false, pedantic: false, headers: true, protocol: 1 })}\r\n`);
        return { hello, send, close: () => sock.destroy() };
}

describe('NATS users and permissions', () => {
        let p;
        before(async () => {
                p = await startPlatform({ name: 'nats-permissions' });
                p.expectNatsViolation(new RegExp(PROBE));
        });
        after(async () => { await p?.stop(); });

        it('connects every process as its own user', async () => {
                const res = await fetch(`${p.natsMonitorUrl}/connz?auth=true&limit=1024`);
                const { connections } = await res.json();
                const byName = new Map(connections.map((c) => [c.name, c.authorized_user]));
                for (const service of ['orchestrator', 'payment', 'store', 'delivery', 'coupon', 'notification', 'reader', 'gateway']) {
                        assert.equal(byName.get(service), service, `connection ${service} should be user ${service}; have ${JSON.stringify([...byName])}`);
                }
        });

        it('refuses a wrong password', async () => {
                const c = await natsProbe(p.natsUrl, 'payment', 'not-the-password');
                try {
                        assert.match(c.hello, /Authorization Violation/);
                } finally {
                        c.close();
                }
        });

        it('refuses publishes and subscriptions outside a service\'s lane, allows its own', async () => {
                const c = await natsProbe(p.natsUrl, 'payment', p.natsPasswords.payment);
                try {
                        assert.equal(c.hello, 'PONG');
                        // Its own lane and inboxes: accepted.
                        assert.equal(await c.send('SUB _INBOX_payment.probe 1\r\n'), 'PONG');
                        // Its answers to the orchestrator: accepted.
                        assert.equal(await c.send('PUB food.ans.orch_probe 0\r\n\r\n'), 'PONG');
                        // Commands (its own or another's), the RPC lane, the status events, another durable's messages,
                        // deleting another durable or a stream: refused.
                        for (const subject of ['food.cmd.payment', 'food.cmd.store', 'food.rpc.orders.3.place',
                                'food.order.x.status', '$JS.API.CONSUMER.MSG.NEXT.FOOD_CMD.store', '$JS.API.CONSUMER.DELETE.FOOD_CMD.store',
                                '$JS.API.STREAM.DELETE.FOOD_CMD', '$JS.API.STREAM.PURGE.FOOD_ORDER']) {
                                const answer = await c.send(`PUB ${subject} 0\r\n\r\n`);
                                assert.match(answer, /Permissions Violation for Publish/, `publish to ${subject}: ${answer}`);
                        }
                        for (const subject of ['food.cmd.store', 'food.order.>', 'food.ans.*', 'food.rpc.>', '>']) {
                                const answer = await c.send(`SUB ${subject} 2\r\n`);
                                assert.match(answer, /Permissions Violation for Subscription/, `subscribe to ${subject}: ${answer}`);
                        }
                } finally {
                        c.close();
                }
                // Nothing was deleted, and the platform still works.
                const streams = await (await fetch(`${p.natsMonitorUrl}/jsz?streams=true`)).json();
                const names = streams.account_details.flatMap((a) => a.stream_detail.map((s) => s.name)).sort();
                assert.deepEqual(names, ['FOOD_ADVISORY', 'FOOD_CMD', 'FOOD_DLQ', 'FOOD_ORDER']);
                const store = (await catalog(p)).find((s) => s.menu.length >= 1);
                await placeOrder(p, await p.token('perm-customer'), store, [[store.menu[0], 1]]);
        });

        // Every service user: its own inboxes only, nobody else's (nor the operators' default _INBOX.>); no forged
        // answer into the gateway's inboxes (only the orchestrator and the reader answer there); no stream created, updated,
        // purged or deleted, no durable created or re-pointed (food-setup does that, as admin).
        it('keeps every service to its own inboxes and out of stream and consumer management', async () => {
                const services = ['orchestrator', 'payment', 'store', 'delivery', 'coupon', 'notification', 'reader', 'gateway'];
                const workers = ['payment', 'store', 'delivery', 'coupon', 'notification'];
                for (const user of services) {
                        const c = await natsProbe(p.natsUrl, user, p.natsPasswords[user]);
                        try {
                                assert.equal(c.hello, 'PONG', user);
                                assert.equal(await c.send(`SUB _INBOX_${user}.probe.* 1\r\n`), 'PONG', `${user} reads its own inbox`);
                                const others = services.filter((u) => u !== user).map((u) => `_INBOX_${u}.>`);
                                for (const subject of ['_INBOX.>', '_INBOX.*', '_INBOX.abc.1', '_INBOX_*.>', '>', ...others]) {
                                        const answer = await c.send(`SUB ${subject} 2\r\n`);
                                        assert.match(answer, /Permissions Violation for Subscription/, `${user} subscribes to ${subject}: ${answer}`);
                                }
                                const refused = [
                                        ...(user === 'orchestrator' ? [] : ['_INBOX_admin.abc.1']),
                                        ...(user === 'orchestrator' || user === 'reader' ? [] : ['_INBOX_gateway.abc.1']),
                                        ...services.filter((u) => u !== 'gateway' && u !== 'admin').map((u) => `_INBOX_${u}.abc.1`),
                                        '$JS.API.STREAM.CREATE.FOOD_EVIL', '$JS.API.STREAM.UPDATE.FOOD_ORDER', '$JS.API.STREAM.UPDATE.FOOD_CMD',
                                        '$JS.API.STREAM.PURGE.FOOD_ORDER', '$JS.API.STREAM.DELETE.FOOD_DLQ', '$JS.API.STREAM.MSG.DELETE.FOOD_ORDER',
                                        ...workers.flatMap((w) => [`$JS.API.CONSUMER.DURABLE.CREATE.FOOD_CMD.${w}`, `$JS.API.CONSUMER.CREATE.FOOD_CMD.${w}`,
                                                `$JS.API.CONSUMER.CREATE.FOOD_CMD.${w}.food.cmd.${w}`, `$JS.API.CONSUMER.DELETE.FOOD_CMD.${w}`]),
                                        '$JS.API.CONSUMER.CREATE.FOOD_CMD', '$JS.API.CONSUMER.DURABLE.CREATE.FOOD_ORDER.evil',
                                ];
                                for (const subject of refused) {
                                        const answer = await c.send(`PUB ${subject} 0\r\n\r\n`);
                                        assert.match(answer, /Permissions Violation for Publish/, `${user} publishes to ${subject}: ${answer}`);
                                }
                                // Answers to the operators' discovery requests (nats micro ls, default inboxes): allowed.
                                assert.equal(await c.send('PUB _INBOX.AbCdEfGhIjKlMnOpQrStUv.1 0\r\n\r\n'), 'PONG', `${user} answers $SRV discovery`);
                                // The payment worker's direct lane: only the orchestrator sends there, only the payment worker
                                // listens.
                                const pub = await c.send('PUB food.direct.payment 0\r\n\r\n');
                                if (user === 'orchestrator') assert.equal(pub, 'PONG', 'the orchestrator sends direct tries');
                                else assert.match(pub, /Permissions Violation for Publish/, `${user} publishes to food.direct.payment: ${pub}`);
                                const sub = await c.send('SUB food.direct.payment 3\r\n');
                                if (user === 'payment') assert.equal(sub, 'PONG', 'the payment worker takes direct tries');
                                else assert.match(sub, /Permissions Violation for Subscription/, `${user} subscribes to food.direct.payment: ${sub}`);
                        } finally {
                                c.close();
                        }
                }
                // The orchestrator answers the gateway's RPCs and the reader its reads: their only way into another
                // user's inbox.
                for (const user of ['orchestrator', 'reader']) {
                        const o = await natsProbe(p.natsUrl, user, p.natsPasswords[user]);
                        try {
                                assert.equal(await o.send('PUB _INBOX_gateway.abc.1 0\r\n\r\n'), 'PONG', `${user} answers into the gateway's inbox`);
                        } finally {
                                o.close();
                        }
                }
                // The gateway may create ephemeral consumers on the archive (its analytics reads), never a durable there:
                // nats-server refuses a durable name on that subject.
                const g = await natsProbe(p.natsUrl, 'gateway', p.natsPasswords.gateway);
                try {
                        const body = JSON.stringify({ stream_name: 'FOOD_ORDER', config: { durable_name: 'evil', deliver_policy: 'all', ack_policy: 'none' } });
                        assert.equal(await g.send(`PUB $JS.API.CONSUMER.CREATE.FOOD_ORDER _INBOX_gateway.probe ${Buffer.byteLength(body)}\r\n${body}\r\n`), 'PONG');
                } finally {
                        g.close();
                }
                const jsz = await (await fetch(`${p.natsMonitorUrl}/jsz?consumers=true`)).json();
                const consumers = jsz.account_details.flatMap((a) => a.stream_detail.flatMap((st) => (st.consumer_detail || []).map((cd) => `${st.name}/${cd.name}`))).sort();
                assert.deepEqual(consumers, workers.map((w) => `FOOD_CMD/${w}`).sort(), 'the topology\'s durables and nothing else');
                const names = jsz.account_details.flatMap((a) => a.stream_detail.map((st) => st.name)).sort();
                assert.deepEqual(names, ['FOOD_ADVISORY', 'FOOD_CMD', 'FOOD_DLQ', 'FOOD_ORDER']);
                // The platform still works after all that.
                const store = (await catalog(p)).find((st) => st.menu.length >= 1);
                await placeOrder(p, await p.token('perm-customer-2'), store, [[store.menu[0], 1]]);
        });

        it('a worker whose durable does not exist waits, unready, for the set-up step', async () => {
                const admin = p.natsAdminUrl;
                const [gone] = await natsSend(admin, [{ subject: '$JS.API.CONSUMER.DELETE.FOOD_CMD.coupon', payload: '' }]);
                assert.match(gone.payload.toString(), /"success":\s*true/, `delete: ${gone.payload}`);
                const [coupon] = p.find('coupon');
                await coupon.stop();
                coupon.spawn();
                await p.waitFor(() => fs.readFileSync(coupon.log, 'utf8').includes('coupon does not exist: waiting for the operators\' set-up step'), 10_000);
                const ready = await fetch(coupon.readyUrl).then((r) => r.status, () => 0);
                assert.notEqual(ready, 200, 'the coupon worker is not ready without its durable');
                await p.setupNats();
                await coupon.waitReady();
        });

        it('refuses the gateway anything but its RPCs, reads and status events, and the reader anything but reads', async () => {
                const r = await natsProbe(p.natsUrl, 'reader', p.natsPasswords.reader);
                try {
                        assert.equal(r.hello, 'PONG');
                        assert.equal(await r.send(`SUB food.read.* ${PROBE} 1\r\n`), 'PONG', 'the reader joins the read queries\' queue group');
                        for (const subject of ['food.read.order', 'food.rpc.orders.3.place', 'food.cmd.store', 'food.order.x.status', 'food.ans.orch_probe']) {
                                const answer = await r.send(`PUB ${subject} 0\r\n\r\n`);
                                assert.match(answer, /Permissions Violation for Publish/, `the reader publishes to ${subject}: ${answer}`);
                        }
                        for (const subject of ['food.rpc.>', 'food.order.*.status', 'food.cmd.>']) {
                                const answer = await r.send(`SUB ${subject} 2\r\n`);
                                assert.match(answer, /Permissions Violation for Subscription/, `the reader subscribes to ${subject}: ${answer}`);
                        }
                } finally {
                        r.close();
                }
                const c = await natsProbe(p.natsUrl, 'gateway', p.natsPasswords.gateway);
                try {
                        assert.equal(c.hello, 'PONG');
                        assert.equal(await c.send('SUB food.order.x.status 1\r\n'), 'PONG');
                        assert.equal(await c.send('PUB food.read.order 0\r\n\r\n'), 'PONG', 'the gateway asks the reader');
                        assert.match(await c.send('SUB food.read.* 2\r\n'), /Permissions Violation for Subscription/, 'the gateway answers reads');
                        for (const subject of ['food.cmd.payment', 'food.cmd.coupon', 'food.ans.orch_probe', 'food.order.x.status']) {
                                const answer = await c.send(`PUB ${subject} 0\r\n\r\n`);
                                assert.match(answer, /Permissions Violation for Publish/, `publish to ${subject}: ${answer}`);
                        }
                } finally {
                        c.close();
                }
        });
});
