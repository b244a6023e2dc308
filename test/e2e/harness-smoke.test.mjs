// The harness itself: a nats-server with JetStream and a fresh PostgreSQL cluster start, answer, restart and stop cleanly.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { startPlatform } from '../harness.mjs';

// The first line a NATS server sends to a new client: INFO {...}.
function natsInfo(url) {
        const { hostname, port } = new URL(url);
        return new Promise((resolve, reject) => {
                const s = net.connect(Number(port), hostname);
                let buf = '';
                s.setTimeout(5000, () => { s.destroy(); reject(new Error('no INFO from nats-server in 5 s')); });
                s.on('data', (d) => {
                        buf += d;
                        const i = buf.indexOf('\r\n');
                        if (i < 0) return;
                        s.destroy();
                        const line = buf.slice(0, i);
                        if (!line.startsWith('INFO ')) return reject(new Error(`expected INFO, got ${line}`));
                        resolve(JSON.parse(line.slice(5)));
                });
                s.on('error', reject);
        });
}

describe('harness: nats-server + PostgreSQL', () => {
        let p;
        before(async () => { p = await startPlatform({ name: 'harness-smoke', only: ['nats', 'pg'] }); });
        after(async () => { await p?.stop(); });

        it('nats-server answers on 127.0.0.1 with JetStream enabled', async () => {
                assert.match(p.natsUrl, /^nats:\/\/127\.0\.0\.1:\d+$/);
                const info = await natsInfo(p.natsUrl);
                assert.equal(info.jetstream, true, `INFO: ${JSON.stringify(info)}`);
                const jsz = await (await fetch(`${p.natsMonitorUrl}/jsz`)).json();
                assert.ok(jsz.config?.store_dir?.startsWith(p.dir), `store_dir ${jsz.config?.store_dir} outside ${p.dir}`);
        });

        it('PostgreSQL answers on 127.0.0.1 with database food owned by role food', async () => {
                assert.equal(await p.sql('SELECT 1'), '1');
                assert.equal(await p.sql("SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = 'food'"), 'food');
                assert.equal(await p.sql('SHOW listen_addresses'), '127.0.0.1');
                // The services' own URL works: role food can create its schema in its database.
                assert.match(p.databaseUrl, /^postgresql:\/\/food@127\.0\.0\.1:\d+\/food$/);
                await p.sql('SET ROLE food; CREATE SCHEMA smoke; CREATE TABLE smoke.t (x int); DROP SCHEMA smoke CASCADE');
        });

        it('a process stops and starts again with its state kept', async () => {
                const [exit] = await p.kill('nats');
                assert.equal(exit.killed, false, 'nats-server needed SIGKILL');
                await assert.rejects(natsInfo(p.natsUrl));
                await p.start('nats');
                assert.equal((await natsInfo(p.natsUrl)).jetstream, true);
                await p.sql('CREATE TABLE kept (x int)');
                await p.kill('postgres');
                await p.start('postgres');
                assert.equal(await p.sql("SELECT count(*) FROM pg_tables WHERE tablename = 'kept'"), '1');
        });

        it('waitFor polls until a value, and times out with the last error', async () => {
                let n = 0;
                assert.equal(await p.waitFor(() => ++n >= 3 && n, 2000, 10), 3);
                await assert.rejects(p.waitFor(() => { throw new Error('never'); }, 200, 10), /still failing after 200 ms: never/);
        });

        it('stop ends every process cleanly and removes the temporary folder', async () => {
                const { exits } = await p.stop();
                for (const [name, e] of Object.entries(exits)) {
                        assert.equal(e.killed, false, `${name} needed SIGKILL`);
                        assert.equal(e.code, 0, `${name} exit ${JSON.stringify(e)}`);
                }
                assert.equal(fs.existsSync(p.dir), false);
        });
});

describe('harness: stop() fails the file on a crash or a sanitizer report', () => {
        it('reports a process that died on its own', async () => {
                const p = await startPlatform({ name: 'harness-smoke-crash', only: ['nats'] });
                const [nats] = p.find('nats');
                process.kill(nats.child.pid, 'SIGKILL');
                await nats.exited;
                await assert.rejects(p.stop(), /crash: nats .*exited unexpectedly: code null signal SIGKILL/);
        });

        it('reports a sanitizer line in a process log', async () => {
                const p = await startPlatform({ name: 'harness-smoke-sanitizer', only: ['nats'] });
                fs.appendFileSync(p.find('nats')[0].log, '==1==ERROR: AddressSanitizer: heap-use-after-free on address 0x1\n');
                await assert.rejects(p.stop(), /sanitizer: nats: ==1==ERROR: AddressSanitizer: heap-use-after-free/);
        });

        it('reports a NATS permission violation in nats-server\'s log, unless the test expected it', async () => {
                const line = '[1] 2026/01/01 00:00:00.000000 [ERR] 127.0.0.1:1 - cid:9 - "%s" - Publish Violation - User "payment", Subject "food.cmd.x"\n';
                const p = await startPlatform({ name: 'harness-smoke-violation', only: ['nats'] });
                fs.appendFileSync(p.find('nats')[0].log, line.replace('%s', 'payment'));
                await assert.rejects(p.stop(), /nats permission violation: .*Publish Violation - User "payment"/);
                const q = await startPlatform({ name: 'harness-smoke-violation-expected', only: ['nats'] });
                q.expectNatsViolation(/"probe"/);
                fs.appendFileSync(q.find('nats')[0].log, line.replace('%s', 'probe'));
                await q.stop();
        });
});
