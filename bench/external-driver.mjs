// An outside HTTP driver, for issue 16's "any external HTTP driver" figure: Node.js's node:http client (keep-alive
// connections, one per agent), nothing of this project's C code. -c agents walk full order lifecycles in a closed loop, as
// food-bench does (POST /orders, accept, cooking-started, cooking-finished, pick, delivered, confirm), for -d seconds
// after --warmup seconds, against a platform started by `bash deploy/local/run.sh` (dev tokens on). Prints completed
// orders/s, calls and failures, latencies, and the machine's CPU per completed order without the driver's own
// (/proc/stat against process.cpuUsage()) and without the sandbox stand-ins (their pid files in $STATE_DIR/run).
//
//   node bench/external-driver.mjs [-c 32] [-d 20] [--warmup 2] [--url http://127.0.0.1:8080]
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
        const i = args.indexOf(name);
        return i >= 0 && i + 1 < args.length ? args[i + 1] : dflt;
};
const clients = Number(opt('-c', 32));
const seconds = Number(opt('-d', 20));
const warmup = Number(opt('--warmup', 2));
const url = opt('--url', process.env.GATEWAY || 'http://127.0.0.1:8080');
const stateDir = process.env.STATE_DIR || path.join(path.dirname(new URL(import.meta.url).pathname), '..', '.state');
if (!(clients >= 1 && seconds > 0 && warmup >= 0)) {
        console.error('usage: node bench/external-driver.mjs [-c N>=1] [-d S>0] [--warmup S>=0] [--url URL]');
        process.exit(2);
}

const agent = new http.Agent({ keepAlive: true, maxSockets: clients + 1 });
function call(method, p, token, body, key) {
        const headers = {};
        if (token) headers.authorization = `Bearer ${token}`;
        const data = body ? JSON.stringify(body) : '';
        if (body) headers['content-type'] = 'application/json';
        headers['content-length'] = Buffer.byteLength(data);
        if (key) headers['idempotency-key'] = key;
        return new Promise((resolve, reject) => {
                const req = http.request(url + p, { method, headers, agent }, (res) => {
                        const chunks = [];
                        res.on('data', (c) => chunks.push(c));
                        res.on('end', () => {
                                const text = Buffer.concat(chunks).toString();
                                let json = null;
                                try { json = text ? JSON.parse(text) : null; } catch { json = text; }
                                resolve({ status: res.statusCode, json });
                        });
                        res.on('error', reject);
                });
                req.on('error', reject);
                req.setTimeout(30_000, () => req.destroy(new Error(`${method} ${p}: no answer within 30 s`)));
                req.end(data);
        });
}

async function token(sub, role, storeId) {
        const r = await call('POST', '/auth/dev-token', null, storeId ? { sub, role, store_id: storeId } : { sub, role });
        if (!r.json?.token) throw new Error(`POST /auth/dev-token for ${sub}: HTTP ${r.status} (dev tokens need DEV_TOKENS=true)`);
        return r.json.token;
}

// Machine CPU (every CPU, ms) from /proc/stat: user, nice, system, irq, softirq (guest time is inside user and
// nice; idle, iowait and steal are not busy); a process's from /proc/<pid>/stat.
const hz = 100;
function machineBusyMs() {
        const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
        return ((f[0] + f[1] + f[2] + f[5] + f[6]) * 1000) / hz;
}
function procMs(pid) {
        try {
                const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
                const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
                return ((Number(f[11]) + Number(f[12])) * 1000) / hz;
        } catch {
                return 0;
        }
}
const standIns = ['sandbox-psp', 'sandbox-sink'].map((n) => {
        try {
                return Number(fs.readFileSync(path.join(stateDir, 'run', `${n}.pid`), 'utf8'));
        } catch (e) {
                console.error(`external-driver: no pid of ${n} (${e.code || e.message}): its CPU stays in the platform's`);
                return 0;
        }
}).filter(Boolean);
const standInsMs = () => standIns.reduce((a, pid) => a + procMs(pid), 0);
const driverMs = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1000; };

// The catalogue: stores with an available item, an owner token each.
const admin = await token('ext_driver_reader', 'customer');
const stores = [];
for (const s of (await call('GET', '/stores', admin)).json || []) {
        const menu = ((await call('GET', `/stores/${s.id}/menu`, admin)).json || []).filter((i) => i.available !== false);
        if (menu.length) stores.push({ ...s, items: menu.map((i) => i.id), owner: await token(`owner_${s.id}`, 'store', s.id) });
}
if (!stores.length) throw new Error('GET /stores: no store with an available menu item');

const STEPS = ['place', 'accept', 'cooking_started', 'cooking_finished', 'pick', 'delivered', 'confirm'];
const lat = Object.fromEntries(STEPS.map((s) => [s, []]));
let phase = 'warmup', completed = 0, calls = 0, failed = 0, seq = 0;
const run = Date.now();

