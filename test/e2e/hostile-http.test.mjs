// Hostile HTTP against the gateway: slowloris connections, many connections at once, oversized headers and bodies,
// invalid UTF-8, deep nesting and huge numbers in JSON. Every answer is a clean 4xx problem+json (or the request
// is simply served), other clients keep being answered, the gateway's peak memory (VmHWM) stays bounded, and
// nothing crashes (the harness fails the file on a crash or a sanitizer report).
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { execFile } from 'node:child_process';
import path from 'node:path';
import { promisify } from 'node:util';
import { BUILD_DIR, startPlatform } from '../harness.mjs';
import { catalog, expectProblem, expectStatus, orderBody, show } from '../flows.mjs';

// Small on purpose, so that the slow clients outnumber the gateway's threads.
const THREADS = 16;
const REQUEST_TIMEOUT_MS = 2000;

function vmHWMkB(pid) {
        const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(/^VmHWM:\s+(\d+) kB/m);
        return Number(m[1]);
}

// The resident memory of the stacks of the gateway's idle civetweb workers: a worker without a connection waits on
// a futex (x86-64 system call 202; one holding a keep-alive connection polls its socket instead), and the stack
// pointer /proc/PID/task/TID/syscall shows lies in the mapping that is that thread's stack.
// {stacks, rssKb, idleKb}: idleKb is what the idle threads need, the pages from their stack pointers up.
function workerStacks(pid) {
        const regions = [];
        let cur = null;
        for (const line of fs.readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
                const m = line.match(/^([0-9a-f]+)-([0-9a-f]+) /);
                if (m) regions.push(cur = { start: parseInt(m[1], 16), end: parseInt(m[2], 16), rss: 0 });
                else if (cur && line.startsWith('Rss:')) cur.rss = Number(line.split(/\s+/)[1]);
        }
        let stacks = 0, rssKb = 0, idleKb = 0;
        for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
                if (fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() !== 'civetweb-worker') continue;
                const f = fs.readFileSync(`/proc/${pid}/task/${tid}/syscall`, 'utf8').trim().split(' ');
                const sp = parseInt(f[f.length - 2], 16);
                const r = f[0] === '202' ? regions.find((x) => x.start <= sp && sp < x.end) : null;
                if (!r) continue;
                stacks++;
                rssKb += r.rss;
                idleKb += Math.ceil((r.end - sp) / 4096) * 4;
        }
        return { stacks, rssKb, idleKb };
}

