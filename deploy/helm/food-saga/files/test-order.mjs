// `helm test` of food-saga (also run by test/helm against a local platform): the gateway answers /healthz,
// /readyz and the catalog; with CARD_TOKEN set, one order is placed, accepted, cooked, picked, delivered and
// confirmed through the public API with the tokens mint-test-tokens.mjs wrote to TOKENS_FILE (this script never
// sees the signing key), and followed until COMPLETED.
// Node 20, built-in modules only. Env: GATEWAY (base URL), TOKENS_FILE, CARD_TOKEN (may be empty).
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const GATEWAY = process.env.GATEWAY;
const TOKENS_FILE = process.env.TOKENS_FILE;
const CARD = process.env.CARD_TOKEN || '';
const WAIT_MS = 60_000; // bound of each asynchronous step (read model, delivery opening)

function log(msg) {
        console.log(`test-order: ${msg}`);
}

async function call(method, path, { tok, body, headers = {} } = {}) {
        const res = await fetch(`${GATEWAY}${path}`, {
                method,
                headers: { ...(tok ? { authorization: `Bearer ${tok}` } : {}), ...(body ? { 'content-type': 'application/json' } : {}), ...headers },
                body: body ? JSON.stringify(body) : undefined,
                signal: AbortSignal.timeout(15_000),
        });
        const text = await res.text();
        let json;
        try { json = JSON.parse(text); } catch { json = undefined; }
        return { status: res.status, json, text };
}

async function expect(method, path, status, opts) {
        const r = await call(method, path, opts);
        if (r.status !== status) throw new Error(`${method} ${path}: expected ${status}, got ${r.status}: ${r.text.slice(0, 300)}`);
        return r.json;
}

// Repeats `fn` until it returns a truthy value, at most WAIT_MS.
async function until(what, fn) {
        const end = Date.now() + WAIT_MS;
        for (;;) {
                const v = await fn();
                if (v) return v;
                if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
                await sleep(500);
        }
}

async function main() {
        if (!GATEWAY || !TOKENS_FILE) throw new Error('GATEWAY and TOKENS_FILE are required');
        const tokens = JSON.parse(readFileSync(TOKENS_FILE, 'utf8'));
        await until('gateway /readyz', async () => (await call('GET', '/readyz').catch(() => ({}))).status === 200);
        await expect('GET', '/healthz', 200);
        const stores = await expect('GET', '/stores', 200);
        if (!Array.isArray(stores) || stores.length === 0) throw new Error('GET /stores: no store (demo.enabled=true seeds the demo catalog; otherwise add a store first)');
        const store = stores[0];
        const menu = await expect('GET', `/stores/${store.id}/menu`, 200);
        const item = menu.find((m) => m.available !== false) || menu[0];
        if (!item) throw new Error(`store ${store.id} has no menu`);
        log(`gateway ready, ${stores.length} stores`);
        if (!CARD) {
                log('no card token (sandbox PSP off, tests.cardToken empty): no order placed');
                return;
        }

        const { customer, rider } = tokens;
        const owner = tokens.stores?.[store.id];
        if (!customer || !rider || !owner) throw new Error(`${TOKENS_FILE}: no customer, rider or store ${store.id} owner token`);

        const order = await expect('POST', '/orders', 201, {
                tok: customer,
                headers: { 'idempotency-key': randomUUID() },
                body: {
                        store_id: store.id,
                        items: [{ menu_item_id: item.id, quantity: 1 }],
                        address: { text: 'helm test', region: store.region, lat: store.lat, lon: store.lon },
                        note: 'helm test',
                        payment: { card_token: CARD },
                },
        });
        if (order.status !== 'PAID') throw new Error(`placed order is ${order.status}, not PAID`);
        log(`order ${order.id} PAID (${order.total})`);
        await until('the order in the read model', async () => (await call('GET', `/orders/${order.id}`, { tok: customer })).status === 200);
        for (const step of ['accept', 'cooking-started', 'cooking-finished'])
                await expect('POST', `/stores/${store.id}/orders/${order.id}/${step}`, 200, { tok: owner });
        log('accepted and cooked');
        const dlv = `dlv_${order.id.replace(/^ord_/, '')}`;
        await until(`delivery ${dlv} open`, async () => {
                const r = await call('GET', `/deliveries?region=${encodeURIComponent(store.region)}`, { tok: rider });
                return r.status === 200 && Array.isArray(r.json) && r.json.some((d) => d.id === dlv);
        });
        await expect('POST', `/deliveries/${dlv}/pick`, 200, { tok: rider });
        await expect('POST', `/deliveries/${dlv}/delivered`, 200, { tok: rider });
        log('picked up and delivered');
        await until('DELIVERED in the read model', async () => (await call('GET', `/orders/${order.id}`, { tok: customer })).json?.status === 'DELIVERED');
        await expect('POST', `/orders/${order.id}/confirm`, 200, { tok: customer });
        const done = await until('COMPLETED in the read model', async () => {
                const r = await call('GET', `/orders/${order.id}`, { tok: customer });
                return r.json?.status === 'COMPLETED' ? r.json : null;
        });
        log(`order ${order.id} COMPLETED; history ${done.history.map((h) => h.status).join(' > ')}`);
}

main().then(
        () => log('passed'),
        (e) => {
                console.error(`test-order: FAILED: ${e.message}`);
                process.exit(1);
        },
);
