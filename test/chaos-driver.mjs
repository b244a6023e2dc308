// The fault scheduler of the crash-recovery suite: while load runs, every few seconds it picks a process of a
// platform started by test/harness.mjs and a fault, seeded so that SEED=<n> replays the same choices:
//   kill   SIGKILL, down for a moment, then started again and waited for (as a supervisor would restart it);
//          for PostgreSQL the postmaster and all its backends die together, as in an OOM kill of the server;
//   pause  SIGSTOP for a few seconds, then SIGCONT (a stalled VM or a long GC pause; every PostgreSQL process);
//   sever  PostgreSQL only: every client session terminated at once (pg_terminate_backend) while the server stays
//          up, as when a proxy or the network drops connections: a COMMIT may land with its answer lost;
//   partition / delay   on a LinkProxy target ('pg-link', 'nats-link': every service reaches PostgreSQL or NATS
//          through it): no byte passes either way for a few seconds (connections stay open, as behind a firewall
//          that drops packets), or every byte is held back a few hundred ms.
// Faults come one at a time. Every fault is printed, and the whole schedule is written as JSON to
// <log dir>/chaos-schedule.json (also when a later step fails), so that a failing run can be read and replayed.
//
//   const chaos = new ChaosDriver(p, { seed, targets: ['orchestrator', 'nats', ...] });
//   chaos.start();  ...load...  const schedule = await chaos.stop();
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

// mulberry32: a small seeded PRNG.
export function rng(seed) {
        let a = seed >>> 0;
        return () => {
                a = (a + 0x6d2b79f5) >>> 0;
                let t = a;
                t = Math.imul(t ^ (t >>> 15), t | 1);
                t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
                return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
        };
}

// Picks a key of `weights` ({choice: weight}) with the random source `r`.
export function pick(r, weights) {
        const entries = Object.entries(weights);
        let x = r() * entries.reduce((s, [, w]) => s + w, 0);
        for (const [k, w] of entries) {
                if ((x -= w) < 0) return k;
        }
        return entries[entries.length - 1][0];
}

// Pids whose parent is `pid` (from /proc; PostgreSQL's backends and auxiliary processes).
export function childrenOf(pid) {
        const out = [];
        for (const d of fs.readdirSync('/proc')) {
                if (!/^\d+$/.test(d)) continue;
                try {
                        const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
                        // pid (comm) state ppid ...: comm may hold spaces, so split after the last ')'.
                        const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
                        if (ppid === pid) out.push(Number(d));
                } catch { /* gone meanwhile */ }
        }
        return out;
}

function signalAll(pids, sig) {
        for (const pid of pids) {
                try { process.kill(pid, sig); } catch { /* already gone */ }
        }
}

// A user-space TCP proxy on 127.0.0.1 in front of one server, which the services connect through, so that the
// link can be partitioned (nothing passes, connections stay open, the sender's buffers fill) or slowed down
// without touching the server. Bytes keep their order in each direction.
export class LinkProxy {
        constructor(name, upstreamPort) {
                Object.assign(this, { name, upstreamPort });
                this.delayMs = 0;
                this.blocked = false;
                this.pipes = new Set(); // {paused sockets, pump} of each direction
                this.sockets = new Set();
        }

        // Starts listening on a free port; resolves to it.
        async listen() {
                this.server = net.createServer((client) => this.accept(client));
                await new Promise((resolve, reject) => {
                        this.server.once('error', reject);
                        this.server.listen(0, '127.0.0.1', resolve);
                });
                this.port = this.server.address().port;
                return this.port;
        }

        accept(client) {
                const upstream = net.connect(this.upstreamPort, '127.0.0.1');
                for (const s of [client, upstream]) {
                        this.sockets.add(s);
                        s.setNoDelay(true);
                        s.on('error', () => { client.destroy(); upstream.destroy(); });
                        s.on('close', () => { this.sockets.delete(s); client.destroy(); upstream.destroy(); });
                }
                this.pipe(client, upstream);
                this.pipe(upstream, client);
        }

