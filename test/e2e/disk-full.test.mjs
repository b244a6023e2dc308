// Disk full (issue 5's faults): the JetStream store on a small tmpfs of its own. Filled up (by a stream of
// somebody else's on the same server, as a runaway stream would), nats-server refuses every publish ("insufficient resources"); the platform
// then refuses new orders cleanly within a bound instead of hanging, charges nothing it cannot follow up, loses
// nothing already accepted (the outbox and the workers keep what they could not publish), and once space is
// freed everything that waited goes on by itself: the order placed during the outage ends consistently with the
// provider's ledger and a new order completes.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { natsSend, startPlatform } from '../harness.mjs';
import { catalog, fullLifecycle, ledgerOf, orderBody, OWES_TOTAL, pspLedger, steps, TERMINAL } from '../flows.mjs';

const STORE_MB = 32; // JetStream's limit is 75% of it
const FILLER = 'filler.x'; // stream FILLER, not ours
const ANSWER_BOUND_MS = 15_000;

describe('disk full: the JetStream store runs out of space', () => {
        let p, store, customer, owner, rider, admin;
        const step = steps(it);
        const outage = { key: randomUUID(), id: null };

        before(async () => {
                p = await startPlatform({ name: 'disk-full', natsStoreMb: STORE_MB, env: { orchestrator: { PAYMENT_TIMEOUT_S: '5' } } });
                admin = p.natsAdminUrl ?? p.natsUrl;
                store = (await catalog(p)).find((s) => s.menu.length >= 1);
                customer = await p.token('cust_disk');
                owner = await p.token(`owner_${store.id}`, 'store', store.id);
                rider = await p.token('rider_disk', 'rider');
        });
        after(async () => { await p?.stop(); });

        const jsz = async () => (await fetch(`${p.natsMonitorUrl}/jsz`)).json();

        step('a full order before the store fills up', async () => {
                const o = await fullLifecycle(p, { customer, owner, rider, store, lines: [[store.menu[0], 1]] });
                assert.equal(o.status, 'COMPLETED');
        });

        step('filled up: publishes are refused with "insufficient resources"', async () => {
                const [made] = await natsSend(admin, [{ subject: '$JS.API.STREAM.CREATE.FILLER', payload: JSON.stringify({ name: 'FILLER', subjects: ['filler.>'], storage: 'file' }) }]);
                assert.match(made?.payload?.toString() ?? '', /"did_create":true/);
                const chunk = Buffer.alloc(512 * 1024, 0x2a);
                let refused = null;
                for (let i = 0; i < STORE_MB * 3 && !refused; i++) {
                        const [ack] = await natsSend(admin, [{ subject: FILLER, payload: chunk }]);
                        const text = ack?.payload?.toString() ?? '';
                        if (text.includes('"error"')) refused = text;
                }
                assert.match(refused ?? 'never refused', /insufficient resources/);
                const j = await jsz();
                assert.ok(j.storage >= j.config.max_storage * 0.95, `storage ${j.storage} of ${j.config.max_storage}`);
        });

        step('meanwhile POST /orders answers an error within the bound (no hang), and the platform stays up', async () => {
                const t0 = Date.now();
                const r = await p.api('POST', '/orders', {
                        token: customer, body: orderBody(store, [[store.menu[0], 2]]), headers: { 'idempotency-key': outage.key },
                        timeoutMs: ANSWER_BOUND_MS + 5000,
                });
                const ms = Date.now() - t0;
                assert.ok(ms < ANSWER_BOUND_MS, `POST /orders took ${ms} ms with the store full`);
                assert.ok([503, 504].includes(r.status), `POST /orders with the store full: ${r.status} ${r.text.slice(0, 300)}`);
                assert.equal(r.headers.get('content-type'), 'application/problem+json');
                console.log(`# POST /orders with JetStream full: ${r.status} in ${ms} ms`);
                // Every process is still alive (the harness fails the file on a crash) and answers its probes.
                assert.equal((await p.api('GET', '/healthz')).status, 200);
        });

        step('space freed: what waited goes on by itself; the outage order ends consistently, a new one completes', async () => {
                // (A purge filtered by subject does not give the space back in nats-server 2.9: the stream goes.)
                const [gone] = await natsSend(admin, [{ subject: '$JS.API.STREAM.DELETE.FILLER', payload: '' }]);
                assert.match(gone?.payload?.toString() ?? '', /"success":true/);
                // The same request again (as the customer's app would retry it): the order the first try started.
                let r;
                await p.waitFor(async () => {
                        r = await p.api('POST', '/orders', {
                                token: customer, body: orderBody(store, [[store.menu[0], 2]]), headers: { 'idempotency-key': outage.key },
                        });
                        return r.status !== 503 && r.status !== 504;
                }, 60_000, 1000);
                assert.ok([201, 200, 402].includes(r.status), `the retried POST /orders: ${r.status} ${r.text.slice(0, 300)}`);
                console.log(`# the retried POST /orders after space was freed: ${r.status} ${r.json?.status ?? r.json?.detail ?? ''}`);
                const mine = (await p.api('GET', '/orders', { token: customer })).json;
                const started = mine.filter((o) => o.id !== r.json?.id && o.status !== 'COMPLETED');
                // Every order of this customer ends (or stays PAID for the store to answer) and owes what its status says.
                const ids = [...new Set([...(r.json?.id ? [r.json.id] : []), ...started.map((o) => o.id)])];
                for (const id of ids) {
                        const o = await p.waitFor(async () => {
                                const v = (await p.api('GET', `/orders/${id}`, { token: customer })).json;
                                return v && (TERMINAL.has(v.status) || v.status === 'PAID') && v;
                        }, 60_000);
                        if (o.status === 'PAID') {
                                await p.api('POST', `/stores/${store.id}/orders/${id}/refuse`, { token: owner, body: { reason: 'disk test' } });
                        }
                        const owed = OWES_TOTAL.has(o.status) ? o.total : 0;
                        const settled = await p.waitFor(async () => {
                                const l = ledgerOf(await pspLedger(p), id);
                                const v = (await p.api('GET', `/orders/${id}`, { token: customer })).json;
                                const want = OWES_TOTAL.has(v.status) ? v.total : 0;
                                return TERMINAL.has(v.status) && l.net === want && { l, v };
                        }, 60_000).catch(() => null);
                        assert.ok(settled, `order ${id} (${o.status}, owes ${owed}) did not settle with the ledger`);
                        assert.ok(settled.l.approved.length <= 1, `${id} charged ${settled.l.approved.length} times`);
                        console.log(`# outage order ${id}: ${settled.v.status}, charged ${settled.l.charged}, refunded ${settled.l.refunded}`);
                }
                const fresh = await fullLifecycle(p, { customer, owner, rider, store, lines: [[store.menu[0], 1]] });
                assert.equal(fresh.status, 'COMPLETED');
                const j = await jsz();
                assert.ok(j.storage < j.config.max_storage * 0.5, 'the filler stream is gone');
        });
});
