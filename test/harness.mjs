// Starts an isolated food-saga platform on 127.0.0.1 for one test file: nats-server (JetStream), a fresh
// PostgreSQL cluster, the sandbox PSP, every service and the gateway, each on a free port; built-in modules only.
//
//   import { startPlatform } from '../harness.mjs';
//   const p = await startPlatform({ name: 'happy-path' });   // in before()
//   await p.stop();                                          // in after(): throws on crashes and sanitizer reports
//
// Binaries come from $BUILD_DIR (default build/ at the repository root); process logs are kept in
// $BUILD_DIR/test-logs/<name>/ after the run, everything else lives in a temporary folder removed by stop().
import { spawn, execFile, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';

const execFileP = promisify(execFile);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const BUILD_DIR = path.resolve(ROOT, process.env.BUILD_DIR || 'build');

// Bounded waits (ms). Sanitizer builds start slowly, hence the generous readiness bound.
const READY_TIMEOUT = 60_000;
const STOP_TIMEOUT = 10_000;
const HTTP_TIMEOUT = 10_000;

// The worker processes, which `replicas` multiplies (the contract's process table).
export const WORKERS = ['payment', 'store', 'delivery', 'notification', 'coupon'];
const SERVICES = {
        orchestrator: 'orchestrator/orchestrator',
        payment: 'services/payment/payment-worker',
        store: 'services/store/store-worker',
        delivery: 'services/delivery/delivery-worker',
        notification: 'services/notification/notification-worker',
        coupon: 'services/coupon/coupon-worker',
        // The read side's PostgreSQL sessions: the gateway asks it (food.read.*) and holds none.
        reader: 'services/reader/reader',
};
const PSP_BIN = 'services/sandbox-psp/sandbox-psp';
// The sandbox notification sink: started only with opts.sink (or 'sandbox-sink' in opts.only).
const SINK_BIN = 'services/sandbox-sink/sandbox-sink';
const GATEWAY_BIN = 'gateway/gateway';
export const ALL = ['nats', 'pg', 'sandbox-psp', ...Object.keys(SERVICES), 'gateway'];

// The NATS users and permissions (one definition: the chart's, also local mode's) and the users it names.
const NATS_AUTH_CONF = path.join(ROOT, 'deploy/helm/food-saga/charts/nats/files/auth.conf');
export const NATS_USERS = ['admin', 'orchestrator', 'payment', 'store', 'delivery', 'coupon', 'notification', 'reader', 'gateway'];
// A line of nats-server's log saying a client went outside its permissions: a missing permission in
// NATS_AUTH_CONF (or a process doing what it should not); stop() fails the file unless the test expected it
// (p.expectNatsViolation(re)).
const NATS_VIOLATION_RE = /Violation|authentication error/;

// Lines in a process log that mean a sanitizer found a bug.
const SANITIZER_RE = /(ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|WARNING: ThreadSanitizer)/;

// Every child of every platform in this process, killed (and the temporary folders removed) if the test
// process exits without stop(), e.g. on meson's timeout.
const livingChildren = new Set();
const tempDirs = new Set();
const mounts = new Set(); // size-limited tmpfs mounts (opts.natsStoreMb), unmounted before their folder goes
function unmount(dir) {
        try { execFileSync('umount', [dir], { stdio: 'ignore', timeout: 10_000 }); } catch { /* not mounted */ }
        mounts.delete(dir);
}
process.on('exit', () => {
        for (const c of livingChildren) {
                try { c.kill('SIGKILL'); } catch { /* already gone */ }
        }
        for (const m of [...mounts]) unmount(m);
        if (!process.env.KEEP_TEST_DIR) for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
});
for (const sig of ['SIGINT', 'SIGTERM']) {
        process.once(sig, () => process.exit(130));
}

const usedPorts = new Set();
// A free TCP port on 127.0.0.1, chosen below the kernel's ephemeral range so that no outgoing
// connection takes it between this check and the server's bind.
export async function freePort() {
        for (let i = 0; i < 200; i++) {
                const port = 20000 + Math.floor(Math.random() * 12000);
                if (usedPorts.has(port)) continue;
                const ok = await new Promise((resolve) => {
                        const s = net.createServer();
                        s.once('error', () => resolve(false));
                        s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
                });
                if (ok) {
                        usedPorts.add(port);
                        return port;
                }
        }
        throw new Error('no free port found in 200 tries');
}

// The first `name` in `dirs`, then in PATH.
function which(name, dirs = []) {
        for (const d of [...dirs, ...(process.env.PATH || '').split(':')]) {
                const p = path.join(d || '.', name);
                if (fs.existsSync(p)) return p;
        }
        throw new Error(`${name} not found (run deploy/local/install.sh)`);
}

// The PostgreSQL server binaries: $PG_BINDIR, else Debian's newest /usr/lib/postgresql/N/bin, else PATH.
function pgBin(name) {
        const dirs = [];
        if (process.env.PG_BINDIR) dirs.push(process.env.PG_BINDIR);
        try {
                const versions = fs.readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => b - a);
                for (const v of versions) dirs.push(`/usr/lib/postgresql/${v}/bin`);
        } catch { /* not Debian's layout */ }
        return which(name, dirs);
}

// uid/gid of the user PostgreSQL runs as: initdb and postgres refuse to run as root.
function pgUser() {
        if (process.getuid() !== 0) return {};
        const line = fs.readFileSync('/etc/passwd', 'utf8').split('\n').find((l) => l.startsWith('postgres:'));
        if (!line) throw new Error('running as root but there is no postgres user (install postgresql)');
        const f = line.split(':');
        return { uid: Number(f[2]), gid: Number(f[3]) };
}

function tail(file, lines = 30) {
        try {
                return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
        } catch {
                return '(no log)';
        }
}

// The status of GET `url` on a connection of its own (0 when nothing answered within 2 s). Not fetch: a
// readiness poll races the starting server's shutdown on a kept-alive connection, and Node 18's fetch could
// then wait for ever (its AbortSignal.timeout did not always fire); a plain request and our own timer cannot.
function httpStatus(url) {
        return new Promise((resolve) => {
                const req = http.get(url, { agent: false }, (res) => {
                        res.resume();
                        res.on('end', () => { clearTimeout(timer); resolve(res.statusCode); });
                        res.on('error', () => { clearTimeout(timer); resolve(0); });
                });
                const timer = setTimeout(() => { req.destroy(); resolve(0); }, 2000);
                req.on('error', () => { clearTimeout(timer); resolve(0); });
        });
}

