// What replication costs per order: runs food-bench against a platform that test/harness.mjs starts from
// $BUILD_DIR (default build/) on 127.0.0.1, either on one nats-server and one PostgreSQL (REPLICATED=0) or on a
// three-node JetStream cluster with every stream at three replicas and a PostgreSQL primary with a synchronous
// standby (REPLICATED=1, the default). PostgreSQL runs with local mode's settings (fsync and synchronous_commit on,
// shared_buffers 512 MB, pg_stat_statements), so the two runs differ only in replication. CPU is counted for every
// process of the platform (each nats-server, the primary and the standby with their backends) except the sandbox
// provider and the driver; the report is food-bench's.
//
//   REPLICATED=0 node bench/replicated.mjs -c 32 -d 20     # arguments after the script go to food-bench
//   REPLICATED=1 node bench/replicated.mjs -c 32 -d 20
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { BUILD_DIR, startPlatform } from '../test/harness.mjs';

const replicated = process.env.REPLICATED !== '0';
const args = process.argv.slice(2);
const p = await startPlatform({
        name: replicated ? 'bench-replicated' : 'bench-single',
        ...(replicated ? { natsCluster: 3, pgStandby: true } : {}),
        pgSettings: { fsync: 'on', synchronous_commit: 'on', full_page_writes: 'on', shared_buffers: '512MB', max_wal_size: '4GB',
                checkpoint_timeout: '15min', shared_preload_libraries: 'pg_stat_statements' },
        env: { all: { LOG_LEVEL: 'warn' } },
});
let code = 1;
const pids = fs.mkdtempSync(path.join(os.tmpdir(), 'food-bench-pids-'));
try {
        await p.sql('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
        for (const proc of p.procs) {
                if (proc.name === 'sandbox-psp' || !proc.alive()) continue;
                fs.writeFileSync(path.join(pids, `${proc.name}.pid`), `${proc.child.pid}\n`);
        }
        console.error(`# ${replicated ? '3 nats-servers (R3 streams), PostgreSQL primary + synchronous standby' : 'one nats-server, one PostgreSQL'}`);
        // Warm-up load first, as the README's benchmark runs do.
        const bench = path.join(BUILD_DIR, 'bench/food-bench');
        const common = ['--url', p.url, '--nats-monitor', p.natsMonitorUrl,
                '--database', `postgresql://postgres@127.0.0.1:${p.pgPort}/food`, '--pids-from', pids];
        spawnSync(bench, [...common, '-c', '32', '-d', '10'], { stdio: 'ignore' });
        const r = spawnSync(bench, [...common, ...args], { stdio: 'inherit' });
        code = r.status ?? 1;
} finally {
        fs.rmSync(pids, { recursive: true, force: true });
        await p.stop();
}
process.exit(code);
