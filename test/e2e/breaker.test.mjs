// Circuit breaker + fallback on payment: a failing or slow provider opens the breaker; POST /orders then answers
// at once 503 + Retry-After ("pay later") and charges nothing; after the cool-down one probe closes it again.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startPlatform } from '../harness.mjs';
import { catalog, expectProblem, expectStatus, orderBody, pspLedger } from '../flows.mjs';

const COOLDOWN_MS = 3000;

describe('payment circuit breaker', () => {
        let p, customer, store;

        before(async () => {
                p = await startPlatform({
                        name: 'breaker',
                        env: { payment: {
                                PAYMENT_BREAKER_WINDOW: '6', PAYMENT_BREAKER_MIN_CALLS: '3', PAYMENT_BREAKER_FAILURE_PCT: '50',
                                PAYMENT_BREAKER_SLOW_MS: '400', PAYMENT_BREAKER_COOLDOWN_MS: String(COOLDOWN_MS),
                        } },
                });
                store = (await catalog(p)).find((s) => s.menu.length >= 1);
                customer = await p.token('cust_breaker', 'customer');
        });
        after(async () => { await p?.stop(); });

        const place = () => p.api('POST', '/orders', { token: customer, body: orderBody(store, [[store.menu[0], 1]]) });
        async function breakerMetrics() {
                const text = await (await fetch(`${p.find('payment')[0].healthUrl}/metrics`)).text();
                const value = (name) => Number((text.match(new RegExp(`^${name} (\\d+)$`, 'm')) || [])[1]);
                return { state: value('food_payment_breaker_state'), refused: value('food_payment_breaker_refused_total'), opened: value('food_payment_breaker_opened_total') };
        }
        async function provider(config) {
                expectStatus(await p.psp('/config', { method: 'PUT', body: config }), 200, 'PUT /config on the sandbox PSP');
        }
        async function approvedCharges() {
                return (await pspLedger(p)).charges.filter((c) => c.status === 'approved').length;
        }

        async function expectOpenFallback(what) {
                const before = await approvedCharges();
                const t0 = Date.now();
                const r = await place();
                const ms = Date.now() - t0;
                expectProblem(r, 503, `${what}: POST /orders with the breaker open`);
                assert.ok(Number(r.headers.get('retry-after')) >= 1, `${what}: Retry-After header, got ${r.headers.get('retry-after')}`);
                assert.ok(ms < 1000, `${what}: the open breaker answers at once, took ${ms} ms`);
                console.log(`# ${what}: POST /orders with the breaker open answered 503 in ${ms} ms`);
                assert.equal(await approvedCharges(), before, `${what}: nothing charged`);
                const m = await breakerMetrics();
                assert.equal(m.state, 1, `${what}: food_payment_breaker_state = 1 (open), got ${JSON.stringify(m)}`);
                assert.ok(m.refused >= 1, `${what}: refused calls counted: ${JSON.stringify(m)}`);
        }

        // Orders until the breaker opens: each answer is one of `allowed` (a slow provider still charges).
        async function openBy(what, allowed) {
                for (let i = 0; i < 10 && (await breakerMetrics()).state !== 1; i++) {
                        const r = await place();
                        assert.ok(allowed.includes(r.status), `${what}: expected one of ${allowed}, got ${r.status}`);
                }
                assert.equal((await breakerMetrics()).state, 1, `${what}: the breaker did not open`);
        }

        async function closeAgain(what) {
                await provider({ latency_ms: 0, failure_rate: 0 });
                await new Promise((r) => setTimeout(r, COOLDOWN_MS + 300));
                const probe = await place();
                expectStatus(probe, 201, `${what}: the probe order after the cool-down`);
                assert.equal((await breakerMetrics()).state, 0, `${what}: closed after a good probe`);
                expectStatus(await place(), 201, `${what}: orders flow again`);
        }

        it('a failing provider opens it; orders fail fast with 503 + Retry-After, nothing charged; it closes by itself', async () => {
                expectStatus(await place(), 201, 'a healthy provider');
                await provider({ latency_ms: 0, failure_rate: 1 });
                await openBy('failing provider', [503, 504]);
                await expectOpenFallback('failing provider');
                await closeAgain('failing provider');
        });

        it('a slow provider opens it too', async () => {
                const opened = (await breakerMetrics()).opened;
                await provider({ latency_ms: 700, failure_rate: 0 });
                await openBy('slow provider', [201]);
                assert.ok((await breakerMetrics()).opened > opened, 'food_payment_breaker_opened_total grew');
                await expectOpenFallback('slow provider');
                await closeAgain('slow provider');
        });
});