// Parses an HTTP answer into {status, headers, json, text}; json is null unless the body parses.
async function answer(res) {
        const text = await res.text();
        let json = null;
        if (text) {
                try { json = JSON.parse(text); } catch { /* not JSON: callers look at text */ }
        }
        return { status: res.status, headers: res.headers, json, text };
}

async function request(base, method, p, { token, body, headers = {}, timeoutMs = HTTP_TIMEOUT } = {}) {
        const h = { ...headers };
        if (token) h.authorization = `Bearer ${token}`;
        let payload;
        if (body !== undefined) {
                payload = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
                if (!Object.keys(h).some((k) => k.toLowerCase() === 'content-type')) h['content-type'] = 'application/json';
        }
        // The abort signal bounds the request; our own timer bounds it too, in case the signal never fires (Node 18).
        const ac = new AbortController();
        let timer;
        const bound = new Promise((_, reject) => {
                timer = setTimeout(() => { ac.abort(); reject(new Error(`no answer within ${timeoutMs} ms`)); }, timeoutMs);
        });
        try {
                const res = await Promise.race([fetch(base + p, { method, headers: h, body: payload, signal: ac.signal }), bound]);
                return await Promise.race([answer(res), bound]);
        } catch (e) {
                // Name the request: undici only says "fetch failed".
                throw new Error(`${method} ${base}${p}: ${e.message}${e.cause ? ` (${e.cause.code || ''} ${e.cause.message})` : ''}`, { cause: e });
        } finally {
                clearTimeout(timer);
        }
}

/* One started (or stoppable) process of the platform. */
class Proc {
        constructor(platform, { name, cmd, args, env, cwd, user, readyUrl, readyCheck, stopSignal = 'SIGTERM' }) {
                Object.assign(this, { platform, name, cmd, args, env, cwd, user, readyUrl, readyCheck, stopSignal });
                this.log = path.join(platform.logDir, `${name}.log`);
                this.child = null;
                this.exit = null; // {code, signal} of the last run
                this.stopping = false;
        }

        spawn() {
                if (!fs.existsSync(this.cmd)) throw new Error(`${this.name}: binary ${this.cmd} not found (build first)`);
                const fd = fs.openSync(this.log, 'a');
                const child = spawn(this.cmd, this.args, {
                        env: this.env, cwd: this.cwd, stdio: ['ignore', fd, fd], ...this.user,
                });
                fs.closeSync(fd);
                this.child = child;
                this.exit = null;
                this.stopping = false;
                livingChildren.add(child);
                this.exited = new Promise((resolve) => {
                        const done = (code, signal) => {
                                if (this.exit !== null) return; // 'error' and 'exit' may both come
                                livingChildren.delete(child);
                                this.exit = { code, signal };
                                if (!this.stopping) {
                                        const what = `${this.name} (pid ${child.pid}) exited unexpectedly: code ${code} signal ${signal}`;
                                        this.platform.crashes.push(what);
                                        console.error(`# ${what}; last log lines:\n${tail(this.log)}`);
                                }
                                resolve(this.exit);
                        };
                        child.once('exit', done);
                        child.once('error', (e) => done(null, `spawn error ${e.message}`));
                });
        }

        alive() {
                return this.child !== null && this.exit === null;
        }

        async waitReady(timeoutMs = READY_TIMEOUT) {
                const deadline = Date.now() + timeoutMs;
                while (Date.now() < deadline) {
                        if (!this.alive()) {
                                throw new Error(`${this.name} exited while starting (code ${this.exit.code}, signal ${this.exit.signal}); log ${this.log}:\n${tail(this.log)}`);
                        }
                        if (this.readyUrl && (await httpStatus(this.readyUrl)) === 200) return;
                        if (this.readyCheck && (await this.readyCheck())) return;
                        await sleep(100);
                }
                throw new Error(`${this.name} not ready after ${timeoutMs} ms (${this.readyUrl || 'check'}); log ${this.log}:\n${tail(this.log)}`);
        }

        async start() {
                this.spawn();
                await this.waitReady();
        }

        // Its stop signal (or `signal`), then SIGKILL after STOP_TIMEOUT. Resolves to {code, signal, killed}.
        async stop(signal = this.stopSignal) {
                if (!this.alive()) return { ...this.exit, killed: false };
                this.stopping = true;
                this.child.kill(signal);
                const timer = sleep(STOP_TIMEOUT, 'timeout', { ref: false });
                if ((await Promise.race([this.exited, timer])) === 'timeout') {
                        this.child.kill('SIGKILL');
                        await this.exited;
                        return { ...this.exit, killed: true };
                }
                return { ...this.exit, killed: false };
        }
}

/* A running platform; see startPlatform. */
class Platform {
        constructor(opts) {
                this.opts = opts;
                this.name = opts.name || path.basename(process.argv[1] || 'test', '.mjs').replace(/\.test$/, '');
                this.dir = fs.mkdtempSync(path.join(os.tmpdir(), `food-${this.name}-`));
                fs.chmodSync(this.dir, 0o755); // the postgres user must reach its cluster below
                tempDirs.add(this.dir);
                const logRoot = fs.existsSync(BUILD_DIR) ? path.join(BUILD_DIR, 'test-logs') : path.join(this.dir, 'logs');
                this.logDir = path.join(logRoot, this.name);
                fs.rmSync(this.logDir, { recursive: true, force: true });
                fs.mkdirSync(this.logDir, { recursive: true });
                this.procs = []; // in start order
                this.crashes = [];
                this.tokens = new Map();
                this.expectedViolations = [];
        }

        // A NATS permission violation the test provokes on purpose (a regular expression on nats-server's log
        // line), so that stop() does not report it.
        expectNatsViolation(re) {
                this.expectedViolations.push(re);
        }

        add(def) {
                const p = new Proc(this, def);
                this.procs.push(p);
                return p;
        }

        // Processes named `name` exactly, or all replicas of the service `name`.
        find(name) {
                const found = this.procs.filter((p) => p.name === name || p.service === name);
                if (found.length === 0) throw new Error(`no process named ${name} (have ${this.procs.map((p) => p.name).join(' ')})`);
                return found;
        }