        // One direction: chunks wait in a queue until their release time (now + delay, never before the previous
        // one) and while the link is blocked; reading stops meanwhile, so back-pressure reaches the sender.
        pipe(from, to) {
                const queue = [];
                let last = 0;
                let timer = null;
                const pump = () => {
                        timer = null;
                        const now = Date.now();
                        while (queue.length && !this.blocked && queue[0].at <= now) to.write(queue.shift().data);
                        if (this.blocked || queue.length > 64) from.pause();
                        else from.resume();
                        if (queue.length && !this.blocked) timer = setTimeout(pump, Math.max(0, queue[0].at - now));
                };
                const dir = { pump: () => { if (!timer) pump(); } };
                this.pipes.add(dir);
                from.on('data', (data) => {
                        last = Math.max(last, Date.now() + this.delayMs);
                        queue.push({ data, at: last });
                        dir.pump();
                });
                from.on('close', () => this.pipes.delete(dir));
        }

        // Nothing passes (connections stay open) until unblock(); then everything held is delivered in order.
        block() {
                this.blocked = true;
        }

        unblock() {
                this.blocked = false;
                for (const d of this.pipes) d.pump();
        }

        // Nothing passes for `ms`.
        async partition(ms) {
                this.block();
                await sleep(ms);
                this.unblock();
        }

        // Every byte is held back `delayMs` for `ms`.
        async delay(delayMs, ms) {
                this.delayMs = delayMs;
                await sleep(ms);
                this.delayMs = 0;
        }

        close() {
                this.server?.close();
                for (const s of this.sockets) s.destroy();
        }
}

// Restarts process `name` of platform p (merging `env`) so that it reaches NATS only through a new LinkProxy, which
// the caller blocks, unblocks and closes; everything else keeps reaching NATS directly.
export async function throughNatsLink(p, name, env = {}) {
        const link = new LinkProxy('nats-link', Number(new URL(p.natsUrl).port));
        await link.listen();
        await p.restart(name, { env: { NATS_URL: `nats://127.0.0.1:${link.port}`, ...env } });
        return link;
}

export class ChaosDriver {
        // p: a platform; opts.seed; opts.targets: process names of p (default: every one except the sandbox
        // providers, which stand for the outside world); opts.faults: {kill, pause} weights; opts.gapMs: [min, max]
        // between faults (sever: see above); opts.downMs: [min, max] a killed process stays down; opts.pauseMs: [min, max] of a pause.
        // opts.links: {name: LinkProxy} for the partition and delay faults (opts.partitionMs, opts.delayMs: [min, max]
        // of the held-back time of each byte, opts.delayForMs: how long the delay lasts).
        constructor(p, {
                seed, targets, faults = { kill: 4, pause: 1 }, gapMs = [1500, 4000], downMs = [0, 1500], pauseMs = [1000, 4000],
                links = {}, partitionMs = [1000, 6000], delayMs = [100, 1000], delayForMs = [2000, 8000],
        } = {}) {
                Object.assign(this, { p, seed, faults, gapMs, downMs, pauseMs, links, partitionMs, delayMs, delayForMs });
                this.targets = targets ?? p.procs.map((x) => x.name).filter((n) => !n.startsWith('sandbox-'));
                this.r = rng(seed);
                this.schedule = []; // {n, at_ms, target, fault, hold_ms, recovered_ms, error?}
                this.file = path.join(p.logDir, 'chaos-schedule.json');
                this.running = false;
                this.t0 = 0;
                this.errors = [];
        }

        between([lo, hi]) {
                return Math.round(lo + this.r() * (hi - lo));
        }

        save() {
                fs.writeFileSync(this.file, `${JSON.stringify({ seed: this.seed, targets: this.targets, faults: this.schedule }, null, 1)}\n`);
        }

        counts() {
                const c = {};
                for (const f of this.schedule) c[`${f.fault}:${f.target}`] = (c[`${f.fault}:${f.target}`] || 0) + 1;
                return c;
        }