// Raw HTTP/1.1 over a socket: resolves to {status, headers, body} of the first answer, or {status: 0} if the
// peer closed without one. `parts` are written one after another (Buffers or strings).
function raw(port, parts, { timeoutMs = 15_000 } = {}) {
        return new Promise((resolve, reject) => {
                const s = net.connect({ host: '127.0.0.1', port });
                let data = Buffer.alloc(0);
                const timer = setTimeout(() => { s.destroy(); reject(new Error(`raw request: no answer in ${timeoutMs} ms`)); }, timeoutMs);
                s.on('connect', () => { for (const p of parts) s.write(p); });
                s.on('data', (c) => { data = Buffer.concat([data, c]); });
                s.on('error', () => {}); // a reset after the answer is fine
                s.on('close', () => {
                        clearTimeout(timer);
                        const text = data.toString('latin1');
                        const [head, ...rest] = text.split('\r\n\r\n');
                        const status = Number((head.match(/^HTTP\/1\.[01] (\d{3})/) || [])[1] || 0);
                        const headers = Object.fromEntries(head.split('\r\n').slice(1).map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
                        resolve({ status, headers, body: rest.join('\r\n\r\n') });
                });
        });
}

// A slowloris client: sends a request's header one byte every `everyMs` until the gateway closes it or stop().
function slowClient(port, everyMs) {
        const s = net.connect({ host: '127.0.0.1', port });
        const text = `GET /stores HTTP/1.1\r\nHost: x\r\nX-Slow: ${'a'.repeat(4000)}\r\n\r\n`;
        let i = 0, timer = null;
        const closed = new Promise((resolve) => s.on('close', resolve));
        s.on('error', () => {});
        s.on('connect', () => {
                timer = setInterval(() => { if (i < text.length && !s.destroyed) s.write(text[i++]); }, everyMs);
        });
        return { closed, stop() { clearInterval(timer); s.destroy(); }, sent: () => i };
}

describe('hostile HTTP', () => {
        let p, port, pid, customer, store, hwmStart;

        before(async () => {
                p = await startPlatform({ name: 'hostile-http', env: { gateway: { GATEWAY_THREADS: String(THREADS), GATEWAY_REQUEST_TIMEOUT_MS: String(REQUEST_TIMEOUT_MS) } } });
                port = Number(new URL(p.url).port);
                pid = p.find('gateway')[0].child.pid;
                const stores = await catalog(p);
                store = stores.find((s) => s.menu.length >= 2);
                customer = await p.token('cust_hostile', 'customer');
                hwmStart = vmHWMkB(pid);
        });
        after(async () => { await p?.stop(); });

        it('slowloris: more slow connections than threads; other clients are still answered, slow ones are cut after the request timeout', async () => {
                const slow = Array.from({ length: THREADS * 3 }, () => slowClient(port, 200));
                try {
                        await sleep(500); // every thread is now held by a slow client
                        const t0 = Date.now();
                        const answers = await Promise.all(Array.from({ length: 20 }, () => p.api('GET', '/stores', { timeoutMs: 15_000 })));
                        const waited = Date.now() - t0;
                        console.log(`# ${slow.length} slowloris connections on ${THREADS} threads: 20 GET /stores answered within ${waited} ms`);
                        for (const r of answers) assert.equal(r.status, 200, `GET /stores during slowloris: ${show(r)}`);
                        // A held thread is freed after REQUEST_TIMEOUT_MS (plus civetweb's drain of the socket before it
                        // closes, about a second); the slow clients queued ahead take one such round per THREADS of them.
                        const bound = Math.ceil(slow.length / THREADS) * (REQUEST_TIMEOUT_MS + 1500) + 3000;
                        assert.ok(waited < bound, `GET /stores answered within ${bound} ms during slowloris, took ${waited} ms`);
                        // The slow clients were disconnected long before sending their whole header.
                        const cut = await Promise.race([Promise.all(slow.map((c) => c.closed)).then(() => true), sleep(6 * REQUEST_TIMEOUT_MS + 5000, false)]);
                        assert.ok(cut, 'every slowloris connection closed by the gateway');
                        const most = Math.max(...slow.map((c) => c.sent()));
                        assert.ok(most < 4000, `a slow client sent at most ${most} header bytes before being cut (of ~4050)`);
                } finally {
                        for (const c of slow) c.stop();
                }
                expectProblem(await p.api('GET', '/nowhere'), 404, 'gateway answers normally after slowloris');
        });

        it('many connections at once: 300 concurrent requests, each answered', async () => {
                const answers = await Promise.all(Array.from({ length: 300 }, (_, i) => raw(port, [`GET /stores/${store.id}/menu HTTP/1.1\r\nHost: x\r\nConnection: close\r\nX-N: ${i}\r\n\r\n`])));
                const statuses = answers.reduce((m, a) => ({ ...m, [a.status]: (m[a.status] || 0) + 1 }), {});
                assert.deepEqual(statuses, { 200: 300 }, 'statuses of 300 concurrent requests');
        });

        it('oversized header: a 4xx problem+json, the connection closed', async () => {
                const big = `GET /stores HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(64 * 1024)}\r\nConnection: close\r\n\r\n`;
                const a = await raw(port, [big]);
                assert.ok(a.status >= 400 && a.status < 500, `oversized header: expected 4xx, got ${a.status} ${a.body.slice(0, 200)}`);
                assert.match(a.headers['content-type'] || '', /^application\/problem\+json/, `oversized header: content-type ${a.headers['content-type']}`);
                assert.ok(JSON.parse(a.body).detail, `oversized header: problem detail in ${a.body}`);
                const many = `GET /stores HTTP/1.1\r\nHost: x\r\n${Array.from({ length: 200 }, (_, i) => `X-H${i}: v\r\n`).join('')}Connection: close\r\n\r\n`;
                const b = await raw(port, [many]);
                assert.ok(b.status === 200 || (b.status >= 400 && b.status < 500), `200 headers: expected 200 or 4xx, got ${b.status}`);
                if (b.status >= 400) assert.match(b.headers['content-type'] || '', /^application\/problem\+json/, '200 headers: problem+json');
        });

        it('oversized bodies: announced, chunked and lying lengths get 413 problem+json without the gateway reading them all', async () => {
                const token = customer;
                const announced = await raw(port, [`POST /orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nContent-Length: ${1024 * 1024 * 1024}\r\n\r\n{"a":`]);
                assert.equal(announced.status, 413, `1 GiB announced: ${announced.status} ${announced.body.slice(0, 200)}`);
                assert.match(announced.headers['content-type'] || '', /^application\/problem\+json/);
                const chunk = 'x'.repeat(16 * 1024);
                const chunks = Array.from({ length: 8 }, () => `${chunk.length.toString(16)}\r\n${chunk}\r\n`);
                const chunked = await raw(port, [`POST /orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n`, ...chunks, '0\r\n\r\n']);
                assert.equal(chunked.status, 413, `128 KiB chunked: ${chunked.status} ${chunked.body.slice(0, 200)}`);
                const r = await p.api('POST', '/orders', { token, body: `{"note":"${'n'.repeat(200 * 1024)}"}` });
                expectProblem(r, 413, '200 KiB body');
        });

        it('hostile JSON: invalid UTF-8, NUL, deep nesting, huge and non-integer numbers -> 4xx problem+json, nothing placed', async () => {
                const base = orderBody(store, [[store.menu[0], 1]]);
                const json = (o) => JSON.stringify(o);
                // The order with raw bytes as its note's content.
                const withNoteBytes = (bytes) => {
                        const [head, tail] = json({ ...base, note: '@@' }).split('@@');
                        return Buffer.concat([Buffer.from(head), Buffer.from(bytes), Buffer.from(tail)]);
                };
                const withQuantity = (q) => json(base).replace('"quantity":1', `"quantity":${q}`);
                const cases = [
                        ['invalid UTF-8 in a string', withNoteBytes([0xc3, 0x28, 0xff])],
                        ['overlong UTF-8 encoding', withNoteBytes([0xc0, 0xaf])],
                        ['UTF-16 surrogate encoded in UTF-8', withNoteBytes([0xed, 0xa0, 0x80])],
                        ['escaped NUL in a string', json({ ...base, note: 'a\u0000b' })],
                        ['lone surrogate escape', json(base).replace('"door code 1234"', '"\\ud800"')],
                        ['nesting 10000 deep', `${'['.repeat(10000)}${']'.repeat(10000)}`],
                        ['nesting 10000 deep inside the order', json({ ...base, note: 'N' }).replace('"N"', `${'{"a":'.repeat(10000)}1${'}'.repeat(10000)}`)],
                        ['quantity 1e400', withQuantity('1e400')],
                        ['quantity 2^63', withQuantity('9223372036854775808')],
                        ['quantity -2^63-1', withQuantity('-9223372036854775809')],
                        ['quantity -0', withQuantity('-0')],
                        ['quantity 1.5', withQuantity('1.5')],
                        ['quantity 1e2', withQuantity('1e2')],
                        ['quantity "1"', withQuantity('"1"')],
                        ['lat 1e400', json(base).replace(/"lat":[-0-9.e]+/, '"lat":1e400')],
                        ['a 100000-digit number', withQuantity('9'.repeat(100000).slice(0, 60000))],
                        ['duplicate keys', json(base).replace('{"store_id"', '{"note":"a","note":"b","store_id"')],
                        ['trailing garbage', `${json(base)}xyz`],
                        ['not an object', '[1,2,3]'],
                ];
                const ordersBefore = await p.api('GET', '/orders', { token: customer });
                for (const [what, body] of cases) {
                        const r = await p.api('POST', '/orders', { token: customer, body, headers: { 'idempotency-key': `hostile-${what}` } });
                        assert.ok(r.status >= 400 && r.status < 500, `${what}: expected 4xx, got ${show(r)}`);
                        expectProblem(r, r.status, what);
                }
                const ordersAfter = await p.api('GET', '/orders', { token: customer });
                assert.deepEqual(ordersAfter.json, ordersBefore.json, 'no order placed by hostile JSON');
        });

        it('hostile paths: bytes that are not UTF-8 once decoded, or cut mid-character in the detail -> 4xx problem+json, not 500', async () => {
                const bad = await p.token('cust_hostile_path', 'customer');
                const cases = [
                        ['unknown path with %FF%FE', '/nope%FF%FE', {}, 404],
                        ['order id with %C0%AF (overlong /)', '/orders/%C0%AF', { token: bad }, null],
                        ['an invalid token on a path with %FF', '/orders/%FF', { headers: { authorization: 'Bearer x' } }, null],
                        [`a path of ${600} Korean characters (the detail cut mid-character)`, `/${encodeURIComponent('한'.repeat(600))}`, {}, 404],
                ];
                for (const [what, path, opts, status] of cases) {
                        const r = await p.api('GET', path, opts);
                        assert.ok(r.status >= 400 && r.status < 500 && (status === null || r.status === status), `${what}: got ${show(r)}`);
                        expectProblem(r, r.status, what);
                }
        });

        it('a worker whose connection closed gives its stack pages back: idle threads hold a few pages each', async () => {
                // The 300 connections above went through every one of the THREADS workers; all are closed now.
                await sleep(500);
                const { stacks, rssKb, idleKb } = workerStacks(pid);
                console.log(`# ${stacks} idle worker stacks hold ${rssKb} kB after 300 connections closed; ${idleKb} kB lie above their stack pointers`);
                // The requests of the tests before may leave a keep-alive connection or two on their workers.
                assert.ok(stacks >= THREADS - 4, `${stacks} idle civetweb workers found by their stack pointers, of ${THREADS}`);
                // Serving a request touches pages far below where an idle worker waits (20 kB a thread in all, 29 kB
                // under the sanitizers); those below the frame that closed the connection went back (gateway-server.c):
                // what stays is the pages above the stack pointer and those of the closing frames, 12 kB at most.
                assert.ok(rssKb <= idleKb + stacks * 12, `idle worker stacks hold ${rssKb} kB, more than the ${idleKb} kB above their stack pointers and 12 kB each`);
        });

        it('memory stays bounded and the gateway still serves', async () => {
                // Repeat the heaviest hostile inputs; peak memory must not grow with their number.
                const hwmMid = vmHWMkB(pid);
                for (let round = 0; round < 3; round++) {
                        await Promise.all(Array.from({ length: 20 }, () => p.api('POST', '/orders', { token: customer, body: `${'['.repeat(60000)}` })));
                        await Promise.all(Array.from({ length: 20 }, () => raw(port, [`GET /stores HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(60 * 1024)}\r\nConnection: close\r\n\r\n`])));
                }
                const hwmEnd = vmHWMkB(pid);
                console.log(`# gateway VmHWM: start ${hwmStart} kB, after the first tests ${hwmMid} kB, end ${hwmEnd} kB`);
                assert.ok(hwmEnd - hwmMid < 64 * 1024, `VmHWM grew by ${hwmEnd - hwmMid} kB over 120 more hostile requests (limit 64 MiB)`);
                assert.ok(hwmEnd < hwmStart + 256 * 1024, `VmHWM ${hwmEnd} kB, started at ${hwmStart} kB (sanitizer build; limit +256 MiB)`);
                const r = await p.api('GET', '/stores');
                assert.equal(r.status, 200, `GET /stores at the end: ${show(r)}`);
                assert.ok(p.find('gateway')[0].alive(), 'gateway alive');
        });

        // ---- the per-client rate limit (RATE_LIMIT_RPS, RATE_LIMIT_BURST) ----

        async function limitedCount() {
                const r = await p.api('GET', '/metrics');
                return Number((r.text.match(/^gateway_rate_limited_total (\d+)$/m) || [])[1]);
        }

        it('rate limit: a flooding customer gets 429 problem+json with Retry-After, another customer and the probes do not', async () => {
                // The default thread count again: with 16, idle keep-alive connections hold every thread.
                await p.restart('gateway', { env: { RATE_LIMIT_RPS: 1, RATE_LIMIT_BURST: 10, GATEWAY_THREADS: undefined, GATEWAY_REQUEST_TIMEOUT_MS: undefined } });
                const limitedBefore = await limitedCount();
                const flooder = await p.token('cust_flood', 'customer');
                const other = await p.token('cust_calm', 'customer');
                const flood = await Promise.all(Array.from({ length: 30 }, () => p.api('GET', '/orders', { token: flooder })));
                const ok = flood.filter((r) => r.status === 200).length;
                const limited = flood.filter((r) => r.status === 429);
                assert.ok(ok >= 10 && ok <= 13, `30 requests at once with a burst of 10 at 1/s: expected 10-13 answered 200, got ${ok}`);
                assert.equal(ok + limited.length, 30, `every other request answered 429: ${flood.map((r) => r.status).join(' ')}`);
                for (const r of limited) {
                        expectProblem(r, 429, 'flooding customer');
                        const ra = Number(r.headers.get('retry-after'));
                        assert.ok(Number.isInteger(ra) && ra >= 1 && ra <= 2, `Retry-After: expected 1-2 s, got '${r.headers.get('retry-after')}'`);
                }
                // Keyed by the token's subject: the same IP with another customer's token is served.
                expectStatus(await p.api('GET', '/orders', { token: other }), 200, 'another customer from the same address');
                // Health, readiness and metrics are never limited.
                for (const probe of ['/healthz', '/readyz', '/metrics']) {
                        const rs = await Promise.all(Array.from({ length: 40 }, () => p.api('GET', probe)));
                        assert.deepEqual([...new Set(rs.map((r) => r.status))], [200], `GET ${probe} x40 under a limit of 5/s`);
                }
                assert.equal(await limitedCount() - limitedBefore, limited.length, 'gateway_rate_limited_total counts every 429');
                // After Retry-After the flooder is served again.
                await sleep(Number(limited[0].headers.get('retry-after')) * 1000 + 300);
                expectStatus(await p.api('GET', '/orders', { token: flooder }), 200, 'the flooder after Retry-After');
        });

        it('rate limit: unauthenticated requests and bad tokens count against the client address', async () => {
                await p.restart('gateway'); // fresh buckets
                const anon = await Promise.all(Array.from({ length: 25 }, () => p.api('GET', '/stores')));
                const ok = anon.filter((r) => r.status === 200).length;
                assert.ok(ok >= 10 && ok <= 13, `25 anonymous GET /stores at once: expected 10-13 answered 200, got ${ok} (${anon.map((r) => r.status).join(' ')})`);
                for (const r of anon.filter((x) => x.status !== 200)) expectProblem(r, 429, 'anonymous flood');
                // A forged token does not buy a fresh bucket: it is the same address, already empty.
                const forged = await p.api('GET', '/orders', { token: 'eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln' });
                expectProblem(forged, 429, 'a forged token from the flooding address');
                // A valid customer token from that address still has its own bucket.
                expectStatus(await p.api('GET', '/orders', { token: customer }), 200, 'a valid token from the same address');
        });

        it('rate limit behind a trusted proxy: an anonymous flood from one forwarded address does not 429 another', async () => {
                const flood = (xff) => Promise.all(Array.from({ length: 25 }, () => p.api('GET', '/stores', { headers: { 'x-forwarded-for': xff } })));
                // Not trusted (the default): X-Forwarded-For is the client's own words, the bucket is the peer's.
                await p.restart('gateway');
                let rs = await flood('203.0.113.1');
                assert.ok(rs.some((r) => r.status === 429), 'the flood is limited');
                expectProblem(await p.api('GET', '/stores', { headers: { 'x-forwarded-for': '203.0.113.2' } }), 429,
                        'another forwarded address from an untrusted peer: the same bucket');
                // The peer (here 127.0.0.1, standing for the Ingress controller) trusted: each forwarded client its own bucket.
                await p.restart('gateway', { env: { TRUSTED_PROXIES: '127.0.0.1, 10.0.0.0/8' } });
                rs = await flood('203.0.113.1');
                assert.ok(rs.some((r) => r.status === 429), 'the flood from 203.0.113.1 is limited');
                expectStatus(await p.api('GET', '/stores', { headers: { 'x-forwarded-for': '203.0.113.2' } }), 200,
                        'another client behind the same proxy');
                expectStatus(await p.api('GET', '/stores', { headers: { 'x-forwarded-for': '203.0.113.1, 10.1.2.3' } }), 429,
                        'the flooding client through a second trusted hop');
                expectStatus(await p.api('GET', '/stores', { headers: { 'x-forwarded-for': '203.0.113.3, 203.0.113.1' } }), 429,
                        'the flooding client prepending a forged address');
                await p.restart('gateway', { env: { TRUSTED_PROXIES: undefined } });
        });

        it('rate limit: RATE_LIMIT_RPS=0 disables it; invalid settings stop the gateway at start naming the variable', async () => {
                await p.restart('gateway', { env: { RATE_LIMIT_RPS: 0, RATE_LIMIT_BURST: 1 } });
                const rs = await Promise.all(Array.from({ length: 100 }, () => p.api('GET', '/stores')));
                assert.deepEqual([...new Set(rs.map((r) => r.status))], [200], '100 requests at once with RATE_LIMIT_RPS=0');
                const bin = path.join(BUILD_DIR, 'gateway/gateway');
                for (const [name, value] of [['RATE_LIMIT_RPS', '-1'], ['RATE_LIMIT_RPS', 'lots'], ['RATE_LIMIT_BURST', '0'], ['RATE_LIMIT_BURST', '99999999999'],
                        ['TRUSTED_PROXIES', '10.0.0.0/33']]) {
                        const env = { PATH: process.env.PATH, JWT_SECRET: 'x'.repeat(32), NATS_URL: 'nats://127.0.0.1:1', DATABASE_URL: 'postgresql://127.0.0.1:1/x',
                                ASAN_OPTIONS: 'detect_leaks=0', [name]: value };
                        const res = await promisify(execFile)(bin, [], { env, timeout: 10_000 }).then(() => ({ code: 0, out: '' }), (e) => ({ code: e.code, out: `${e.stdout}${e.stderr}` }));
                        assert.equal(res.code, 1, `${name}=${value}: expected exit code 1, got ${res.code}`);
                        assert.match(res.out, new RegExp(name), `${name}=${value}: the error names the variable: ${res.out.slice(0, 300)}`);
                }
        });
});
