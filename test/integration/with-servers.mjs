// Runs a test program against a private nats-server and PostgreSQL started by
// the one test harness (test/harness.mjs), with NATS_URL and DATABASE_URL set.
// usage: node with-servers.mjs PROGRAM [ARGS...]; exits with the program's status.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { startPlatform } from '../harness.mjs';

const [program, ...args] = process.argv.slice(2);
const p = await startPlatform({ name: path.basename(program), only: ['nats', 'pg'] });
let code = 1;
try {
        code = await new Promise((resolve) => {
                const child = spawn(program, args, {
                        stdio: 'inherit',
                        env: { ...process.env, NATS_URL: p.natsUrl, DATABASE_URL: p.databaseUrl },
                });
                child.on('exit', (c, signal) => resolve(signal ? 1 : c));
                child.on('error', () => resolve(127));
        });
} finally {
        await p.stop();
}
process.exit(code);