        // Every pid of process `name`: PostgreSQL's postmaster and its children, else the one child.
        pids(name) {
                const proc = this.p.find(name)[0];
                if (!proc.alive()) return [];
                const main = proc.child.pid;
                return name === 'postgres' ? [main, ...childrenOf(main)] : [main];
        }

        // Starts `name` again, retrying: a PostgreSQL killed a moment ago may refuse to start while its old
        // shared memory is still being released.
        async revive(name) {
                let last;
                for (let i = 0; i < 5; i++) {
                        try {
                                await this.p.start(name);
                                return;
                        } catch (e) {
                                last = e;
                                await sleep(500);
                        }
                }
                throw last;
        }

        // One fault on `target`; resolves once the target is serving again.
        async inject(fault, target) {
                const entry = { n: this.schedule.length + 1, at_ms: Date.now() - this.t0, target, fault };
                this.schedule.push(entry);
                const t = Date.now();
                if (fault === 'kill') {
                        entry.hold_ms = this.between(this.downMs);
                        const others = target === 'postgres' ? this.pids(target).slice(1) : [];
                        signalAll(others, 'SIGKILL');
                        await this.p.kill(target, 'SIGKILL');
                        await sleep(entry.hold_ms);
                        await this.revive(target);
                } else if (fault === 'partition') {
                        entry.hold_ms = this.between(this.partitionMs);
                        await this.links[target].partition(entry.hold_ms);
                } else if (fault === 'delay') {
                        entry.delay_ms = this.between(this.delayMs);
                        entry.hold_ms = this.between(this.delayForMs);
                        await this.links[target].delay(entry.delay_ms, entry.hold_ms);
                } else if (fault === 'sever') {
                        entry.hold_ms = 0;
                        entry.severed = Number(await this.p.sql(
                                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = 'food' AND pid <> pg_backend_pid() AND backend_type = 'client backend'"));
                } else {
                        entry.hold_ms = this.between(this.pauseMs);
                        const pids = this.pids(target);
                        signalAll(pids, 'SIGSTOP');
                        await sleep(entry.hold_ms);
                        signalAll(pids, 'SIGCONT');
                }
                entry.recovered_ms = Date.now() - t;
                const what = fault === 'sever' ? `${entry.severed} sessions cut`
                        : fault === 'delay' ? `every byte ${entry.delay_ms} ms late for ${entry.hold_ms} ms`
                                : `held ${entry.hold_ms} ms, serving again after ${entry.recovered_ms} ms`;
                console.log(`# chaos #${entry.n} +${(entry.at_ms / 1000).toFixed(1)}s ${fault} ${target} (${what})`);
                this.save();
        }

        // Starts injecting faults in the background until stop().
        start() {
                this.running = true;
                this.t0 = Date.now();
                console.log(`# chaos: SEED=${this.seed}, targets ${this.targets.join(' ')}; schedule in ${this.file}`);
                this.loop = (async () => {
                        while (this.running) {
                                await sleep(this.between(this.gapMs));
                                if (!this.running) break;
                                const fault = pick(this.r, this.faults);
                                let target = this.targets[Math.floor(this.r() * this.targets.length)];
                                if (fault === 'sever') target = 'postgres';
                                const links = Object.keys(this.links);
                                if ((fault === 'partition' || fault === 'delay') && links.length) target = links[Math.floor(this.r() * links.length)];
                                try {
                                        await this.inject(fault, target);
                                } catch (e) {
                                        this.schedule[this.schedule.length - 1].error = e.message.split('\n')[0];
                                        this.errors.push(e);
                                        this.save();
                                        console.error(`# chaos: ${fault} ${target} did not recover: ${e.message}`);
                                        this.running = false;
                                }
                        }
                })();
        }

        // Stops after the fault in progress (every process serving again); resolves to the schedule. Throws when
        // a process did not come back.
        async stop() {
                this.running = false;
                await this.loop;
                this.save();
                if (this.errors.length) throw this.errors[0];
                return this.schedule;
        }
}
