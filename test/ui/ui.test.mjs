// The web UI (SPEC F18, §6) in a real browser: Debian's chromium driven by playwright-core against a platform
// started by test/harness.mjs. Customer, store owner and rider each use their own browser context; every page is
// loaded once and must update live (SSE for the customer, polling for store and rider): waits are on the
// data-testid elements' text, never on a reload. Screenshots go to $BUILD_DIR/test-logs/ui/*.png.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';

import { expectProblem, expectStatus, placeOrder } from '../flows.mjs';
import { startPlatform } from '../harness.mjs';

const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
// Generous: sanitizer builds on 2 shared cores, an eventually consistent read model, a 1 s polling UI.
const WAIT = 30_000;
const STORE = 'st_gangnam_bibimbap';
const OTHER_STORE = 'st_mapo_galbi';

let p;
let browser;
let shots;
const pages = []; // every page opened, checked for CSP violations and script errors at the end

before(async () => {
        assert.ok(fs.existsSync(CHROMIUM), `${CHROMIUM} not found: install Debian's chromium (deploy/local/packages.txt)`);
        p = await startPlatform({ name: 'ui' });
        shots = p.logDir;
        browser = await chromium.launch({
                executablePath: CHROMIUM,
                headless: true,
                // Tests run as root: chromium's sandbox needs an unprivileged user. /dev/shm may be small.
                args: ['--no-sandbox', '--disable-dev-shm-usage', '--disable-gpu'],
                timeout: 60_000,
        });
});

after(async () => {
        const problems = pages.flatMap((pg) => pg.problems.map((m) => `${pg.role}: ${m}`));
        if (browser) await browser.close();
        if (p) await p.stop();
        assert.deepEqual(problems, [], 'script errors or Content-Security-Policy violations in the pages');
});

// A fresh browser context with the UI loaded once; `marker` proves later that it was never reloaded.
async function openUi(role, contextOpts = {}) {
        const context = await browser.newContext({ locale: 'en-US', viewport: { width: 1280, height: 900 }, ...contextOpts });
        const page = await context.newPage();
        page.setDefaultTimeout(WAIT);
        page.role = role;
        page.problems = [];
        page.on('pageerror', (e) => page.problems.push(`page error: ${e.message}`));
        page.on('console', (m) => {
                if (/Content.Security.Policy|Refused to (load|execute|apply|connect)/i.test(m.text())) page.problems.push(`console: ${m.text()}`);
        });
        page.streams = []; // Last-Event-ID of every GET /orders/{id}/events the page made ('' when none)
        page.on('request', (r) => {
                if (/\/orders\/[^/]+\/events$/.test(new URL(r.url()).pathname)) page.streams.push(r.headers()['last-event-id'] || '');
        });
        pages.push(page);
        await page.goto(`${p.url}/`);
        await page.evaluate(() => { window.loadedOnce = true; });
        return page;
}

async function notReloaded(page) {
        assert.equal(await page.evaluate(() => window.loadedOnce === true), true, `${page.role}: the page was reloaded`);
}

const byTestId = (page, id, extra = '') => page.locator(`[data-testid="${id}"]${extra}`);
const orderStatus = (page, id) => byTestId(page, 'order-status', `[data-order-id="${id}"]`);
const inboxOrder = (page, id) => byTestId(page, 'inbox-order', `[data-order-id="${id}"]`);
const deliveryItem = (page, id) => byTestId(page, 'delivery-item', `[data-order-id="${id}"]`);

// Waits until `locator`'s text (trimmed) equals `want` (or matches the RegExp); reports the last text seen.
async function waitText(locator, want, what) {
        const deadline = Date.now() + WAIT;
        let last = '(no element)';
        for (;;) {
                if (await locator.count() === 1) {
                        last = ((await locator.textContent({ timeout: 1000 }).catch(() => null)) ?? '(gone)').trim();
                        if (want instanceof RegExp ? want.test(last) : last === want) return last;
                } else if (await locator.count() > 1) {
                        last = `(${await locator.count()} elements)`;
                }
                if (Date.now() > deadline) assert.fail(`${what}: expected text ${want}, last seen '${last}' after ${WAIT} ms`);
                await new Promise((r) => setTimeout(r, 100));
        }
}