async function lifecycle(agent) {
        const store = stores[Math.floor(Math.random() * stores.length)];
        const n = 1 + Math.floor(Math.random() * Math.min(3, store.items.length));
        const first = Math.floor(Math.random() * store.items.length);
        const items = Array.from({ length: n }, (_, i) => ({ menu_item_id: store.items[(first + i) % store.items.length], quantity: 1 + (i % 2) }));
        const body = {
                store_id: store.id, items, note: 'external driver', payment: { card_token: 'tok_ok' },
                address: { text: `external driver ${agent.i}`, region: store.region, lat: store.lat + (Math.random() - 0.5) * 0.01, lon: store.lon + (Math.random() - 0.5) * 0.01 },
        };
        // Calls and orders count when they end inside the window (as its CPU does).
        const timed = async (step, fn, want) => {
                const t0 = process.hrtime.bigint();
                let r;
                try {
                        r = await fn();
                } catch (e) {
                        r = { status: 0, json: e.message }; // no answer (refused, reset, timed out): a failed call
                }
                if (phase === 'measure') {
                        calls++;
                        lat[step].push(Number(process.hrtime.bigint() - t0) / 1e6);
                        if (r.status !== want) failed++;
                }
                if (r.status !== want) throw new Error(`${step}: HTTP ${r.status} ${JSON.stringify(r.json)}`);
                return r;
        };
        const placed = await timed('place', () => call('POST', '/orders', agent.customer, body, `ext-${run}-${agent.i}-${++seq}`), 201);
        const id = placed.json.id;
        for (const [step, action] of [['accept', 'accept'], ['cooking_started', 'cooking-started'], ['cooking_finished', 'cooking-finished']])
                await timed(step, () => call('POST', `/stores/${store.id}/orders/${id}/${action}`, store.owner), 200);
        // The delivery id is the order id with dlv_ for ord_ (lib/order-json.h).
        await timed('pick', () => call('POST', `/deliveries/dlv_${id.slice(4)}/pick`, agent.rider), 200);
        await timed('delivered', () => call('POST', `/deliveries/dlv_${id.slice(4)}/delivered`, agent.rider), 200);
        await timed('confirm', () => call('POST', `/orders/${id}/confirm`, agent.customer), 200);
        if (phase === 'measure') completed++;
}

const agents = [];
for (let i = 0; i < clients; i++)
        agents.push({ i, customer: await token(`cust_ext_${i}`, 'customer'), rider: await token(`rider_ext_${i}`, 'rider') });
let stop = false;
const loops = agents.map(async (a) => {
        while (!stop) {
                try {
                        await lifecycle(a);
                } catch (e) {
                        if (phase === 'measure' && !process.env.QUIET) console.error(`agent ${a.i}: ${e.message}`);
                        await new Promise((r) => setTimeout(r, 100));
                }
        }
});
await new Promise((r) => setTimeout(r, warmup * 1000));
phase = 'measure';
const m0 = machineBusyMs(), d0 = driverMs(), s0 = standInsMs(), t0 = Date.now();
await new Promise((r) => setTimeout(r, seconds * 1000));
const m1 = machineBusyMs(), d1 = driverMs(), s1 = standInsMs(), t1 = Date.now();
phase = 'done';
stop = true;
await Promise.all(loops);

const secs = (t1 - t0) / 1000;
const q = (a, p) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.min(s.length - 1, Math.floor(p * s.length))] : NaN; };
const busy = m1 - m0, driver = d1 - d0, stand = s1 - s0;
const perOrder = (ms) => (completed ? (ms / completed).toFixed(3) : 'n/a (no order completed)');
console.log(`external driver (node ${process.version} node:http) ${url}: ${clients} agents, closed loop, ${secs.toFixed(1)} s measured after ${warmup} s`);
console.log(`orders   ${completed} completed = ${(completed / secs).toFixed(1)} orders/s; calls ${calls}, failed ${failed}`);
console.log('latency (ms)          count      p50      p90      p99');
for (const s of STEPS) console.log(`  ${s.padEnd(18)} ${String(lat[s].length).padStart(8)} ${q(lat[s], 0.5).toFixed(2).padStart(8)} ${q(lat[s], 0.9).toFixed(2).padStart(8)} ${q(lat[s], 0.99).toFixed(2).padStart(8)}`);
console.log(`CPU      machine busy ${busy.toFixed(0)} ms - driver ${driver.toFixed(0)} ms = ${(busy - driver).toFixed(0)} ms => ${perOrder(busy - driver)} ms/order`);
console.log(`         without the sandbox stand-ins (${stand.toFixed(0)} ms): ${perOrder(busy - driver - stand)} ms/order`);
process.exit(failed || !completed ? 1 : 0);
