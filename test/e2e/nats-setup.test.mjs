// The operators' set-up step (lib/food-setup.c) against a real nats-server: it creates every stream and durable of
// the topology, applies the per-stream limits it is given (STREAM_<NAME>_MAX_AGE_S, _MAX_BYTES, _REPLICAS: the
// chart's `streams` values) on every run, so a run without them puts the topology's back, and refuses a bad
// setting with the variable's name, changing nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startBareNats } from '../harness.mjs';

// lib/topology.c's streams and durables (e2e-nats-permissions and the helm suite hold the table to the same names).
const STREAMS = ['FOOD_ADVISORY', 'FOOD_CMD', 'FOOD_DLQ', 'FOOD_ORDER'];
const DURABLES = ['coupon', 'delivery', 'notification', 'payment', 'store'];
const NS = 1e9;

describe('food-setup', () => {
        let dir, nats, monitor, runSetup;
        before(async () => {
                dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nats-setup-'));
                nats = await startBareNats(dir);
                ({ monitor, runSetup } = nats);
        });
        after(() => {
                nats?.stop();
                if (dir) fs.rmSync(dir, { recursive: true, force: true });
        });

        // name -> {config, consumers: [durable names]}
        const streams = async () => {
                const jsz = await (await fetch(`${monitor}/jsz?streams=true&consumers=true&config=true`)).json();
                return Object.fromEntries((jsz.account_details || []).flatMap((a) => a.stream_detail || [])
                        .map((s) => [s.name, { config: s.config, consumers: (s.consumer_detail || []).map((c) => c.name).sort() }]));
        };

        it('creates the topology\'s streams and durables with its settings', async () => {
                const r = await runSetup();
                assert.equal(r.code, 0, r.out);
                const s = await streams();
                assert.deepEqual(Object.keys(s).sort(), STREAMS);
                assert.deepEqual(s.FOOD_CMD.consumers, DURABLES);
                for (const st of Object.values(s)) {
                        assert.equal(st.config.max_bytes, -1, `${st.config.name}: unlimited by default`);
                        assert.equal(st.config.num_replicas, 1);
                }
                assert.equal(s.FOOD_ORDER.config.max_age, 365 * 86400 * NS, 'the archive keeps a year');
        });

        it('applies an operator\'s limits, and puts the topology\'s back when they are taken away', async () => {
                const set = await runSetup({ STREAM_FOOD_ORDER_MAX_BYTES: String(1 << 30), STREAM_FOOD_CMD_MAX_AGE_S: '3600' });
                assert.equal(set.code, 0, set.out);
                let s = await streams();
                assert.equal(s.FOOD_ORDER.config.max_bytes, 1 << 30);
                assert.equal(s.FOOD_CMD.config.max_age, 3600 * NS);
                assert.deepEqual(s.FOOD_CMD.consumers, DURABLES, 'the durables stay');
                const back = await runSetup();
                assert.equal(back.code, 0, back.out);
                s = await streams();
                assert.equal(s.FOOD_ORDER.config.max_bytes, -1);
                assert.equal(s.FOOD_CMD.config.max_age, 7 * 86400 * NS);
        });

        it('refuses a bad limit with the variable\'s name and changes nothing', async () => {
                const before = await streams();
                for (const [name, value, why] of [['STREAM_FOOD_DLQ_REPLICAS', '9', /STREAM_FOOD_DLQ_REPLICAS/],
                        ['STREAM_FOOD_ORDER_MAX_BYTES', '0', /STREAM_FOOD_ORDER_MAX_BYTES must be -1/],
                        ['STREAM_FOOD_CMD_MAX_AGE_S', 'week', /STREAM_FOOD_CMD_MAX_AGE_S/]]) {
                        const r = await runSetup({ [name]: value });
                        assert.equal(r.code, 2, `${name}=${value}: ${r.out}`);
                        assert.match(r.out, why);
                }
                assert.deepEqual(await streams(), before);
        });
});