async function waitCount(locator, n, what) {
        const deadline = Date.now() + WAIT;
        let c;
        while ((c = await locator.count()) !== n) {
                if (Date.now() > deadline) assert.fail(`${what}: expected ${n} element(s), found ${c} after ${WAIT} ms`);
                await new Promise((r) => setTimeout(r, 100));
        }
}

async function signIn(page, role, storeId) {
        await byTestId(page, `signin-${role}`).click();
        if (role === 'store') await byTestId(page, 'store-choice', `[data-store-id="${storeId}"]`).click();
        if (role === 'customer') await byTestId(page, 'store-card').first().waitFor();
        if (role === 'store') await byTestId(page, 'inbox').waitFor({ state: 'attached' });
        if (role === 'rider') await byTestId(page, 'open-deliveries').waitFor({ state: 'attached' });
}

// The token the page signed in with (to check its orders through the API as that same user).
const tokenOf = (page) => page.evaluate(() => sessionStorage.getItem('food.token'));

// Customer: region, store, items (menu item id -> count) into the cart; resolves once the cart shows them.
async function fillCart(page, storeId, items, region) {
        if (!(await page.url()).includes('#/shop')) await page.locator('a.tab[href="#/shop"]').click();
        if (region !== undefined) await byTestId(page, 'region-select').selectOption(region);
        await byTestId(page, 'store-card', `[data-store-id="${storeId}"]`).click();
        for (const [id, n] of Object.entries(items)) {
                const add = byTestId(page, 'menu-item', `[data-menu-item-id="${id}"]`).locator('[data-testid="add-to-cart"]');
                for (let i = 0; i < n; i++) await add.click();
        }
        await waitCount(byTestId(page, 'cart-line'), Object.keys(items).length, 'cart lines');
}

// Places the cart; resolves to the new order's id once its status shows PAID.
async function placeFromUi(page) {
        await byTestId(page, 'place-order').click();
        await page.waitForURL(/#\/order\/ord_[0-9a-f]+$/, { timeout: WAIT });
        const id = page.url().split('/').pop();
        await waitText(orderStatus(page, id), 'PAID', 'customer: status of the new order');
        return id;
}

let customer;
let owner;
let rider;

test('the gateway serves the UI from memory: types, CSP, cache validators, 404 problem for unknown assets', async () => {
        const page = await fetch(`${p.url}/`);
        const html = await page.text();
        assert.equal(page.status, 200, 'GET /');
        assert.match(page.headers.get('content-type'), /^text\/html; charset=utf-8$/, 'GET / content-type');
        const csp = page.headers.get('content-security-policy') || '';
        for (const d of ["default-src 'none'", "script-src 'self'", "style-src 'self'", "connect-src 'self'", "frame-ancestors 'none'"]) {
                assert.ok(csp.includes(d), `CSP should contain ${d}: '${csp}'`);
        }
        assert.ok(!/unsafe-inline|unsafe-eval|\*/.test(csp), `CSP must not allow inline or eval or wildcards: '${csp}'`);
        assert.equal(page.headers.get('x-content-type-options'), 'nosniff');
        assert.equal(page.headers.get('cache-control'), 'no-cache', 'the page is revalidated every time');
        const etag = page.headers.get('etag');
        assert.match(etag || '', /^"[0-9a-f]{16}"$/, 'GET / ETag');
        assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/i, 'index.html must have no inline script');

        const again = await fetch(`${p.url}/`, { headers: { 'If-None-Match': etag } });
        assert.equal(again.status, 304, 'GET / with a current If-None-Match');
        assert.equal(await again.text(), '', '304 has no body');
        const head = await fetch(`${p.url}/`, { method: 'HEAD' });
        assert.equal(head.status, 200, 'HEAD /');
        assert.equal(head.headers.get('content-length'), String(Buffer.byteLength(html)), 'HEAD / content-length');

        // Every asset the page and its modules reference loads with its type.
        const want = { '.js': /^text\/javascript/, '.css': /^text\/css/, '.svg': /^image\/svg\+xml/ };
        const queue = [...html.matchAll(/(?:src|href)="ui\/([^"]+)"/g)].map((m) => m[1]);
        const seen = new Set();
        while (queue.length) {
                const name = queue.shift();
                if (seen.has(name)) continue;
                seen.add(name);
                const r = await fetch(`${p.url}/ui/${name}`);
                const body = await r.text();
                assert.equal(r.status, 200, `GET /ui/${name}`);
                assert.match(r.headers.get('content-type'), want[path.extname(name)], `GET /ui/${name} content-type`);
                assert.ok(r.headers.get('content-security-policy'), `GET /ui/${name} carries the CSP too`);
                if (name.endsWith('.js')) for (const m of body.matchAll(/from '\.\/([^']+)'/g)) queue.push(m[1]);
        }
        assert.ok(seen.has('app.js') && seen.has('app.css') && seen.has('sse.js'), `assets reached: ${[...seen]}`);

        for (const u of ['/ui/nope.js', '/ui/', '/ui/index.htm', '/favicon.ico']) expectProblem(await p.api('GET', u), 404, `GET ${u}`);
        expectProblem(await p.api('POST', '/'), 405, 'POST /');
});