        // nats-server with the users and permissions of the chart and local mode (NATS_AUTH_CONF, one user per
        // service, a fresh password each); connections without credentials are `admin` (no_auth_user), as
        // operators' tools are in local mode. p.natsCredentials(user) gives {NATS_USER, NATS_PASSWORD}.
        // With opts.natsCluster = n (3 or more): n nodes clustered on loopback (routes, server names n1..nN,
        // processes nats-1..nats-N, p.natsNodes), the streams at n replicas, and every service given all n URLs.
        // Resolves to the processes started (not yet ready).
        async startNats() {
                const n = this.opts.natsCluster || 1;
                // A letter first: nats-server reads the variable as a config value, and digits first would make a number.
                this.natsPasswords = Object.fromEntries(NATS_USERS.map((u) => [u, `p${randomBytes(12).toString('hex')}`]));
                fs.copyFileSync(NATS_AUTH_CONF, path.join(this.dir, 'nats-auth.conf'));
                const env = { ...process.env };
                for (const [u, pw] of Object.entries(this.natsPasswords)) env[`FOOD_NATS_PW_${u.toUpperCase()}`] = pw;
                const nodes = [];
                for (let i = 1; i <= n; i++) {
                        nodes.push({ i, name: n === 1 ? 'nats' : `nats-${i}`, serverName: `n${i}`, port: await freePort(), monitor: await freePort(),
                                route: n === 1 ? 0 : await freePort() });
                }
                const routes = nodes.map((x) => `nats-route://127.0.0.1:${x.route}`);
                for (const node of nodes) {
                        const store = path.join(this.dir, node.name);
                        fs.mkdirSync(store);
                        if (this.opts.natsStoreMb) {
                                // A small disk of its own (root only): JetStream takes 75% of it as its storage limit.
                                await execFileP('mount', ['-t', 'tmpfs', '-o', `size=${this.opts.natsStoreMb}m`, 'tmpfs', store], { timeout: 10_000 });
                                mounts.add(store);
                        }
                        const conf = path.join(this.dir, `${node.name}.conf`);
                        let text = 'include ./nats-auth.conf\nno_auth_user: admin\n';
                        if (n > 1) {
                                // Routes on loopback only, without credentials (nothing else can reach them here).
                                text += `server_name: ${node.serverName}\ncluster {\n  name: food\n  listen: 127.0.0.1:${node.route}\n`
                                        + `  routes: [${routes.filter((r) => !r.endsWith(`:${node.route}`)).join(', ')}]\n}\n`;
                        }
                        fs.writeFileSync(conf, text);
                        node.url = `nats://127.0.0.1:${node.port}`;
                        node.monitorUrl = `http://127.0.0.1:${node.monitor}`;
                        node.proc = this.add({
                                // SIGINT: nats-server's clean exit (SIGTERM makes it exit 1).
                                name: node.name, cmd: which('nats-server', ['/usr/sbin']), env, stopSignal: 'SIGINT',
                                args: ['-c', conf, '-js', '-a', '127.0.0.1', '-p', String(node.port), '-m', String(node.monitor), '-sd', store],
                                readyUrl: `${node.monitorUrl}/healthz`,
                        });
                        node.proc.service = 'nats';
                        node.proc.spawn();
                }
                this.natsNodes = nodes;
                this.natsUrl = nodes.map((x) => x.url).join(',');
                this.natsMonitorUrl = nodes[0].monitorUrl;
                this.natsAdminUrl = `nats://admin:${this.natsPasswords.admin}@127.0.0.1:${nodes[0].port}`;
                return nodes.map((x) => x.proc);
        }

        // With opts.natsCluster: the server names of the JetStream meta leader and of `stream`'s leader, asked of
        // the nodes that answer (null where no node knows one yet).
        async natsLeaders(stream = 'FOOD_ORDER') {
                for (const node of this.natsNodes.filter((x) => x.proc.alive())) {
                        try {
                                const r = await fetch(`${node.monitorUrl}/jsz?streams=true`, { signal: AbortSignal.timeout(2000) });
                                const jsz = await r.json();
                                const meta = jsz.meta_cluster?.leader || null;
                                const st = (jsz.account_details || []).flatMap((a) => a.stream_detail || []).find((x) => x.name === stream);
                                if (meta) return { meta, stream: st?.cluster?.leader || null };
                        } catch { /* that node is not answering: ask the next */ }
                }
                return { meta: null, stream: null };
        }

        // With opts.natsCluster: true once every stream has a leader that reports all its n - 1 followers current
        // (each leader is asked about the streams it leads).
        async natsReplicasCurrent() {
                const led = new Map();
                for (const node of this.natsNodes.filter((x) => x.proc.alive())) {
                        try {
                                const r = await fetch(`${node.monitorUrl}/jsz?streams=true`, { signal: AbortSignal.timeout(2000) });
                                for (const st of (await r.json()).account_details.flatMap((a) => a.stream_detail || [])) {
                                        if (st.cluster?.leader !== node.serverName) continue;
                                        const followers = st.cluster.replicas || [];
                                        led.set(st.name, followers.length === this.natsNodes.length - 1 && followers.every((x) => x.current && !x.offline));
                                }
                        } catch { /* not answering: its streams have no leader here */ }
                }
                return led.size === 4 && [...led.values()].every(Boolean);
        }

        // The node (of p.natsNodes) whose server name is `serverName`.
        natsNode(serverName) {
                return this.natsNodes.find((x) => x.serverName === serverName);
        }

        // A fresh PostgreSQL cluster. With opts.pgStandby: a primary that waits for a synchronous standby
        // (`standby`, streaming from a base backup, process postgres-standby) on a second port, every service
        // connecting to both with target_session_attrs=read-write (libpq finds the writable one), and
        // synchronous_commit on. Resolves to the processes started (not yet ready; the standby is started by
        // boot() once the primary is up, see startStandby).
        async startPg() {
                const port = await freePort();
                const user = pgUser();
                const home = path.join(this.dir, 'pg');
                const data = path.join(home, 'data');
                fs.mkdirSync(home);
                if (user.uid !== undefined) fs.chownSync(home, user.uid, user.gid);
                const env = { PATH: process.env.PATH, LANG: 'C', LC_ALL: 'C', HOME: home };
                const initLog = path.join(this.logDir, 'initdb.log');
                try {
                        await execFileP(pgBin('initdb'), ['-D', data, '-U', 'postgres', '-A', 'trust', '-E', 'UTF8', '--no-locale', '--no-sync'],
                                { ...user, env, cwd: home, timeout: 60_000 });
                } catch (e) {
                        fs.writeFileSync(initLog, `${e.stdout || ''}${e.stderr || ''}`);
                        throw new Error(`initdb failed: ${e.message}`);
                }
                this.pgPort = port;
                this.pgPrimary = { port, home, data };
                this.databaseUrl = `postgresql://food@127.0.0.1:${port}/food`;
                const extra = this.opts.pgStandby ? { synchronous_commit: 'on', synchronous_standby_names: 'standby' } : {};
                return [this.addPgServer('postgres', port, home, data, extra)];
        }

