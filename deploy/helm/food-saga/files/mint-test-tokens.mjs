// `helm test` of food-saga, first step (the test pod's init container, the only container given jwt-secret): mints
// the tokens the test script (test-order.mjs) acts with — a customer, a rider and the owner of each store the
// catalog lists, fresh subjects every run — valid for TOKEN_TTL_S seconds, and writes them, never the key, to
// TOKENS_FILE (a memory volume shared with the test container).
// Node 20, built-in modules only. Env: GATEWAY (base URL), JWT_SECRET, TOKENS_FILE, TOKEN_TTL_S.
import { createHmac, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

const { GATEWAY, JWT_SECRET, TOKENS_FILE } = process.env;
const TTL_S = Number(process.env.TOKEN_TTL_S || 300);
const WAIT_MS = 60_000;

function token(claims) {
        const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
        const body = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ ...claims, exp: Math.floor(Date.now() / 1000) + TTL_S })}`;
        return `${body}.${createHmac('sha256', JWT_SECRET).update(body).digest('base64url')}`;
}

// The stores of the catalog (public), once the gateway answers.
async function stores() {
        const end = Date.now() + WAIT_MS;
        for (;;) {
                try {
                        const res = await fetch(`${GATEWAY}/stores`, { signal: AbortSignal.timeout(10_000) });
                        if (res.status === 200) return await res.json();
                } catch { /* not up yet */ }
                if (Date.now() > end) throw new Error('GET /stores did not answer 200');
                await sleep(500);
        }
}

async function main() {
        if (!GATEWAY || !JWT_SECRET || !TOKENS_FILE) throw new Error('GATEWAY, JWT_SECRET and TOKENS_FILE are required');
        const run = randomUUID().slice(0, 8);
        const out = {
                customer: token({ sub: `helm-test-${run}`, role: 'customer' }),
                rider: token({ sub: `helm-test-rider-${run}`, role: 'rider' }),
                stores: Object.fromEntries((await stores()).map((s) => [s.id, token({ sub: `helm-test-owner-${run}`, role: 'store', store_id: s.id })])),
        };
        writeFileSync(TOKENS_FILE, JSON.stringify(out), { mode: 0o600 });
        console.log(`mint-test-tokens: customer, rider and ${Object.keys(out.stores).length} store owner tokens, valid ${TTL_S} s`);
}

main().catch((e) => {
        console.error(`mint-test-tokens: FAILED: ${e.message}`);
        process.exit(1);
});