test('an order from placement to COMPLETED, live in the customer, store and rider browsers', async () => {
        customer = await openUi('customer');
        owner = await openUi('store');
        rider = await openUi('rider');
        await signIn(customer, 'customer');
        await signIn(owner, 'store', STORE);
        await signIn(rider, 'rider');

        // Stores near a region: the cards are exactly the API's stores of that region.
        await byTestId(customer, 'region-select').selectOption('gangnam');
        const gangnam = expectStatus(await p.api('GET', '/stores?region=gangnam'), 200, 'GET /stores?region=gangnam').json.map((s) => s.id).sort();
        const cards = async () => (await byTestId(customer, 'store-card').evaluateAll((els) => els.map((e) => e.dataset.storeId))).sort();
        await customer.waitForFunction((n) => document.querySelectorAll('[data-testid="store-card"]').length === n, gangnam.length);
        assert.deepEqual(await cards(), gangnam, 'store cards of region gangnam');

        await fillCart(customer, STORE, { mi_dolsot_bibimbap: 2, mi_doenjang_jjigae: 1 });
        assert.equal(await byTestId(customer, 'menu-item', '[data-menu-item-id="mi_haemul_pajeon"] [data-testid="add-to-cart"]').isDisabled(), true,
                'an unavailable item cannot be added');
        await waitText(byTestId(customer, 'cart-total'), '₩31,000', 'cart total (2 × 11,000 + 9,000)');
        assert.equal(await byTestId(customer, 'card-token').inputValue(), 'tok_ok', 'the sandbox card defaults to tok_ok');
        await customer.screenshot({ path: path.join(shots, 'customer-shop.png'), fullPage: true });

        const id = await placeFromUi(customer);
        const token = await tokenOf(customer);
        const placed = expectStatus(await p.api('GET', `/orders/${id}`, { token }), 200, 'GET /orders/{id} as the UI customer').json;
        assert.equal(placed.total, 31000, 'total priced by the catalog');
        assert.deepEqual(placed.items.map((i) => [i.menu_item_id, i.quantity]).sort(), [['mi_doenjang_jjigae', 1], ['mi_dolsot_bibimbap', 2]]);
        await waitCount(byTestId(customer, 'cancel-order'), 1, 'cancel offered while PAID');

        // The store's inbox shows the order live; accept.
        await waitText(inboxOrder(owner, id).locator('[data-testid="inbox-status"]'), 'PAID', 'store: inbox order');
        await owner.screenshot({ path: path.join(shots, 'store-inbox.png'), fullPage: true });
        await inboxOrder(owner, id).locator('[data-testid="accept"]').click();
        await waitText(orderStatus(customer, id), 'ACCEPTED', 'customer: after accept');
        await waitCount(byTestId(customer, 'cancel-order'), 1, 'cancel still offered while ACCEPTED');

        // Cooking started: the customer can no longer cancel, and the button goes away by itself.
        await inboxOrder(owner, id).locator('[data-testid="cooking-started"]').click();
        await waitText(orderStatus(customer, id), 'COOKING', 'customer: after cooking started');
        await waitCount(byTestId(customer, 'cancel-order'), 0, 'cancel gone once cooking started');
        await waitCount(byTestId(customer, 'modify-order'), 0, 'modify gone once cooking started');

        // Not visible to riders before cooking finished.
        assert.equal(await deliveryItem(rider, id).count(), 0, 'rider: no delivery before cooking finished');
        await inboxOrder(owner, id).locator('[data-testid="cooking-finished"]').click();
        await waitText(orderStatus(customer, id), 'COOKED', 'customer: after cooking finished');

        // The rider's list (all regions) shows it live; pick, then delivered.
        await deliveryItem(rider, id).locator('[data-testid="pick"]').waitFor();
        // region-select narrows the list: another region hides it, all regions show it again.
        await byTestId(rider, 'region-select').selectOption('mapo');
        await waitCount(deliveryItem(rider, id), 0, 'rider: a gangnam delivery under region mapo');
        await byTestId(rider, 'region-select').selectOption('gangnam');
        await deliveryItem(rider, id).locator('[data-testid="pick"]').waitFor();
        await byTestId(rider, 'region-select').selectOption('');
        await rider.screenshot({ path: path.join(shots, 'rider-deliveries.png'), fullPage: true });
        await deliveryItem(rider, id).locator('[data-testid="pick"]').click();
        await waitText(orderStatus(customer, id), 'PICKED_UP', 'customer: after pick');
        await waitText(inboxOrder(owner, id).locator('[data-testid="inbox-status"]'), /^(PICKED_UP|DELIVERED|COMPLETED)$/, 'store: order left the inbox');
        await deliveryItem(rider, id).locator('[data-testid="delivered"]').click();
        await waitText(orderStatus(customer, id), 'DELIVERED', 'customer: after delivered');
        await waitText(deliveryItem(rider, id).locator('[data-testid="delivery-status"]'), 'DELIVERED', 'rider: my delivery');

        await byTestId(customer, 'confirm-order').click();
        await waitText(orderStatus(customer, id), 'COMPLETED', 'customer: after confirm');
        await waitCount(byTestId(customer, 'confirm-order'), 0, 'confirm gone once completed');
        // The stream ends after COMPLETED and the reconnect gets 204: the page stops following.
        await customer.locator('[data-testid="stream-state"][data-state="ended"]').waitFor();
        assert.ok(customer.streams.length >= 2 && /^\d+$/.test(customer.streams.at(-1)),
                `the reconnect after the stream's end carries Last-Event-ID: ${JSON.stringify(customer.streams)}`);
        const steps = await byTestId(customer, 'timeline').locator('li.done, li.current').count();
        assert.equal(steps, 7, 'timeline: all seven statuses reached');
        await customer.screenshot({ path: path.join(shots, 'customer-order.png'), fullPage: true });

        const done = expectStatus(await p.api('GET', `/orders/${id}`, { token }), 200, 'GET /orders/{id}').json;
        assert.deepEqual(done.history.map((h) => h.status).filter((st) => st !== 'PAYMENT_PENDING'), ['PAID', 'ACCEPTED', 'COOKING', 'COOKED', 'PICKED_UP', 'DELIVERED', 'COMPLETED']);

        // History and messages through the UI's other tabs.
        await customer.locator('a.tab[href="#/orders"]').click();
        await waitText(byTestId(customer, 'order-row', `[data-order-id="${id}"]`).locator('.status'), 'COMPLETED', 'order history');
        await customer.locator('a.tab[href="#/me"]').click();
        await waitText(byTestId(customer, 'grade'), 'BRONZE', 'grade');
        await byTestId(customer, 'notification').first().waitFor();
        await byTestId(customer, 'coupon').first().waitFor(); // cooking finished gave a coupon for the store
        for (const pg of [customer, owner, rider]) await notReloaded(pg);
});