        addPgServer(name, port, home, data, settings = {}) {
                const user = pgUser();
                const env = { PATH: process.env.PATH, LANG: 'C', LC_ALL: 'C', HOME: home };
                const isready = pgBin('pg_isready');
                const p = this.add({
                        // SIGINT: fast shutdown (SIGTERM would wait for every service to disconnect).
                        name, cmd: pgBin('postgres'), env, cwd: home, user, stopSignal: 'SIGINT',
                        // Throwaway cluster: durability off for speed; connections for many replicas.
                        args: ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${home}`,
                                '-c', 'fsync=off', '-c', 'synchronous_commit=off', '-c', 'full_page_writes=off', '-c', 'max_connections=300',
                                // opts.pgSettings override these (a later -c wins), e.g. {synchronous_commit: 'on'}.
                                ...Object.entries({ ...settings, ...this.opts.pgSettings }).flatMap(([k, v]) => ['-c', `${k}=${v}`])],
                        readyCheck: async () => {
                                try {
                                        await execFileP(isready, ['-q', '-h', '127.0.0.1', '-p', String(port)], { timeout: 5000 });
                                        return true;
                                } catch {
                                        return false;
                                }
                        },
                });
                p.service = 'postgres';
                p.pgPort = port;
                p.spawn();
                return p;
        }

        // opts.pgStandby: a base backup of the running primary started as its synchronous standby; waits until
        // the primary reports it streaming and `sync`, then points every service at both servers.
        async startStandby() {
                const user = pgUser();
                const port = await freePort();
                const home = path.join(this.dir, 'pg-standby');
                const data = path.join(home, 'data');
                fs.mkdirSync(home);
                if (user.uid !== undefined) fs.chownSync(home, user.uid, user.gid);
                await execFileP(pgBin('pg_basebackup'), ['-h', '127.0.0.1', '-p', String(this.pgPrimary.port), '-U', 'postgres', '-D', data,
                        '-X', 'stream', '--no-sync'], { ...user, env: { PATH: process.env.PATH, HOME: home }, timeout: 60_000 });
                fs.writeFileSync(path.join(data, 'standby.signal'), '');
                fs.appendFileSync(path.join(data, 'postgresql.auto.conf'),
                        `primary_conninfo = 'host=127.0.0.1 port=${this.pgPrimary.port} user=postgres application_name=standby'\n`);
                if (user.uid !== undefined) {
                        fs.chownSync(path.join(data, 'standby.signal'), user.uid, user.gid);
                        fs.chownSync(path.join(data, 'postgresql.auto.conf'), user.uid, user.gid);
                }
                this.pgStandby = { port, home, data };
                const p = this.addPgServer('postgres-standby', port, home, data, { synchronous_commit: 'on' });
                await p.waitReady();
                await this.waitFor(async () => (await this.sql("SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'", 'postgres')) === 'sync', 30_000);
                this.databaseUrl = `postgresql://food@127.0.0.1:${this.pgPrimary.port},127.0.0.1:${port}/food?target_session_attrs=read-write`;
                return p;
        }

        // opts.pgStandby: promotes the standby (as an operator, Patroni or CloudNativePG would once the primary is
        // gone); p.sql and p.pgPort follow it. Resolves once it accepts writes.
        async promoteStandby() {
                this.pgPort = this.pgStandby.port;
                const done = await this.sql('SELECT pg_promote(true, 60)', 'postgres'); // waits until it is a primary
                if (done !== 't') throw new Error(`the standby was not promoted within 60 s (pg_promote: ${done})`);
        }

        // Runs SQL through psql as the PostgreSQL superuser; resolves to psql's unaligned output.
        async sql(query, database = 'food') {
                const { stdout } = await execFileP(pgBin('psql'),
                        ['-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(this.pgPort), '-U', 'postgres', '-d', database, '-c', query],
                        { timeout: 30_000, maxBuffer: 512 * 1024 * 1024 }); // a long crash run's checks read every order
                return stdout.trim();
        }

        // A psql session kept open (as the superuser) for statements that must hold something between
        // steps, e.g. a lock: `await s.run(sql)` resolves to the output once psql printed it; `s.close()`.
        async sqlSession(database = 'food', { user = 'postgres' } = {}) {
                const child = spawn(pgBin('psql'), ['-X', '-q', '-tA', '-v', 'ON_ERROR_STOP=1', '-h', '127.0.0.1', '-p', String(this.pgPort),
                        '-U', user, '-d', database], { stdio: ['pipe', 'pipe', 'pipe'] });
                let out = '';
                let errText = '';
                child.stdout.on('data', (d) => { out += d; });
                child.stderr.on('data', (d) => { errText += d; });
                const exited = new Promise((resolve) => child.on('exit', resolve));
                let n = 0;
                return {
                        // Runs `sql` and waits for a marker printed after it, so that the statement has finished.
                        run: async (sql, timeoutMs = 10_000) => {
                                const mark = `__done_${++n}__`;
                                const from = out.length;
                                child.stdin.write(`${sql};\nSELECT '${mark}';\n`);
                                const until = Date.now() + timeoutMs;
                                while (!out.includes(mark, from)) {
                                        if (child.exitCode !== null || Date.now() > until) throw new Error(`psql session: ${sql}: ${errText || 'no answer'}`);
                                        await sleep(20);
                                }
                                return out.slice(from, out.indexOf(mark, from)).trim();
                        },
                        close: async () => { child.stdin.end(); await exited; },
                };
        }

        // The stream `name` of this platform's JetStream: {exists, n, messages} with up to `max` of its
        // first messages as the server's STREAM.MSG.GET answers them ({subject, seq, hdrs, data}, base64).
        async streamSample(name, max = 5) {
                const jsz = await (await fetch(`${this.natsMonitorUrl}/jsz?streams=true`)).json();
                const st = jsz.account_details.flatMap((a) => a.stream_detail || []).find((x) => x.name === name);
                const n = st?.state?.messages ?? 0;
                const messages = [];
                for (let seq = st?.state?.first_seq ?? 0; n > 0 && messages.length < Math.min(n, max) && seq <= st.state.last_seq; seq++) {
                        const [a] = await natsSend(this.natsAdminUrl ?? this.natsUrl, [{ subject: `$JS.API.STREAM.MSG.GET.${name}`, payload: JSON.stringify({ seq }) }]);
                        const m = JSON.parse(a?.payload?.toString() || '{}').message;
                        if (m) messages.push(m);
                }
                return { exists: Boolean(st), n, messages };
        }

        // Runs food-setup as the operators' admin, as local mode and the chart's Job do: creates or updates the
        // NATS streams and durable consumers (lib/topology.c).
        async setupNats() {
                const replicas = {};
                for (const st of ['FOOD_CMD', 'FOOD_ORDER', 'FOOD_DLQ', 'FOOD_ADVISORY']) replicas[`STREAM_${st}_REPLICAS`] = String(this.opts.natsCluster || 1);
                const r = await runFoodSetup(this.natsUrl, { ...this.natsCredentials('admin'), ...replicas, LOG_LEVEL: 'warn' });
                if (r.code !== 0) throw new Error(`food-setup failed (exit ${r.code}): ${r.out}`);
        }

        // NATS_USER and NATS_PASSWORD of `user` (a service name of NATS_USERS).
        natsCredentials(user) {
                if (!this.natsPasswords?.[user]) return {};
                return { NATS_USER: user, NATS_PASSWORD: this.natsPasswords[user] };
        }

        serviceEnv(extra) {
                return {
                        ...process.env,
                        NATS_URL: this.natsUrl,
                        DATABASE_URL: this.databaseUrl,
                        HEALTH_BIND: '127.0.0.1',
                        LOG_LEVEL: process.env.LOG_LEVEL || 'info',
                        // Sanitizer builds: no leak report at exit, keep running after a report (the harness scans the logs).
                        ASAN_OPTIONS: 'detect_leaks=0:abort_on_error=0',
                        UBSAN_OPTIONS: 'print_stacktrace=1',
                        ...this.opts.env?.all,
                        ...extra,
                };
        }

        replicasOf(service) {
                const r = this.opts.replicas;
                if (typeof r === 'number') return WORKERS.includes(service) ? r : 1;
                if (r && typeof r === 'object' && r[service]) return r[service];
                return 1;
        }

        async addServices(wanted) {
                const pspPort = await freePort();
                this.pspUrl = `http://127.0.0.1:${pspPort}`;
                if (wanted.has('sandbox-psp')) {
                        this.add({
                                name: 'sandbox-psp', cmd: path.join(BUILD_DIR, PSP_BIN), args: [],
                                env: this.serviceEnv({ SANDBOX_PSP_PORT: String(pspPort), SANDBOX_PSP_BIND: '127.0.0.1', ...this.opts.env?.['sandbox-psp'] }),
                                readyUrl: `${this.pspUrl}/healthz`,
                        });
                }
                const sinkEnv = {};
                if (wanted.has('sandbox-sink')) {
                        const sinkPort = await freePort();
                        this.sinkUrl = `http://127.0.0.1:${sinkPort}`;
                        sinkEnv.NOTIFY_WEBHOOK_URL = `${this.sinkUrl}/messages`; // the notification worker pushes there
                        this.add({
                                name: 'sandbox-sink', cmd: path.join(BUILD_DIR, SINK_BIN), args: [],
                                env: this.serviceEnv({ SANDBOX_SINK_PORT: String(sinkPort), SANDBOX_SINK_BIND: '127.0.0.1', ...this.opts.env?.['sandbox-sink'] }),
                                readyUrl: `${this.sinkUrl}/healthz`,
                        });
                }
                for (const [service, bin] of Object.entries(SERVICES)) {
                        if (!wanted.has(service)) continue;
                        const n = this.replicasOf(service);
                        for (let i = 1; i <= n; i++) {
                                const health = await freePort();
                                const p = this.add({
                                        name: n === 1 ? service : `${service}-${i}`, cmd: path.join(BUILD_DIR, bin), args: [],
                                        env: this.serviceEnv({
                                                ...this.natsCredentials(service),
                                                HEALTH_PORT: String(health), PSP_URL: this.pspUrl, ...(service === 'notification' ? sinkEnv : {}),
                                                ...this.opts.env?.[service],
                                        }),
                                        readyUrl: `http://127.0.0.1:${health}/readyz`,
                                });
                                p.service = service;
                                p.healthUrl = `http://127.0.0.1:${health}`;
                        }
                }
                if (wanted.has('gateway')) {
                        const port = await freePort();
                        this.url = `http://127.0.0.1:${port}`;
                        this.jwtSecret = randomBytes(32).toString('hex');
                        this.add({
                                name: 'gateway', cmd: path.join(BUILD_DIR, GATEWAY_BIN), args: [],
                                env: this.serviceEnv({
                                        ...this.natsCredentials('gateway'),
                                        GATEWAY_PORT: String(port), GATEWAY_BIND: '127.0.0.1', JWT_SECRET: this.jwtSecret, DEV_TOKENS: 'true',
                                        ...this.opts.env?.gateway,
                                }),
                                readyUrl: `${this.url}/readyz`,
                        });
                }
        }

        async boot() {
                const wanted = new Set(this.opts.only || ALL);
                if (this.opts.sink) wanted.add('sandbox-sink');
                // Infrastructure first, both at once.
                const infra = [];
                if (wanted.has('nats')) infra.push(...(await this.startNats()));
                if (wanted.has('pg')) infra.push(...(await this.startPg()));
                await Promise.all(infra.map((p) => p.waitReady()));
                if (wanted.has('pg') && this.opts.pgStandby) await this.startStandby();
                // The operators' set-up step: the streams and durables, which no service may create.
                if (wanted.has('nats')) await this.setupNats();
                if (wanted.has('pg')) {
                        await this.sql('CREATE ROLE food LOGIN', 'postgres');
                        await this.sql('CREATE DATABASE food OWNER food', 'postgres');
                }
                // A test's own step between infrastructure and services (e.g. proxies in front of NATS and
                // PostgreSQL whose URLs it puts into opts.env.all, which every service's environment takes).
                if (this.opts.beforeServices) await this.opts.beforeServices(this);
                const before = this.procs.length;
                await this.addServices(wanted);
                const missing = this.procs.slice(before).filter((p) => !fs.existsSync(p.cmd)).map((p) => p.cmd);
                if (missing.length) throw new Error(`not built: ${[...new Set(missing)].join(', ')} (BUILD_DIR=${BUILD_DIR})`);
                // Services (all replicas at once, as a Deployment would start them), then the gateway.
                const services = this.procs.slice(before).filter((p) => p.name !== 'gateway');
                for (const p of services) p.spawn();
                await Promise.all(services.map((p) => p.waitReady()));
                const gw = this.procs.find((p) => p.name === 'gateway');
                if (gw) await gw.start();
        }

        // --- helpers for tests ---

        // HTTP to the gateway: resolves to {status, headers, json, text}.
        api(method, p, opts) {
                return request(this.url, method, p, opts);
        }

        // HTTP to the sandbox payment provider, e.g. psp('/ledger') or psp('/config', {method: 'PUT', body}).
        psp(p, { method = 'GET', ...opts } = {}) {
                return request(this.pspUrl, method, p, opts);
        }

        // HTTP to the sandbox notification sink (opts.sink), e.g. sink('/messages') or
        // sink('/config', {method: 'PUT', body: {failure_rate: 1}}).
        sink(p, { method = 'GET', ...opts } = {}) {
                if (!this.sinkUrl) throw new Error('no sandbox sink: start the platform with {sink: true}');
                return request(this.sinkUrl, method, p, opts);
        }

        // A bearer token from POST /auth/dev-token (cached per sub/role/store).
        async token(sub, role = 'customer', store_id = undefined) {
                const key = `${sub}/${role}/${store_id ?? ''}`;
                if (this.tokens.has(key)) return this.tokens.get(key);
                const body = { sub, role };
                if (store_id !== undefined) body.store_id = store_id;
                const r = await this.api('POST', '/auth/dev-token', { body });
                if (r.status !== 200 && r.status !== 201 || typeof r.json?.token !== 'string') {
                        throw new Error(`POST /auth/dev-token ${JSON.stringify(body)}: expected 200 {"token"}, got ${r.status} ${r.text}`);
                }
                this.tokens.set(key, r.json.token);
                return r.json.token;
        }

        // Calls fn until it returns a truthy value (resolved to it) or timeoutMs passes; an exception from
        // fn counts as "not yet" and the last one is rethrown at the deadline.
        async waitFor(fn, timeoutMs = 15_000, intervalMs = 100) {
                const deadline = Date.now() + timeoutMs;
                let last;
                for (;;) {
                        try {
                                const v = await fn();
                                if (v) return v;
                                last = undefined;
                        } catch (e) {
                                last = e;
                        }
                        if (Date.now() >= deadline) {
                                if (last) {
                                        last.message = `waitFor: still failing after ${timeoutMs} ms: ${last.message}`;
                                        throw last;
                                }
                                throw new Error(`waitFor: condition not met after ${timeoutMs} ms`);
                        }
                        await sleep(intervalMs);
                }
        }

        // Stops one process (e.g. 'payment-2') or every replica of a service ('payment') with its stop signal
        // (SIGTERM; SIGINT for nats and postgres) or `signal` (e.g. 'SIGKILL' for a crash).
        async kill(name, signal = undefined) {
                return Promise.all(this.find(name).map((p) => p.stop(signal)));
        }

        // The next exit of `name` (every replica) is expected: a process that kills itself on purpose
        // (FOOD_CRASH_AT) is not reported as a crash.
        expectExit(name) {
                for (const p of this.find(name)) p.stopping = true;
        }

        // Starts again the stopped processes kill(name) stopped, waiting until they are ready.
        async start(name) {
                await Promise.all(this.find(name).filter((p) => !p.alive()).map((p) => p.start()));
        }

        // Restarts one process or every replica of a service (its stop signal, then a fresh start, waiting until
        // it is ready), first merging `env` into its environment; the change stays for later restarts and a
        // value of undefined removes the variable. Per-test settings of one file, e.g.
        //   await p.restart('orchestrator', { env: { STORE_ACCEPT_TIMEOUT_S: 3 } });
        // Resolves to the exits of the stopped processes ({code, signal, killed} each).
        async restart(name, { env = {} } = {}) {
                const procs = this.find(name);
                const exits = await Promise.all(procs.map((p) => p.stop()));
                for (const p of procs) {
                        p.env = { ...p.env };
                        for (const [k, v] of Object.entries(env)) {
                                if (v === undefined) delete p.env[k];
                                else p.env[k] = String(v);
                        }
                }
                await Promise.all(procs.map((p) => p.start()));
                return exits;
        }

        // Runs the operators' CLI build/orchestrator/sagactl against this platform's NATS; resolves to
        // {code, stdout, stderr} whatever its exit code.
        async sagactl(...args) {
                const bin = path.join(BUILD_DIR, 'orchestrator/sagactl');
                if (!fs.existsSync(bin)) throw new Error(`sagactl: ${bin} not found (build first)`);
                try {
                        const { stdout, stderr } = await execFileP(bin, args, {
                                env: { ...process.env, NATS_URL: this.natsUrl }, timeout: 20_000,
                        });
                        return { code: 0, stdout, stderr };
                } catch (e) {
                        if (typeof e.code !== 'number') throw new Error(`sagactl ${args.join(' ')}: ${e.message}`);
                        return { code: e.code, stdout: e.stdout ?? '', stderr: e.stderr ?? '' };
                }
        }

        // Stops everything (gateway, services, PSP, then PostgreSQL and NATS), removes the temporary folder
        // and resolves to {exits: {name: {code, signal, killed}}}. Throws when a process crashed during the
        // run or a sanitizer reported in a log, so that an after() hook fails the file.
        async stop() {
                if (this.stopped) return this.stopped;
                const exits = {};
                const order = [...this.procs].reverse(); // gateway, services, psp, postgres, nats
                const infra = order.filter((p) => p.service === 'nats' || p.service === 'postgres');
                const apps = order.filter((p) => !infra.includes(p));
                const gw = apps.filter((p) => p.name === 'gateway');
                for (const group of [gw, apps.filter((p) => p.name !== 'gateway')]) {
                        const results = await Promise.all(group.map((p) => p.stop()));
                        group.forEach((p, i) => { exits[p.name] = results[i]; });
                }
                for (const p of infra) exits[p.name] = await p.stop();
                const reports = [];
                const violations = [];
                for (const p of this.procs) {
                        let text = '';
                        try { text = fs.readFileSync(p.log, 'utf8'); } catch { /* no log */ }
                        const lines = text.split('\n').filter((l) => SANITIZER_RE.test(l));
                        if (lines.length) reports.push(`${p.name}: ${lines.slice(0, 5).join(' | ')} (see ${p.log})`);
                        if (p.service === 'nats') {
                                const denied = text.split('\n').filter((l) => NATS_VIOLATION_RE.test(l) &&
                                        !this.expectedViolations.some((re) => re.test(l)));
                                if (denied.length) violations.push(`${denied.slice(0, 5).join(' | ')} (see ${p.log})`);
                        }
                }
                for (const m of [...mounts]) if (m.startsWith(this.dir + path.sep)) unmount(m);
                if (!process.env.KEEP_TEST_DIR) fs.rmSync(this.dir, { recursive: true, force: true });
                tempDirs.delete(this.dir);
                this.stopped = { exits };
                const problems = [...this.crashes.map((c) => `crash: ${c}`), ...reports.map((r) => `sanitizer: ${r}`),
                        ...violations.map((v) => `nats permission violation: ${v}`)];
                if (problems.length) throw new Error(`platform ${this.name}:\n${problems.join('\n')}`);
                return this.stopped;
        }
}

/**
 * Starts a fresh platform and resolves to it once every process answers its readiness probe.
 * opts.name: label for logs (default: the test file's name); opts.only: subset of ALL to start
 * (e.g. ['nats', 'pg']); opts.replicas: a number of replicas for each worker, or {service: n};
 * opts.pgSettings: PostgreSQL settings over the harness's fast, non-durable ones, e.g. {synchronous_commit: 'on'}
 * for tests that SIGKILL PostgreSQL (with it off, a crash loses the last commits the services were told about);
 * opts.beforeServices: async (p) => {...} run once NATS and PostgreSQL are up, before any service starts;
 * opts.sink: also start the sandbox notification sink (p.sinkUrl, p.sink()) and point the notification worker's
 * NOTIFY_WEBHOOK_URL at it (without it the worker only records notifications, as before);
 * opts.natsStoreMb: the JetStream store on a tmpfs of that many MiB (root only), for disk-full tests;
 * opts.natsCluster: n nats-servers clustered on loopback (nats-1..nats-n, p.natsNodes, p.natsLeaders()), streams at n replicas;
 * opts.pgStandby: PostgreSQL as a primary with a synchronous standby (postgres-standby), services given both hosts with
 * target_session_attrs=read-write; p.promoteStandby() after the primary is gone;
 * opts.env: {all: {...}, <service>: {...}} extra environment, e.g. {orchestrator: {AUTO_COMPLETE_S: '3'}} (the
 * orchestrator reads STORE_ACCEPT_TIMEOUT_S, AUTO_COMPLETE_S, PAYMENT_TIMEOUT_S, COMMAND_RESEND_MS,
 * COMMAND_MAX_ATTEMPTS, STUCK_AFTER_S); p.restart(name, {env}) changes it for the rest of the file.
 * On a start failure everything started is stopped and the error (with the log tail) is thrown.
 */
/** Runs food-setup (BUILD_DIR's) against the nats-server at `url` with `env` added: resolves to {code, out}. */
export function runFoodSetup(url, env = {}) {
        const bin = path.join(BUILD_DIR, 'lib/food-setup');
        if (!fs.existsSync(bin)) throw new Error(`not built: ${bin} (BUILD_DIR=${BUILD_DIR})`);
        return new Promise((resolve) => {
                execFile(bin, [], { env: { ...process.env, NATS_URL: url, LOG_LEVEL: 'info', ...env }, timeout: 20_000 },
                        (err, stdout, stderr) => resolve({ code: err ? (err.code ?? -1) : 0, out: stdout + stderr }));
        });
}

/**
 * A bare nats-server on 127.0.0.1 (JetStream in `dir`/js, `conf` a config file or none) for tests of food-setup
 * and of NATS TLS that need no platform: resolves to {url, monitor, stop(), runSetup(env)} once its monitor
 * answers (runSetup: runFoodSetup against it).
 */
export async function startBareNats(dir, conf = null) {
        const port = await freePort();
        const mport = await freePort();
        const url = `nats://127.0.0.1:${port}`;
        const monitor = `http://127.0.0.1:${mport}`;
        const child = spawn(which('nats-server', ['/usr/sbin']), [...(conf ? ['-c', conf] : []), '-js', '-a', '127.0.0.1',
                '-p', String(port), '-m', String(mport), '-sd', path.join(dir, 'js')], { stdio: 'ignore' });
        const stop = () => child.kill('SIGINT');
        for (let i = 0; i < 100; i++) {
                if (await fetch(`${monitor}/healthz`).then((r) => r.ok, () => false))
                        return { url, monitor, stop, runSetup: (env) => runFoodSetup(url, env) };
                await sleep(100);
        }
        stop();
        throw new Error(`nats-server on ${url} did not start`);
}

// A test file still running after HARNESS_WATCHDOG_MS (set by test/meson.build a little under meson's timeout;
// unset: none) is stuck somewhere: its platforms' state is printed and the file fails, instead of being killed
// silently by meson with nothing to read.
const WATCHDOG_MS = Number(process.env.HARNESS_WATCHDOG_MS || 0);
const platforms = new Set();
const watchdog = setTimeout(() => {
        console.error(`# harness watchdog: still running after ${WATCHDOG_MS} ms; the platform(s):`);
        for (const p of platforms) {
                for (const proc of p.procs) {
                        console.error(`#   ${proc.name}: ${proc.alive() ? `alive, pid ${proc.child.pid}` : `exited ${JSON.stringify(proc.exit)}`}; `
                                + `last log lines:\n${tail(proc.log, 8).split('\n').map((l) => `#     ${l}`).join('\n')}`);
                }
        }
        process.exit(1);
}, WATCHDOG_MS || 2 ** 31 - 1);
watchdog.unref();
if (!WATCHDOG_MS) clearTimeout(watchdog);

export async function startPlatform(opts = {}) {
        const p = new Platform(opts);
        platforms.add(p);
        try {
                await p.boot();
        } catch (e) {
                await p.stop().catch(() => {});
                throw e;
        }
        return p;
}

/**
 * Sends raw messages over one NATS connection (the text protocol on net.Socket, built-in modules only), for tests
 * that publish what no service would: garbage bytes, a wrong Food-Type header, forged protobuf.
 *   const [ack] = await natsSend(p.natsAdminUrl ?? p.natsUrl, [{ subject, headers: {'Food-Type': 'x'}, payload }]);
 * Each message: {subject, payload (Buffer|Uint8Array|string, default empty), headers ({name: value}, sent with
 * HPUB), reply (default true: wait for one answer on a fresh inbox — the JetStream publish ack, or an RPC's answer),
 * timeoutMs (default 5000)}. Resolves to one entry per message, in order: {subject, status, headers, payload}
 * of the answer (status: the NATS header status line's code, e.g. 503 for no responders; 0 without one), or null
 * when none came in time or reply was false. The URL may carry user:password. Rejects on -ERR or a socket error.
 */
// `listen` {subject, count, ms}: also collects the messages published on `subject` (core NATS) until `count`
// arrived or `ms` passed after the last send; they are returned as the result's `heard` property.
export async function natsSend(url, messages, { timeoutMs = 10_000, listen = null } = {}) {
        const u = new URL(url);
        const sock = net.connect({ host: u.hostname, port: Number(u.port || 4222) });
        const connect = { verbose: false, pedantic: false, headers: true, no_responders: true, protocol: 1, lang: 'node', version: '0', name: 'food-test-raw' };
        if (u.username) {
                connect.user = decodeURIComponent(u.username);
                connect.pass = decodeURIComponent(u.password);
        }
        const inbox = `_INBOX.${randomBytes(8).toString('hex')}`;
        let buf = Buffer.alloc(0);
        const waiters = new Map(); // inbox token -> resolve
        let pong = null;
        const heard = [];
        let heardAll = null;
        let failure = null;
        let fail = () => {};
        const failed = new Promise((_, reject) => { fail = (e) => { failure = e; reject(e); }; });
        failed.catch(() => {});
        const parseHeaders = (raw) => {
                const lines = raw.toString('latin1').split('\r\n');
                const status = Number((lines[0].match(/^NATS\/1\.0\s+(\d+)/) || [])[1] || 0);
                const headers = {};
                for (const l of lines.slice(1)) {
                        const i = l.indexOf(':');
                        if (i > 0) headers[l.slice(0, i).trim()] = l.slice(i + 1).trim();
                }
                return { status, headers };
        };
        sock.on('data', (chunk) => {
                buf = Buffer.concat([buf, chunk]);
                for (;;) {
                        const eol = buf.indexOf('\r\n');
                        if (eol < 0) return;
                        const line = buf.subarray(0, eol).toString('latin1');
                        const parts = line.split(' ');
                        const op = parts[0].toUpperCase();
                        if (op === 'MSG' || op === 'HMSG') {
                                const total = Number(parts[parts.length - 1]);
                                const hdrLen = op === 'HMSG' ? Number(parts[parts.length - 2]) : 0;
                                if (buf.length < eol + 2 + total + 2) return; // wait for the whole message
                                const body = buf.subarray(eol + 2, eol + 2 + total);
                                buf = buf.subarray(eol + 2 + total + 2);
                                const { status, headers } = hdrLen ? parseHeaders(body.subarray(0, hdrLen)) : { status: 0, headers: {} };
                                const w = waiters.get(parts[1]);
                                if (listen && parts[2] === '2') {
                                        heard.push({ subject: parts[1], status, headers, payload: Buffer.from(body.subarray(hdrLen)) });
                                        if (heardAll && heard.length >= listen.count) heardAll();
                                } else if (w) {
                                        waiters.delete(parts[1]);
                                        w({ subject: parts[1], status, headers, payload: Buffer.from(body.subarray(hdrLen)) });
                                }
                                continue;
                        }
                        buf = buf.subarray(eol + 2);
                        if (op === 'PING') sock.write('PONG\r\n');
                        else if (op === 'PONG' && pong) { const p = pong; pong = null; p(); }
                        else if (op === '-ERR') fail(new Error(`nats: ${line}`));
                        // INFO and +OK need nothing.
                }
        });
        sock.on('error', (e) => fail(e));
        const bounded = (promise, what) => Promise.race([promise, failed,
                sleep(timeoutMs, undefined, { ref: false }).then(() => { throw new Error(`nats: ${what} not answered in ${timeoutMs} ms`); })]);
        const ping = () => bounded(new Promise((resolve) => { pong = resolve; sock.write('PING\r\n'); }), 'PING');
        try {
                await bounded(new Promise((resolve) => sock.once('connect', resolve)), 'connect');
                sock.write(`CONNECT ${JSON.stringify(connect)}\r\n`);
                await ping();
                sock.write(`SUB ${inbox}.* 1\r\n`);
                if (listen) sock.write(`SUB ${listen.subject} 2\r\n`);
                await ping();
                const results = [];
                for (const [i, m] of messages.entries()) {
                        const payload = Buffer.from(m.payload ?? []);
                        const wantReply = m.reply !== false;
                        const replyTo = wantReply ? `${inbox}.${i}` : '';
                        const answer = wantReply ? new Promise((resolve) => waiters.set(replyTo, resolve)) : null;
                        const head = `${m.subject}${replyTo ? ` ${replyTo}` : ''}`;
                        if (m.headers && Object.keys(m.headers).length) {
                                const h = Buffer.from(`NATS/1.0\r\n${Object.entries(m.headers).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`, 'latin1');
                                sock.write(`HPUB ${head} ${h.length} ${h.length + payload.length}\r\n`);
                                sock.write(Buffer.concat([h, payload, Buffer.from('\r\n')]));
                        } else {
                                sock.write(`PUB ${head} ${payload.length}\r\n`);
                                sock.write(Buffer.concat([payload, Buffer.from('\r\n')]));
                        }
                        if (!answer) {
                                await ping(); // the server has it
                                results.push(null);
                                continue;
                        }
                        const wait = m.timeoutMs ?? 5000;
                        results.push(await Promise.race([answer, failed, sleep(wait, null, { ref: false })]));
                        waiters.delete(replyTo);
                }
                if (listen && heard.length < listen.count)
                        await Promise.race([new Promise((resolve) => { heardAll = resolve; }), failed, sleep(listen.ms ?? 10_000, null, { ref: false })]);
                if (failure) throw failure;
                results.heard = heard;
                return results;
        } finally {
                sock.destroy();
        }
}