test('a refusal with a reason reaches the customer live and is refunded; the store issues a coupon', async () => {
        await fillCart(customer, STORE, { mi_bulgogi_bibimbap: 1 });
        const id = await placeFromUi(customer);
        await inboxOrder(owner, id).locator('[data-testid="refuse-reason"]').fill('Out of rice tonight');
        await inboxOrder(owner, id).locator('[data-testid="refuse"]').click();
        await waitText(orderStatus(customer, id), 'REFUSED', 'customer: after refusal');
        await waitText(byTestId(customer, 'order-reason'), 'Out of rice tonight', 'customer: the reason');
        await waitText(byTestId(customer, 'order-refunded'), '₩12,000', 'customer: refunded in full, live');
        await waitCount(byTestId(customer, 'cancel-order'), 0, 'no cancel on a refused order');
        await waitText(inboxOrder(owner, id).locator('[data-testid="inbox-status"]'), 'REFUSED', 'store: refused order');

        // Coupon from the store owner: the customer sees it without reloading.
        const me = expectStatus(await p.api('GET', '/customers/me', { token: await tokenOf(customer) }), 200, 'GET /customers/me').json;
        await byTestId(owner, 'coupon-customer').fill(me.id);
        await byTestId(owner, 'coupon-discount').fill('2500');
        await byTestId(owner, 'issue-coupon').click();
        await waitText(byTestId(owner, 'notice'), /^Coupon \S+ issued to /, 'store: coupon issued');
        await customer.locator('a.tab[href="#/me"]').click();
        await customer.locator('[data-testid="coupon"]', { hasText: '₩2,500' }).first().waitFor();
        for (const pg of [customer, owner, rider]) await notReloaded(pg);
});

test('API problems show their detail: declined card, cancel lost to cooking (409), pick lost to another rider (409)', async () => {
        const token = await tokenOf(customer);
        const stores = expectStatus(await p.api('GET', '/stores'), 200, 'GET /stores').json;
        const store = stores.find((s) => s.id === STORE);
        const menu = expectStatus(await p.api('GET', `/stores/${STORE}/menu`), 200, 'menu').json;
        const item = menu.find((m) => m.id === 'mi_dolsot_bibimbap');

        // Declined card: 402, its detail in error-message, nothing placed.
        const declined = await p.api('POST', '/orders', {
                token, headers: { 'idempotency-key': `decl-${Date.now()}` },
                body: { store_id: STORE, items: [{ menu_item_id: item.id, quantity: 1 }], address: { text: 'x', region: store.region, lat: store.lat, lon: store.lon }, note: '', payment: { card_token: 'tok_declined' } },
        });
        expectProblem(declined, 402, 'declined card through the API');
        await fillCart(customer, STORE, { mi_dolsot_bibimbap: 1 });
        await byTestId(customer, 'card-token').fill('tok_declined');
        await byTestId(customer, 'place-order').click();
        await waitText(byTestId(customer, 'error-message'), declined.json.detail, 'customer: declined card');
        assert.ok(await byTestId(customer, 'error-message').isVisible(), 'the error is visible');
        assert.match(customer.url(), /#\/shop$/, 'still on the shop after a declined card');
        await byTestId(customer, 'card-token').fill('tok_ok');

        // Cancel racing cooking: the customer's stream lags (blocked here), the store starts cooking, the
        // customer clicks cancel on the stale screen: 409 shown, then the real state.
        const ownerToken = await tokenOf(owner);
        const o = await placeOrder(p, token, store, [[item, 1]]);
        await customer.context().route(/\/orders\/[^/]+\/events$/, (r) => r.abort());
        await customer.goto(`${p.url}/#/order/${o.id}`); // same document: only the hash changes
        await waitText(orderStatus(customer, o.id), 'PAID', 'customer: stale screen');
        expectStatus(await p.api('POST', `/stores/${STORE}/orders/${o.id}/accept`, { token: ownerToken }), 200, 'accept');
        expectStatus(await p.api('POST', `/stores/${STORE}/orders/${o.id}/cooking-started`, { token: ownerToken }), 200, 'cooking-started');
        const lost = await p.api('POST', `/orders/${o.id}/cancel`, { token, body: {} });
        expectProblem(lost, 409, 'cancel once cooking through the API');
        await byTestId(customer, 'cancel-order').click();
        await waitText(byTestId(customer, 'error-message'), lost.json.detail, 'customer: cancel lost to cooking');
        await waitText(orderStatus(customer, o.id), 'COOKING', 'customer: the real state after the 409');
        await waitCount(byTestId(customer, 'cancel-order'), 0, 'cancel gone after the 409');
        await customer.context().unroute(/\/orders\/[^/]+\/events$/);

        // Pick racing another rider: this rider's list lags (served stale here), another rider picks first.
        expectStatus(await p.api('POST', `/stores/${STORE}/orders/${o.id}/cooking-finished`, { token: ownerToken }), 200, 'cooking-finished');
        await deliveryItem(rider, o.id).locator('[data-testid="pick"]').waitFor();
        const stale = expectStatus(await p.api('GET', '/deliveries', { token: await p.token('rider-stale', 'rider') }), 200, 'deliveries').text;
        await rider.context().route(/\/deliveries(\?.*)?$/, (r) => (r.request().method() === 'GET'
                ? r.fulfill({ status: 200, contentType: 'application/json', body: stale }) : r.continue()));
        const dlv = `dlv_${o.id.slice(4)}`;
        expectStatus(await p.api('POST', `/deliveries/${dlv}/pick`, { token: await p.token('rider-fast', 'rider') }), 200, 'the other rider picks');
        const second = await p.api('POST', `/deliveries/${dlv}/pick`, { token: await p.token('rider-slow', 'rider') });
        expectProblem(second, 409, 'a second pick through the API');
        await deliveryItem(rider, o.id).locator('[data-testid="pick"]').click();
        await waitText(byTestId(rider, 'error-message'), second.json.detail, 'rider: pick lost');
        assert.equal(await byTestId(rider, 'error-message').getAttribute('data-status'), '409');
        await rider.context().unroute(/\/deliveries(\?.*)?$/);
        await waitCount(deliveryItem(rider, o.id), 0, 'rider: the lost delivery is gone');
        for (const pg of [customer, owner, rider]) await notReloaded(pg);
});

test('the page\'s SSE reader: events split anywhere, CRLF or LF, comments, multi-line data, ids kept for Last-Event-ID', async () => {
        const stream = ': keep-alive\r\nid: 3\r\nevent: status\r\ndata: {"status":\r\ndata: "PAID"}\r\n\r\n'
                + 'retry: 900\nevent: status\ndata: {"status":"ACCEPTED"}\n\n' + 'id: 5\nevent: other\ndata: x\n\n'
                + 'data:no-space\n\nid: 6\ndata: cut';
        const got = await customer.evaluate(async (text) => {
                const { parseSse } = await import('./ui/sse.js');
                const out = [];
                // Fed one character at a time: every split point, including between \r and \n.
                const state = { data: [], event: '', id: null, lastId: '', retry: null };
                let rest = '';
                for (const ch of text) rest = parseSse(rest + ch, state, (e) => out.push(e));
                return { out, rest, lastId: state.lastId, retry: state.retry };
        }, stream);
        assert.deepEqual(got.out, [
                { id: '3', event: 'status', data: '{"status":\n"PAID"}' },
                { id: '3', event: 'status', data: '{"status":"ACCEPTED"}' },
                { id: '5', event: 'other', data: 'x' },
                { id: '5', event: 'message', data: 'no-space' },
        ]);
        assert.equal(got.rest, 'data: cut', 'an unfinished line waits for the next chunk');
        assert.equal(got.lastId, '5', 'Last-Event-ID to send on reconnect');
        assert.equal(got.retry, 900);
});

test('an order id from the address (#/order/<id>) goes into API paths encoded: a crafted link reaches no other endpoint', async () => {
        const page = await openUi('hostile-hash');
        await signIn(page, 'customer');
        const paths = [];
        page.on('request', (r) => { if (new URL(r.url()).origin === new URL(p.url).origin) paths.push(new URL(r.url()).pathname); });
        // Decoded by the page's router into "../../admin/sagas/x": unencoded, the browser would resolve it to
        // /admin/sagas/x and call that endpoint with the customer's token.
        await page.goto(`${p.url}/#/order/..%2F..%2Fadmin%2Fsagas%2Fx`);
        await waitText(byTestId(page, 'error-message'), /.+/, 'the unknown order\'s problem shown');
        assert.ok(paths.includes('/orders/..%2F..%2Fadmin%2Fsagas%2Fx'), `the order asked for by its encoded id: ${paths.join(' ')}`);
        assert.deepEqual(paths.filter((x) => !x.startsWith('/orders/') && !x.startsWith('/ui/') && x !== '/' && !x.startsWith('/stores')
                && !x.startsWith('/customers/')), [], 'no other endpoint called');
        await notReloaded(page);
});

test('Korean and English labels, switched by lang-toggle and remembered', async () => {
        await customer.locator('a.tab[href="#/shop"]').click();
        const tab = customer.locator('a.tab[href="#/shop"]');
        await waitText(tab, 'Order food', 'English tab label');
        await waitText(byTestId(customer, 'lang-toggle'), '한국어', 'toggle offers Korean');
        await byTestId(customer, 'lang-toggle').click();
        await waitText(tab, '주문하기', 'Korean tab label');
        await waitText(byTestId(customer, 'lang-toggle'), 'English', 'toggle offers English');
        assert.equal(await customer.evaluate(() => document.documentElement.lang), 'ko');
        await customer.screenshot({ path: path.join(shots, 'customer-shop-ko.png'), fullPage: true });
        // Remembered: another page of the same browser starts in Korean.
        const second = await customer.context().newPage();
        await second.goto(`${p.url}/`);
        await waitText(second.locator('[data-testid="lang-toggle"]'), 'English', 'second page language');
        await second.close();
        await byTestId(customer, 'lang-toggle').click();
        await waitText(tab, 'Order food', 'back to English');
});

test('phone-sized screen: the customer can order without horizontal scrolling', async () => {
        const phone = await openUi('phone', { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true });
        await signIn(phone, 'customer');
        await fillCart(phone, OTHER_STORE, { mi_naengmyeon: 1 });
        const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `page wider than the phone by ${overflow} px`);
        await phone.screenshot({ path: path.join(shots, 'phone-customer.png'), fullPage: true });
        const id = await placeFromUi(phone);
        assert.match(id, /^ord_/);
        await phone.screenshot({ path: path.join(shots, 'phone-order.png'), fullPage: true });
});

test('without DEV_TOKENS the sign-in asks for a token; a forged one shows the gateway\'s 401 detail', async () => {
        const good = await p.token('pasted-customer', 'customer');
        const forged = `${good.slice(0, -4)}${good.slice(-4) === 'AAAA' ? 'BBBB' : 'AAAA'}`;
        const refused = await p.api('GET', '/customers/me', { token: forged });
        expectProblem(refused, 401, 'forged token');
        await p.restart('gateway', { env: { DEV_TOKENS: 'false' } });
        expectProblem(await p.api('POST', '/auth/dev-token', { body: { sub: 'x', role: 'customer' } }), 404, 'dev-token off');

        const page = await openUi('paste');
        await byTestId(page, 'token-input').waitFor();
        await waitText(page.locator('.signin p.muted').last(), /demo tokens/, 'no-dev-token notice');
        assert.equal(await byTestId(page, 'signin-customer').count(), 0, 'no role picker without DEV_TOKENS');
        await byTestId(page, 'token-input').fill('not a token');
        await byTestId(page, 'use-token').click();
        await waitText(byTestId(page, 'error-message'), /not a bearer token/, 'garbage token');
        await byTestId(page, 'token-input').fill(forged);
        await byTestId(page, 'use-token').click();
        await waitText(byTestId(page, 'error-message'), refused.json.detail, 'forged token');
        await byTestId(page, 'token-input').fill(good);
        await byTestId(page, 'use-token').click();
        await byTestId(page, 'store-card').first().waitFor();
        await waitText(page.locator('#who'), /pasted-customer/, 'signed in as the token\'s sub');
        assert.equal(await page.locator('#error-box').isHidden(), true, 'the error is cleared after signing in');
});
