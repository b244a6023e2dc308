// The helm suite's static checks (no cluster): helm lint --strict, rendering with the default values and with
// external NATS/PostgreSQL (deploy/helm/food-saga/ci/external-values.yaml), every rendered object validated
// against the Kubernetes schemas (npm kubernetes-models@4), assertions on the manifests against the binaries'
// real ports, environment and PostgreSQL use, the NATS users against the topology (lib/topology.c), NOTES.txt,
// the Dockerfile, and openapi.yaml through @redocly/cli.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import YAML from 'yaml';
import { ROOT, CHART, REGISTRY, helm, render, topology, natsAuth, subjectMatches } from './tools.mjs';

const EXTERNAL = path.join(CHART, 'ci/external-values.yaml');
const read = (p) => fs.readFileSync(path.join(ROOT, p), 'utf8');

// The binaries, their Dockerfile targets, default ports and whether they use PostgreSQL, read from the code
// (main.c service_start calls — no schemas: no PostgreSQL — and config_port defaults) rather than restated here:
// service_start(svc, name, schemas, n, port), service_start_with(svc, name, backend, schemas, n, port, bind, port)
// (the gateway: no schemas), service_start_nats(svc, name, port).
function binaries() {
        const out = {};
        const mains = { gateway: 'gateway/main.c', orchestrator: 'orchestrator/main.c' };
        for (const d of fs.readdirSync(path.join(ROOT, 'services'))) {
                if (fs.existsSync(path.join(ROOT, 'services', d, 'main.c'))) mains[d] = `services/${d}/main.c`;
        }
        for (const [name, file] of Object.entries(mains)) {
                const src = read(file);
                const dir = path.dirname(file);
                const exe = [...read(`${dir}/meson.build`).matchAll(/executable\('([a-z-]+)'/g)].map((m) => m[1]).filter((e) => !e.startsWith('test-'));
                const m = src.match(/service_start(?:_nats)?\([^;]*?,\s*(\d+)\);/s);
                const start = src.match(/service_start\([^,]+,\s*"[^"]*",\s*([^,]+),\s*([^,]+),/)
                        || src.match(/service_start_with\([^,]+,\s*"[^"]*",\s*[^,]+,\s*([^,]+),\s*([^,]+),/);
                const database = start ? !(start[1].trim() === 'NULL' && start[2].trim() === '0') : false;
                out[name] = { exe, dir, healthPort: m ? Number(m[1]) : undefined, database };
        }
        out.gateway.port = Number(read('gateway/gateway-config.c').match(/config_port\("GATEWAY_PORT", (\d+)/)[1]);
        // sandbox_config(service, PREFIX, default port, ...) reads PREFIX_BIND, PREFIX_PORT and PREFIX_THREADS.
        out['sandbox-psp'].port = Number(read('services/sandbox-psp/main.c').match(/sandbox_config\("sandbox-psp", "SANDBOX_PSP", (\d+)/)[1]);
        return out;
}

// Every environment variable name the code reads through lib/config.h, plus libpq's PGPASSWORD.
function envNames() {
        const names = new Set(['PGPASSWORD', 'NATS_URL', 'DATABASE_URL', 'HEALTH_PORT', 'LOG_LEVEL']);
        const walk = (d) => {
                for (const e of fs.readdirSync(path.join(ROOT, d), { withFileTypes: true })) {
                        const p = `${d}/${e.name}`;
                        if (e.isDirectory()) {
                                walk(p);
                                continue;
                        }
                        if (!p.endsWith('.c') || e.name.startsWith('test-')) continue;
                        const src = read(p);
                        for (const m of src.matchAll(/config_(?:str|int|bool|port|choice)\("([A-Z0-9_]+)"/g)) names.add(m[1]);
                        // sandbox_config(service, PREFIX, ...) reads PREFIX_BIND, PREFIX_PORT and PREFIX_THREADS.
                        for (const m of src.matchAll(/sandbox_config\("[a-z-]+", "([A-Z0-9_]+)"/g))
                                for (const s of ['BIND', 'PORT', 'THREADS']) names.add(`${m[1]}_${s}`);
                }
        };
        for (const d of ['lib', 'gateway', 'orchestrator', 'services']) walk(d);
        return names;
}

// The env names each component reads itself (its folder's config_* calls), beside the common ones of lib/.
function componentEnvNames(dir) {
        const names = new Set();
        for (const f of fs.readdirSync(path.join(ROOT, dir))) {
                if (!f.endsWith('.c') || f.startsWith('test-')) continue;
                const src = read(`${dir}/${f}`);
                for (const m of src.matchAll(/config_(?:str|int|bool|port|choice)\("([A-Z0-9_]+)"/g)) names.add(m[1]);
                for (const m of src.matchAll(/sandbox_config\("[a-z-]+", "([A-Z0-9_]+)"/g))
                        for (const x of ['BIND', 'PORT', 'THREADS']) names.add(`${m[1]}_${x}`);
                // lib/worker.c's worker_config reads WORKER_THREADS and WORKER_BATCH for the worker calling it.
                if (/\bworker_config\(/.test(src)) for (const x of ['WORKER_THREADS', 'WORKER_BATCH']) names.add(x);
        }
        return names;
}

const BIN = binaries();
const ENV = envNames();
const TOPO = topology();
const WORKERS = TOPO.consumers.map((c) => c.durable); // one durable per worker, named after it
const READER = TOPO.readQueue; // the process answering the gateway's reads (food.read.*), its queue group named after it
const SERVICES = ['orchestrator', READER, ...WORKERS]; // the chart's `services`: every process but the gateway
const AUTH = natsAuth();
const RENDERS = { default: () => render(), external: () => render(['-f', EXTERNAL]) };
const cache = {};
const objects = (which) => (cache[which] ??= RENDERS[which]());
const byKind = (objs, kind) => objs.filter((o) => o.kind === kind);
const podSpecs = (objs) => objs.filter((o) => ['Deployment', 'StatefulSet'].includes(o.kind)).map((o) => [o, o.spec.template.spec]);
const component = (o) => o.metadata.labels?.['app.kubernetes.io/component'];

test('helm lint --strict passes with the default values and with external NATS/PostgreSQL', () => {
        for (const args of [[], ['-f', EXTERNAL]]) {
                const out = helm(['lint', '--strict', CHART, ...REGISTRY, ...args]);
                assert.match(out, /1 chart\(s\) linted, 0 chart\(s\) failed/, out);
        }
});

test('values.schema.json rejects unknown env names, writable root filesystems and missing external endpoints', () => {
        for (const bad of [['--set', 'services.store.env.NOT_READ_BY_ANYONE=1'], ['--set', 'securityContext.readOnlyRootFilesystem=false'],
                ['--set', 'nats.enabled=false'], ['--set', 'postgresql.enabled=false'], ['--set', 'secrets.jwtSecret=1', '--set', 'gateway.bogus=1']]) {
                assert.throws(() => render(bad), /schema/, `accepted ${bad.join(' ')}`);
        }
});

test('values.schema.json allows exactly the settings each binary reads (its own config_* names, less what the chart sets itself)', () => {
        const schema = JSON.parse(fs.readFileSync(path.join(CHART, 'values.schema.json'), 'utf8')).properties;
        // Set by the templates from other values (ports, URLs, the Secret), or for crash tests only (FOOD_CRASH_AT).
        // MIGRATIONS (check) and DEMO_CATALOG (demo.enabled) come from the chart's migration values.
        const chartSets = new Set(['GATEWAY_PORT', 'GATEWAY_BIND', 'JWT_SECRET', 'DEV_TOKENS', 'PSP_URL', 'PSP_API_KEY', 'NOTIFY_WEBHOOK_URL', 'NOTIFY_WEBHOOK_BATCH',
                'NOTIFY_API_KEY', 'SANDBOX_PSP_PORT', 'SANDBOX_PSP_BIND', 'FOOD_CRASH_AT', 'MIGRATIONS', 'DEMO_CATALOG']);
        const components = { gateway: schema.gateway, 'sandbox-psp': schema.sandboxPsp, ...schema.services.properties };
        assert.deepEqual(Object.keys(schema.services.properties).sort(), SERVICES.slice().sort(),
                'services: the orchestrator, the reader and every worker of the topology');
        for (const [name, node] of Object.entries(components)) {
                assert.ok(BIN[name], `values for ${name}, which has no binary`);
                const allowed = node.properties.env.propertyNames.enum.slice().sort();
                const reads = [...componentEnvNames(BIN[name].dir)].filter((n) => !chartSets.has(n)).sort();
                assert.deepEqual(allowed, reads, `${name}: the schema's env names vs the names ${BIN[name].dir}/ reads`);
        }
        const values = YAML.parse(fs.readFileSync(path.join(CHART, 'values.yaml'), 'utf8'));
        assert.deepEqual(Object.keys(values.services).sort(), SERVICES.slice().sort());
});

test('NATS users: auth.conf has one per process that connects, each worker pulls, acknowledges and dead-letters only its own durable; the Secret, the bundled nats-server and the test harness name the same users', () => {
        const P = TOPO.prefix;
        const users = Object.keys(AUTH).sort();
        assert.deepEqual(users, ['admin', 'gateway', ...SERVICES].sort(), 'auth.conf users');
        for (const u of users) assert.equal(AUTH[u].password, `$FOOD_NATS_PW_${u.toUpperCase()}`, `${u}: password variable`);
        const can = (user, kind, subject) => AUTH[user][kind] === null || AUTH[user][kind].some((p) => subjectMatches(p, subject));
        const directOf = (d) => TOPO.consumers.find((c) => c.durable === d).direct;
        assert.deepEqual(TOPO.consumers.filter((c) => c.direct).map((c) => c.durable), ['payment'], 'the workers with a direct lane');
        for (const { durable, stream, filter } of TOPO.consumers) {
                for (const subj of [`$JS.API.CONSUMER.MSG.NEXT.${stream}.${durable}`, `$JS.ACK.${stream}.${durable}.1.2.3.4.5`, `${P}.dlq.${durable}`, `${P}.ans.orch_1`])
                        assert.ok(can(durable, 'publish', subj), `${durable} may not publish ${subj}`);
                for (const other of TOPO.consumers.filter((c) => c.durable !== durable)) {
                        for (const subj of [`$JS.API.CONSUMER.MSG.NEXT.${other.stream}.${other.durable}`, `$JS.ACK.${other.stream}.${other.durable}.1.2.3.4.5`, `${P}.dlq.${other.durable}`])
                                assert.ok(!can(durable, 'publish', subj), `${durable} may publish ${subj} (another worker's lane)`);
                }
                for (const u of users.filter((x) => x !== 'admin' && x !== 'orchestrator'))
                        assert.ok(!can(u, 'publish', filter), `${u} may publish the ${durable} commands (${filter})`);
                assert.ok(can('orchestrator', 'publish', filter), `the orchestrator may not send ${filter}`);
                // Its direct lane (core NATS): the orchestrator alone sends there, the worker alone listens.
                const direct = `${P}.direct.${durable}`;
                for (const u of users.filter((x) => x !== 'admin')) {
                        assert.equal(can(u, 'publish', direct), directOf(durable) && u === 'orchestrator', `${u} publishing ${direct}`);
                        assert.equal(can(u, 'subscribe', direct), directOf(durable) && u === durable, `${u} subscribing to ${direct}`);
                }
        }
        for (const subj of [`${P}.rpc.orders.0.place`, `${P}.rpc.orders.15.saga`, TOPO.rpcStuck]) {
                assert.ok(can('gateway', 'publish', subj), `the gateway may not ask ${subj}`);
                assert.ok(can('orchestrator', 'subscribe', subj), `the orchestrator may not serve ${subj}`);
        }
        assert.ok(can('orchestrator', 'subscribe', `${P}.ans.orch_1`), 'the orchestrator takes its answers');
        assert.ok(can('orchestrator', 'publish', `${P}.order.ord_1.status`), 'the orchestrator publishes status events');
        for (const u of users.filter((x) => x !== 'admin' && x !== 'orchestrator')) assert.ok(!can(u, 'publish', `${P}.order.ord_1.status`), `${u} may publish status events`);
        assert.ok(can('gateway', 'subscribe', `${P}.order.ord_1.status`), 'the gateway follows status events (SSE)');
        // The gateway's reads: it alone asks food.read.<query>, the reader alone serves them and answers into the
        // gateway's inbox, which only the orchestrator (RPC answers) and the reader may publish into.
        const readQuery = `${P}.read.order`;
        assert.ok(subjectMatches(TOPO.readSubjects, readQuery), `${TOPO.readSubjects} vs ${readQuery}`);
        assert.ok(can('gateway', 'publish', readQuery), `the gateway may not ask ${readQuery}`);
        assert.ok(can(READER, 'subscribe', readQuery), `the reader may not serve ${readQuery}`);
        assert.ok(can(READER, 'publish', '_INBOX_gateway.abc.1'), 'the reader may not answer the gateway');
        for (const u of users.filter((x) => x !== 'admin')) {
                if (u !== 'gateway') assert.ok(!can(u, 'publish', readQuery), `${u} may ask the reader`);
                if (u !== READER) assert.ok(!can(u, 'subscribe', readQuery), `${u} may serve the gateway's reads`);
                if (u !== READER && u !== 'orchestrator') assert.ok(!can(u, 'publish', '_INBOX_gateway.abc.1'), `${u} may publish into the gateway's inbox`);
        }
        // Every stream a user may touch exists in the topology.
        const streams = new Set(TOPO.streams.map((x) => x.name));
        for (const u of users)
                for (const subj of AUTH[u].publish ?? [])
                        for (const m of subj.matchAll(/^\$JS\.(?:API\.CONSUMER\.(?:MSG\.NEXT|CREATE|DELETE)|ACK|FC|API\.STREAM\.MSG\.GET)\.([A-Z_]+)/g))
                                assert.ok(streams.has(m[1]), `${u}: ${subj} names ${m[1]}, not a stream of the topology`);

        const secretKeys = Object.keys(byKind(objects('default'), 'Secret')[0].data).filter((k) => k.startsWith('nats-password-')).sort();
        assert.deepEqual(secretKeys, users.map((u) => `nats-password-${u}`).sort(), 'the Secret\'s nats-password-<user> keys');
        const nats = byKind(objects('default'), 'StatefulSet').find((x) => x.metadata.labels['app.kubernetes.io/name'] === 'nats');
        const natsEnv = nats.spec.template.spec.containers[0].env.filter((e) => e.name.startsWith('FOOD_NATS_PW_'));
        assert.deepEqual(natsEnv.map((e) => e.name).sort(), users.map((u) => `FOOD_NATS_PW_${u.toUpperCase()}`).sort(), 'nats-server\'s password variables');
        for (const e of natsEnv) assert.equal(e.valueFrom.secretKeyRef.key, `nats-password-${e.name.slice('FOOD_NATS_PW_'.length).toLowerCase()}`);
        const harness = read('test/harness.mjs').match(/export const NATS_USERS = \[([^\]]*)\]/);
        assert.ok(harness, 'test/harness.mjs: NATS_USERS not found');
        assert.deepEqual([...harness[1].matchAll(/'([^']+)'/g)].map((m) => m[1]).sort(), users, 'test/harness.mjs NATS_USERS');
});

for (const which of Object.keys(RENDERS)) {
        test(`${which} render: every object validates against the Kubernetes schemas (kubernetes-models@4)`, async () => {
                const objs = objects(which);
                assert.ok(objs.length > 20, `only ${objs.length} objects`);
                for (const o of objs) {
                        const [group, version] = o.apiVersion.includes('/') ? o.apiVersion.split('/') : [null, o.apiVersion];
                        const mod = await import(`kubernetes-models/${group ? `${group}/` : ''}${version}/${o.kind}`);
                        const Model = mod[o.kind] ?? mod.default;
                        assert.ok(Model, `no model for ${o.apiVersion} ${o.kind}`);
                        assert.doesNotThrow(() => new Model(o).validate(), `${o.kind} ${o.metadata.name}`);
                }
        });

        test(`${which} render: every container has probes, resources, a non-root security context and a read-only root`, () => {
                for (const [o, spec] of podSpecs(objects(which))) {
                        for (const c of spec.containers) {
                                const where = `${o.kind} ${o.metadata.name} container ${c.name}`;
                                assert.ok(c.livenessProbe && c.readinessProbe, `${where}: probes`);
                                assert.ok(c.resources?.requests?.cpu && c.resources?.requests?.memory && c.resources?.limits?.memory, `${where}: resources`);
                                assert.equal(c.securityContext?.readOnlyRootFilesystem, true, `${where}: readOnlyRootFilesystem`);
                                assert.equal(c.securityContext?.allowPrivilegeEscalation, false, `${where}: allowPrivilegeEscalation`);
                                const nonRoot = c.securityContext?.runAsNonRoot ?? spec.securityContext?.runAsNonRoot;
                                const uid = c.securityContext?.runAsUser ?? spec.securityContext?.runAsUser;
                                assert.equal(nonRoot, true, `${where}: runAsNonRoot`);
                                assert.ok(uid > 0, `${where}: runAsUser ${uid}`);
                                assert.deepEqual(c.securityContext?.capabilities?.drop, ['ALL'], `${where}: capabilities`);
                        }
                }
                for (const pod of byKind(objects(which), 'Pod')) {
                        for (const c of pod.spec.containers) {
                                assert.ok(c.resources?.limits, `test pod ${c.name}: resources`);
                                assert.equal(c.securityContext?.readOnlyRootFilesystem, true);
                                assert.equal(pod.spec.securityContext?.runAsNonRoot, true);
                        }
                }
        });

        test(`${which} render: food-saga containers use the real binaries' images, ports, env names and /healthz /readyz`, () => {
                const seen = new Set();
                for (const [o, spec] of podSpecs(objects(which))) {
                        const comp = component(o);
                        if (!o.metadata.labels['app.kubernetes.io/name']?.startsWith('food-saga')) continue;
                        const bin = BIN[comp];
                        assert.ok(bin, `${o.metadata.name}: component ${comp} has no binary`);
                        seen.add(comp);
                        const [c] = spec.containers;
                        const target = c.image.replace(/:[^/]*$/, '').split('/').pop();
                        assert.ok(bin.exe.includes(target), `${comp}: image target ${target} is none of ${bin.exe}`);
                        assert.match(read('deploy/docker/Dockerfile'), new RegExp(`^FROM runtime AS ${target}$`, 'm'), `${target}: no Dockerfile target`);
                        const env = Object.fromEntries((c.env || []).map((e) => [e.name, e]));
                        for (const name of Object.keys(env)) assert.ok(ENV.has(name), `${comp}: env ${name} is read by no code`);
                        const port = c.ports[0].containerPort;
                        if (comp === 'gateway') {
                                assert.equal(port, BIN.gateway.port);
                                assert.equal(env.GATEWAY_PORT.value, String(port));
                                assert.equal(env.JWT_SECRET.valueFrom.secretKeyRef.key, 'jwt-secret');
                                assert.equal(env.DEV_TOKENS.value, 'false', 'DEV_TOKENS off unless values turn it on');
                        } else if (comp === 'sandbox-psp') {
                                assert.equal(port, BIN['sandbox-psp'].port);
                                assert.equal(env.SANDBOX_PSP_PORT.value, String(port));
                        } else {
                                assert.equal(port, bin.healthPort, `${comp}: health port`);
                                assert.equal(env.HEALTH_PORT.value, String(port));
                        }
                        if (comp !== 'sandbox-psp') {
                                if (bin.database) {
                                        assert.equal(env.PGPASSWORD?.valueFrom.secretKeyRef.key, `database-password-${comp}`, `${comp}: PGPASSWORD, its own role's`);
                                        assert.match(env.DATABASE_URL?.value, new RegExp(`^postgresql://food_${comp}@`), `${comp}: DATABASE_URL, its own role`);
                                } else {
                                        assert.equal(env.PGPASSWORD, undefined, `${comp} uses no PostgreSQL: no database password`);
                                        assert.equal(env.DATABASE_URL, undefined, `${comp} uses no PostgreSQL: no DATABASE_URL`);
                                }
                                assert.equal(env.NATS_USER?.value, comp, `${comp}: its own NATS user`);
                                assert.ok(AUTH[comp], `${comp}: NATS user ${comp} is not in auth.conf`);
                                assert.equal(env.NATS_PASSWORD.valueFrom.secretKeyRef.key, `nats-password-${comp}`);
                                assert.equal(c.livenessProbe.httpGet.path, '/healthz');
                                assert.equal(c.readinessProbe.httpGet.path, '/readyz');
                                assert.equal(c.startupProbe.httpGet.path, '/healthz');
                                assert.equal(c.envFrom[0].configMapRef.name, 'rel-food-saga-config');
                        }
                        assert.equal(c.livenessProbe.httpGet.port, c.ports[0].name);
                }
                // The sandboxes are test stand-ins: the PSP is deployed on demand, the notification sink never.
                const expected = Object.keys(BIN).filter((b) => !b.startsWith('sandbox-'));
                for (const b of expected) assert.ok(seen.has(b), `no Deployment runs ${b}`);
                assert.equal(seen.has('sandbox-psp'), which === 'external', 'the sandbox PSP only when values enable it');
                const cm = byKind(objects(which), 'ConfigMap').find((x) => x.metadata.name === 'rel-food-saga-config');
                for (const k of Object.keys(cm.data)) assert.ok(ENV.has(k), `ConfigMap key ${k} is read by no code`);
                assert.equal(cm.data.HEALTH_BIND, '0.0.0.0');
                assert.equal(cm.data.SCHED_POLICY, 'batch', 'every process under SCHED_BATCH unless told otherwise');
                assert.equal(cm.data.DATABASE_URL, undefined, 'DATABASE_URL is each process\'s own, not shared');
                assert.equal(cm.data.NATS_URL, which === 'default' ? 'nats://rel-nats:4222' : 'tls://nats.messaging.svc:4222');
        });

        test(`${which} render: HPAs target the gateway's, the reader's and every worker's Deployment`, () => {
                const objs = objects(which);
                const deployments = new Set(byKind(objs, 'Deployment').map((d) => d.metadata.name));
                const hpas = byKind(objs, 'HorizontalPodAutoscaler');
                for (const h of hpas) {
                        assert.equal(h.apiVersion, 'autoscaling/v2');
                        assert.ok(deployments.has(h.spec.scaleTargetRef.name), `HPA ${h.metadata.name} targets ${h.spec.scaleTargetRef.name}`);
                        const d = byKind(objs, 'Deployment').find((x) => x.metadata.name === h.spec.scaleTargetRef.name);
                        assert.equal(d.spec.replicas, undefined, `${d.metadata.name}: replicas left to the HPA`);
                }
                const targets = new Set(hpas.map((h) => component(h)));
                assert.deepEqual([...targets].sort(), ['gateway', READER, ...WORKERS].sort(), 'HPAs: the gateway, the reader and every worker of the topology');
                const pdbs = byKind(objs, 'PodDisruptionBudget').filter((p) => p.metadata.labels['app.kubernetes.io/name'] === 'food-saga');
                assert.deepEqual(pdbs.map((p) => component(p)).sort(), ['gateway', ...SERVICES].sort(),
                        'PDBs: the gateway, the orchestrator, the reader and every worker');
                for (const p of pdbs) {
                        const d = byKind(objs, 'Deployment').find((x) => component(x) === component(p));
                        assert.ok(d, `PDB ${p.metadata.name} selects no Deployment`);
                        assert.deepEqual(p.spec.selector.matchLabels, d.spec.selector.matchLabels, `PDB ${p.metadata.name}`);
                }
        });

        test(`${which} render: only the gateway takes traffic from outside and reaches only NATS; the reader and the workers reach NATS and (unless stateless) PostgreSQL, payment also the PSP, notification its webhook`, () => {
                const objs = objects(which);
                const policies = byKind(objs, 'NetworkPolicy');
                const pol = (c) => policies.find((p) => p.spec.podSelector.matchLabels?.['app.kubernetes.io/component'] === c);
                // Every food-saga pod is selected by a policy with both directions.
                for (const [o] of podSpecs(objs)) {
                        const labels = o.spec.template.metadata.labels;
                        const p = policies.find((x) => Object.entries(x.spec.podSelector.matchLabels).every(([k, v]) => labels[k] === v));
                        assert.ok(p, `${o.metadata.name}: no NetworkPolicy`);
                        assert.deepEqual(p.spec.policyTypes, ['Ingress', 'Egress']);
                }
                const gw = pol('gateway');
                assert.equal(gw.spec.ingress.length, 1);
                assert.deepEqual(gw.spec.ingress[0].ports, [{ port: 'http', protocol: 'TCP' }]);
                const peerPorts = (p) => p.spec.egress.flatMap((e) => (e.ports || []).map((x) => x.port));
                assert.deepEqual(peerPorts(gw).sort(), [4222, 53, 53].sort(), 'the gateway: NATS and DNS only (its reads are the reader\'s)');
                for (const c of SERVICES) {
                        const p = pol(c);
                        assert.ok(p, `no policy for ${c}`);
                        // No ingress from anywhere but the configured metrics scrapers on the health port.
                        for (const rule of p.spec.ingress) {
                                assert.ok(rule.from?.length > 0, `${c}: ingress open to everyone`);
                                assert.deepEqual(rule.ports, [{ port: 'health', protocol: 'TCP' }]);
                        }
                        if (which === 'default') assert.deepEqual(p.spec.ingress, [], `${c}: no ingress by default`);
                        const ports = peerPorts(p).sort();
                        const want = [4222, 53, 53];
                        if (BIN[c].database) want.push(5432);
                        if (c === 'payment') want.push(which === 'external' ? 8091 : 443); // sandbox PSP pod, or the provider
                        if (c === 'notification' && which === 'external') want.push(443); // notify.webhookUrl set
                        assert.deepEqual(ports, want.sort(), `${c}: egress ports`);
                        for (const e of p.spec.egress) {
                                const ps = (e.ports || []).map((x) => x.port);
                                if (ps.includes(53)) continue;
                                assert.ok(e.to?.length > 0, `${c}: egress on ${ps} open to everyone`);
                        }
                }
                if (which === 'default') {
                        for (const e of pol('store').spec.egress.filter((x) => x.to)) assert.ok(e.to[0].podSelector, 'bundled NATS/PG by pod selector');
                        const pgPeer = (c) => pol(c).spec.egress.some((e) => e.to?.some((t) => t.podSelector?.matchLabels['app.kubernetes.io/name'] === 'postgresql'));
                        for (const c of ['gateway', ...SERVICES]) assert.equal(pgPeer(c), BIN[c].database, `${c}: egress to PostgreSQL iff it uses it`);
                        for (const name of ['nats', 'postgresql']) {
                                const p = policies.find((x) => x.spec.podSelector.matchLabels['app.kubernetes.io/name'] === name);
                                assert.equal(p.spec.ingress[0].from[0].podSelector.matchLabels['app.kubernetes.io/instance'], 'rel');
                        }
                } else {
                        const cidrs = pol('store').spec.egress.flatMap((e) => (e.to || []).map((t) => t.ipBlock?.cidr));
                        assert.deepEqual(cidrs.sort(), ['10.20.0.0/16', '10.30.0.0/16']);
                }
        });

        test(`${which} render: the Ingress is the single entry point, to the gateway`, () => {
                const objs = objects(which);
                const [ing] = byKind(objs, 'Ingress');
                assert.ok(ing);
                for (const r of ing.spec.rules) for (const p of r.http.paths) assert.equal(p.backend.service.name, 'rel-food-saga-gateway');
                // ClusterIP, or headless (the NATS servers' names for their routes).
                for (const s of byKind(objs, 'Service')) assert.ok(s.spec.type === 'ClusterIP' || (s.spec.type === undefined && s.spec.clusterIP === 'None'), `${s.metadata.name}: ${s.spec.type}`);
                if (which === 'external') {
                        assert.equal(ing.spec.ingressClassName, 'traefik');
                        assert.deepEqual(ing.spec.tls, [{ secretName: 'food-tls', hosts: ['api.food.example'] }]);
                        assert.equal(ing.metadata.annotations['cert-manager.io/cluster-issuer'], 'letsencrypt-prod');
                } else {
                        assert.deepEqual(ing.spec.tls, [{ secretName: 'rel-food-saga-tls', hosts: ['food-saga.example.com'] }], 'TLS by default');
                        assert.equal(ing.metadata.annotations['nginx.ingress.kubernetes.io/force-ssl-redirect'], 'true');
                }
        });
}

test('no secret in plain values: values.yaml holds none, the Secret is generated or existing', () => {
        const values = YAML.parse(fs.readFileSync(path.join(CHART, 'values.yaml'), 'utf8'));
        assert.deepEqual(values.secrets, { jwtSecret: '', databasePassword: '', pspApiKey: '', notifyApiKey: '' });
        const secretKeys = Object.keys(byKind(objects('default'), 'Secret')[0].data);
        for (const c of Object.keys(BIN).filter((b) => BIN[b].database))
                assert.ok(secretKeys.includes(`database-password-${c}`), `the Secret has no database-password-${c}`);
        // And none for a role no process uses (database-password-gateway before the reader held the gateway's reads).
        for (const k of secretKeys.filter((x) => x.startsWith('database-password-'))) {
                const r = k.slice('database-password-'.length);
                assert.ok(r === 'migrator' || BIN[r]?.database, `the Secret has ${k}, which no process uses`);
        }
        const walk = (o, p) => {
                for (const [k, v] of Object.entries(o ?? {})) {
                        if (v && typeof v === 'object') walk(v, `${p}.${k}`);
                        else if (typeof v === 'string' && /secret|password|token|apikey/i.test(k) && k !== 'existingSecret' && k !== 'cardToken')
                                assert.equal(v, '', `${p}.${k} holds a value`);
                }
        };
        walk(values, 'values');
        const objs = objects('default');
        const [secret] = byKind(objs, 'Secret');
        assert.ok(Buffer.from(secret.data['jwt-secret'], 'base64').length >= 32);
        assert.ok(Buffer.from(secret.data['database-password'], 'base64').length >= 16);
        for (const o of objs) {
                if (o.kind === 'Secret') continue;
                const text = JSON.stringify(o);
                assert.ok(!text.includes(secret.data['jwt-secret']) && !text.includes(Buffer.from(secret.data['jwt-secret'], 'base64').toString()), `${o.kind} ${o.metadata.name} holds the JWT secret`);
        }
        const ext = objects('external');
        assert.equal(byKind(ext, 'Secret').length, 0, 'existingSecret: no Secret created');
        for (const [, spec] of podSpecs(ext))
                for (const c of spec.containers)
                        for (const e of c.env || []) if (e.valueFrom?.secretKeyRef) assert.equal(e.valueFrom.secretKeyRef.name, 'food-saga-prod-secrets');
});

test('the helm test hook places and follows an order only when a card can be paid', () => {
        const hook = (objs) => byKind(objs, 'Pod').find((p) => p.metadata.annotations['helm.sh/hook'] === 'test');
        const d = hook(objects('default'));
        const e = hook(objects('external'));
        const card = (p) => p.spec.containers[0].env.find((x) => x.name === 'CARD_TOKEN').value;
        for (const p of [d, e]) {
                // Pinned by digest; the signing key only in the init container, which shares nothing but the tokens.
                for (const c of [...p.spec.initContainers, ...p.spec.containers]) assert.match(c.image, /^[^@\s]+@sha256:[0-9a-f]{64}$/, `${c.name}: image not pinned by digest`);
                const [mint] = p.spec.initContainers;
                assert.equal(mint.env.find((x) => x.name === 'JWT_SECRET').valueFrom.secretKeyRef.key, 'jwt-secret');
                for (const c of p.spec.containers) {
                        assert.ok(!JSON.stringify(c).includes('jwt-secret') && !(c.env || []).some((x) => /JWT/.test(x.name)), `${c.name}: holds the signing key`);
                        assert.ok(!(c.envFrom || []).length, `${c.name}: envFrom`);
                        assert.deepEqual(c.volumeMounts.map((m) => m.name).sort(), ['scripts', 'tokens']);
                        assert.ok(c.volumeMounts.every((m) => m.readOnly), `${c.name}: writable mount`);
                }
                const vols = Object.fromEntries(p.spec.volumes.map((v) => [v.name, v]));
                assert.equal(vols.tokens.emptyDir.medium, 'Memory');
                assert.ok(!p.spec.volumes.some((v) => v.secret || v.projected), 'the test pod mounts a Secret');
                assert.equal(Number(mint.env.find((x) => x.name === 'TOKEN_TTL_S').value), 120 + 60, 'tokens live for the test\'s time only');
        }
        assert.throws(() => render(['--set', 'tests.image.digest=latest']), /schema/, 'a test image without a digest');
        assert.equal(card(d), '', 'no sandbox: no order against a real provider');
        assert.equal(card(e), 'tok_ok');
        assert.equal(d.spec.containers[0].env.find((x) => x.name === 'GATEWAY').value, 'http://rel-food-saga-gateway:8080');
        const cm = byKind(objects('default'), 'ConfigMap').find((x) => x.metadata.annotations?.['helm.sh/hook'] === 'test');
        assert.equal(cm.data['test-order.mjs'], fs.readFileSync(path.join(CHART, 'files/test-order.mjs'), 'utf8'));
        assert.equal(cm.data['mint-test-tokens.mjs'], fs.readFileSync(path.join(CHART, 'files/mint-test-tokens.mjs'), 'utf8'));
        assert.doesNotMatch(cm.data['test-order.mjs'], /JWT_SECRET|createHmac/, 'the test script signs nothing');
});

// NOTES.txt as helm would print it after an install with `args`. helm renders NOTES only against a cluster; this
// renders it offline through tpl in a throwaway copy of the chart.
function notes(args = []) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'food-notes-'));
        try {
                fs.cpSync(CHART, path.join(dir, 'food-saga'), { recursive: true });
                const copy = path.join(dir, 'food-saga');
                fs.copyFileSync(path.join(copy, 'templates/NOTES.txt'), path.join(copy, 'files/NOTES.txt'));
                fs.writeFileSync(path.join(copy, 'templates/zz-notes.yaml'),
                        'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: notes-render}\ndata:\n  notes: {{ tpl (.Files.Get "files/NOTES.txt") . | toJson }}\n');
                return render(['--show-only', 'templates/zz-notes.yaml', ...args], copy)[0].data.notes;
        } finally {
                fs.rmSync(dir, { recursive: true, force: true });
        }
}

test('NOTES.txt tells how to reach the API and how to use the nats CLI against the release', () => {
        const text = notes();
        for (const want of ['port-forward svc/rel-food-saga-gateway 8080:8080', 'https://food-saga.example.com/', 'nats stream ls',
                'nats consumer info FOOD_CMD payment', "nats sub 'food.>'", 'nats micro ls', 'natsio/nats-box', 'NATS_URL=nats://rel-nats:4222',
                'app.kubernetes.io/instance=rel', 'NO PAYMENT PROVIDER'])
                assert.ok(text.includes(want), `NOTES lacks ${want}:\n${text}`);
        assert.ok(!text.includes('DEV_TOKENS is ON'));
        const ls = text.match(/nats stream ls +# (.*)$/m);
        assert.deepEqual(ls?.[1].trim().split(/\s+/).sort(), TOPO.streams.map((x) => x.name).sort(), 'the streams NOTES lists are the topology\'s');
        for (const word of text.matchAll(/\bFOOD_[A-Z]+\b/g)) assert.ok(TOPO.streams.some((x) => x.name === word[0]), `NOTES names ${word[0]}, no stream of the topology`);
});

test('NOTES.txt labels the bundled PostgreSQL (and a one-server NATS) as development only, and says nothing of them when external', () => {
        const dev = notes();
        assert.match(dev, /DEVELOPMENT ONLY: the bundled PostgreSQL \(rel-postgresql\)/);
        assert.match(dev, /postgresql\.enabled=false, externalPostgresql/);
        assert.ok(!dev.includes('NATS is ONE server'), 'the default NATS is a cluster');
        assert.match(notes(['--set', 'nats.cluster.enabled=false']), /NATS is ONE server/);
        const prod = notes(['-f', EXTERNAL]);
        assert.ok(!prod.includes('DEVELOPMENT ONLY') && !prod.includes('NATS is ONE server'), `external servers, yet:\n${prod}`);
});

test('the Dockerfile: Debian 12 multi-stage, runtime packages from packages-run.txt, non-root, exec entrypoints, no HEALTHCHECK', () => {
        const df = read('deploy/docker/Dockerfile');
        assert.match(df, /^ARG DEBIAN_IMAGE=debian:12$/m);
        assert.match(df, /^ARG RUNTIME_IMAGE=debian:12-slim$/m);
        assert.match(df, /COPY deploy\/local\/packages-build\.txt/);
        assert.match(df, /COPY deploy\/local\/packages-run\.txt/);
        assert.doesNotMatch(df, /^\s*HEALTHCHECK/m);
        assert.match(df, /^USER 10001:10001$/m);
        const targets = [...df.matchAll(/^FROM runtime AS (\S+)$/gm)].map((m) => m[1]);
        const exes = Object.values(BIN).flatMap((b) => b.exe);
        for (const t of targets) {
                assert.ok(exes.includes(t), `target ${t} builds no known executable`);
                const block = df.slice(df.indexOf(`FROM runtime AS ${t}\n`)).split(/\n\n/)[0];
                assert.match(block, new RegExp(`^ENTRYPOINT \\["/usr/local/bin/${t}"\\]$`, 'm'), `${t}: exec-form entrypoint`);
        }
        for (const [name, b] of Object.entries(BIN)) assert.ok(b.exe.some((e) => targets.includes(e)), `no image for ${name}`);
        // Every executable the build stage builds and installs is one a meson.build defines, and every one copied
        // into an image was installed into /out.
        const built = df.match(/^ARG EXECUTABLES="([^"]*)"$/m)?.[1].split(/\s+/).filter((x) => x && x !== '\\');
        assert.ok(built?.length, 'ARG EXECUTABLES (the build stage\'s list) not found');
        for (const b of built) {
                const dir = path.dirname(b);
                assert.ok(fs.existsSync(path.join(ROOT, dir, 'meson.build')) && read(`${dir}/meson.build`).includes(`executable('${path.basename(b)}'`),
                        `the Dockerfile builds ${b}, which no ${dir}/meson.build defines`);
        }
        for (const m of df.matchAll(/^COPY --from=build (.+) \/usr\/local\/bin\/\S*$/gm))
                for (const src of m[1].split(/\s+/))
                        assert.ok(built.map((b) => `/out/${path.basename(b)}`).includes(src), `COPY ${src}: not built into /out`);
        // Every runtime library a binary links is on the runtime list (ldd of the built gateway and payment worker).
        const run = read('deploy/local/packages-run.txt');
        const libs = { 'libnats.so': 'libnats3.4', 'libprotobuf-c.so': 'libprotobuf-c1', 'libpq.so': 'libpq5', 'libcivetweb.so': 'libcivetweb1',
                'libjansson.so': 'libjansson4', 'libcurl.so': 'libcurl4', 'libssl.so': 'libssl3', 'libcrypto.so': 'libssl3' };
        const buildDir = path.resolve(ROOT, process.env.BUILD_DIR || 'build');
        for (const exe of ['gateway/gateway', 'services/payment/payment-worker']) {
                const bin = path.join(buildDir, exe);
                if (!fs.existsSync(bin)) continue;
                const ldd = execFileSync('ldd', [bin], { encoding: 'utf8' });
                for (const [so, pkg] of Object.entries(libs))
                        if (ldd.includes(so)) assert.match(run, new RegExp(`^${pkg}$`, 'm'), `${exe} links ${so}: ${pkg} missing from packages-run.txt`);
                // The gateway holds no PostgreSQL session: libpq and its chain (Kerberos, LDAP, GnuTLS) stay out of its memory.
                if (exe === 'gateway/gateway')
                        assert.doesNotMatch(ldd, /libpq\.so|libgnutls|libnettle/, `the gateway loads libpq's chain:\n${ldd}`);
        }
});

test('openapi.yaml passes @redocly/cli lint', () => {
        const bin = path.join(ROOT, 'test/helm/node_modules/.bin/redocly');
        try {
                execFileSync(bin, ['lint', '--format', 'stylish', path.join(ROOT, 'openapi.yaml')], { encoding: 'utf8', timeout: 120_000, stdio: ['ignore', 'pipe', 'pipe'] });
        } catch (e) {
                assert.fail(`redocly lint openapi.yaml:\n${e.stdout}${e.stderr}`);
        }
});

// The gateway's route table (gateway/gateway-router.c): [{method, pattern, devOnly}].
function gatewayRoutes() {
        const table = read('gateway/gateway-router.c').match(/static const Route router_routes\[\] = \{([\s\S]*?)\n\};/)[1];
        return [...table.matchAll(/\{"([A-Z]+)", "([^"]+)", [^,]+, \w+, (true|false)\}/g)].map((m) => ({ method: m[1], pattern: m[2], devOnly: m[3] === 'true' }));
}
// Whether a Kubernetes Ingress path reaches `url` (Prefix: whole segments; Exact: the path itself).
function ingressReaches(paths, url) {
        return paths.some((p) => (p.pathType === 'Exact' ? url === p.path
                : p.path === '/' || url === p.path || url.startsWith(`${p.path.replace(/\/$/, '')}/`)));
}

test('the Ingress routes every API and UI route of the gateway, and never /metrics, /healthz, /readyz (nor /auth/dev-token unless DEV_TOKENS)', () => {
        const routes = gatewayRoutes();
        assert.ok(routes.length > 20, `only ${routes.length} routes parsed`);
        const internal = ['/metrics', '/healthz', '/readyz'];
        for (const p of internal) assert.ok(routes.some((r) => r.pattern === p), `${p} is no gateway route any more`);
        for (const [args, devTokens] of [[[], false], [['--set', 'gateway.devTokens=true'], true], [['-f', EXTERNAL], false]]) {
                const [ing] = byKind(render(args), 'Ingress');
                for (const rule of ing.spec.rules) {
                        const paths = rule.http.paths;
                        for (const r of routes) {
                                const url = r.pattern.replace(/\*/g, 'x_1');
                                const want = !internal.includes(r.pattern) && (!r.devOnly || devTokens);
                                assert.equal(ingressReaches(paths, url), want, `${r.method} ${url} ${want ? 'not routed' : 'routed'} by the Ingress (${args.join(' ')})`);
                        }
                        for (const p of internal) for (const url of [p, `${p}/`, `${p}/x`]) assert.ok(!ingressReaches(paths, url), `${url} routed`);
                        assert.ok(!paths.some((p) => p.pathType === 'ImplementationSpecific'), 'ImplementationSpecific paths: matching left to the controller');
                }
        }
});

test('Ingress TLS: on by default, a named Secret or cert-manager, HSTS; turned off only explicitly', () => {
        const ing = (args) => byKind(render(args), 'Ingress')[0];
        const values = YAML.parse(fs.readFileSync(path.join(CHART, 'values.yaml'), 'utf8'));
        assert.equal(values.ingress.tls.enabled, true);
        assert.equal(values.ingress.hsts.enabled, true);
        const off = ing(['--set', 'ingress.tls.enabled=false']);
        assert.equal(off.spec.tls, undefined, 'ingress.tls.enabled=false: plain HTTP');
        assert.equal(off.metadata.annotations, undefined);
        const issuer = ing(['--set', 'ingress.tls.certManager.issuer=ca', '--set', 'ingress.tls.certManager.issuerKind=Issuer', '--set', 'ingress.tls.secretName=mine']);
        assert.equal(issuer.metadata.annotations['cert-manager.io/issuer'], 'ca');
        assert.equal(issuer.spec.tls[0].secretName, 'mine');
        const snippet = ing(['--set', 'ingress.hsts.nginxSnippet=true'])
                .metadata.annotations['nginx.ingress.kubernetes.io/configuration-snippet'];
        assert.equal(snippet, 'more_set_headers "Strict-Transport-Security: max-age=31536000; includeSubDomains";');
        assert.equal(ing(['--set', 'ingress.hsts.nginxSnippet=true', '--set', 'ingress.hsts.enabled=false'])
                .metadata.annotations['nginx.ingress.kubernetes.io/configuration-snippet'], undefined);
        assert.equal(ing(['--set-string', 'ingress.annotations.nginx\\.ingress\\.kubernetes\\.io/force-ssl-redirect=false'])
                .metadata.annotations['nginx.ingress.kubernetes.io/force-ssl-redirect'], 'false', 'values\' annotations win');
        assert.throws(() => render(['--set', 'ingress.tls=null']), /tls|schema/);
});

test('PostgreSQL: every process connects as its own role, never a superuser nor the bundled server\'s admin; the bundled server runs the roles script', () => {
        for (const which of Object.keys(RENDERS)) {
                const objs = objects(which);
                const pg = byKind(objs, 'StatefulSet').find((x) => x.metadata.labels['app.kubernetes.io/name'] === 'postgresql');
                const admin = pg?.spec.template.spec.containers[0].env.find((e) => e.name === 'POSTGRES_USER').value;
                const users = new Set();
                for (const [o, spec] of podSpecs(objs)) {
                        if (o === pg) continue;
                        for (const c of spec.containers) {
                                const env = Object.fromEntries((c.env || []).map((e) => [e.name, e]));
                                if (!env.DATABASE_URL) continue;
                                const url = new URL(env.DATABASE_URL.value);
                                const comp = component(o);
                                assert.equal(url.username, `food_${comp}`, `${comp}: DSN user`);
                                assert.ok(!['postgres', 'food', admin].includes(url.username), `${comp}: superuser or admin in the DSN`);
                                assert.equal(url.password, '', `${comp}: a password in the DSN`);
                                assert.equal(env.PGPASSWORD.valueFrom.secretKeyRef.key, `database-password-${comp}`);
                                users.add(url.username);
                        }
                }
                assert.deepEqual([...users].sort(), Object.keys(BIN).filter((b) => BIN[b].database).map((b) => `food_${b}`).sort(), `${which}: one role per stateful process`);
                for (const cm of byKind(objs, 'ConfigMap')) for (const v of Object.values(cm.data || {})) assert.doesNotMatch(String(v), /postgresql:\/\/(food|postgres)@/, `${cm.metadata.name}: admin DSN`);
                const roles = byKind(objs, 'ConfigMap').find((x) => x.metadata.name === 'rel-postgresql-roles');
                assert.equal(roles.data['postgresql-roles.sql'], fs.readFileSync(path.join(CHART, 'files/postgresql-roles.sql'), 'utf8'));
                if (which !== 'default') continue;
                const c = pg.spec.template.spec.containers[0];
                assert.deepEqual(c.env.filter((e) => e.name.startsWith('FOOD_PG_PW_')).map((e) => [e.name, e.valueFrom.secretKeyRef.key]).sort(),
                        [...users, 'food_migrator'].map((u) => u.slice('food_'.length)).map((s) => [`FOOD_PG_PW_${s.toUpperCase()}`, `database-password-${s}`]).sort());
                assert.match(c.lifecycle.postStart.exec.command.join(' '), /psql .*-f \/etc\/food-saga\/postgresql-roles\.sql/);
                assert.ok(c.volumeMounts.some((m) => m.mountPath === '/etc/food-saga' && pg.spec.template.spec.volumes.find((v) => v.name === m.name).configMap.name === 'rel-postgresql-roles'));
        }
});

test('external PostgreSQL: sslmode=verify-full with the CA Secret mounted as sslrootcert; verify-* without a CA is refused', () => {
        for (const [o, spec] of podSpecs(objects('external'))) {
                const [c] = spec.containers;
                const url = (c.env || []).find((e) => e.name === 'DATABASE_URL')?.value;
                if (!url) continue;
                const q = new URL(url).searchParams;
                assert.equal(q.get('sslmode'), 'verify-full', o.metadata.name);
                const mount = c.volumeMounts.find((m) => q.get('sslrootcert').startsWith(`${m.mountPath}/`));
                assert.ok(mount?.readOnly, `${o.metadata.name}: sslrootcert not on a read-only mount`);
                const vol = spec.volumes.find((v) => v.name === mount.name);
                assert.equal(vol.secret.secretName, 'pg-ca');
                assert.equal(`${mount.mountPath}/${vol.secret.items[0].path}`, q.get('sslrootcert'));
        }
        const ext = ['--set', 'postgresql.enabled=false', '--set', 'externalPostgresql.host=pg', '--set', 'externalPostgresql.maxConnections=300'];
        assert.throws(() => render([...ext, '--set', 'externalPostgresql.sslmode=verify-full']), /schema|caSecret/);
        const plain = render([...ext, '--set', 'externalPostgresql.sslmode=require']);
        for (const [o, spec] of podSpecs(plain)) assert.ok(!(spec.volumes || []).some((v) => v.name === 'postgresql-ca'), `${o.metadata.name}: a CA volume without caSecret`);
});

test('the set-up Job: food-setup as the NATS user admin, once per revision; no other pod has admin\'s credentials', () => {
        for (const which of ['default', 'external']) {
                const objs = objects(which);
                const jobs = byKind(objs, 'Job').filter((j) => component(j) === 'setup');
                assert.equal(jobs.length, 1, `${which}: one set-up Job`);
                const [job] = jobs;
                assert.match(job.metadata.name, /-setup-\d+$/, 'named after the revision: a new Job per install and upgrade');
                const c = job.spec.template.spec.containers[0];
                assert.deepEqual(c.command, ['/usr/local/bin/food-setup']);
                assert.equal(c.env.find((e) => e.name === 'NATS_USER').value, 'admin');
                assert.equal(c.env.find((e) => e.name === 'NATS_PASSWORD').valueFrom.secretKeyRef.key, 'nats-password-admin');
                assert.ok(!c.env.some((e) => /DATABASE|PGPASSWORD|JWT/.test(e.name)), 'the set-up Job gets NATS only');
                // Every client but the Job; the bundled nats-server itself holds every user's password.
                for (const [o, spec] of podSpecs(objs).filter(([o]) => !o.metadata.name.endsWith('-nats'))) {
                        for (const k of [...spec.containers, ...(spec.initContainers || [])]) {
                                const user = (k.env || []).find((e) => e.name === 'NATS_USER')?.value;
                                assert.notEqual(user, 'admin', `${which}: ${o.metadata.name} connects as admin`);
                                assert.ok(!(k.env || []).some((e) => e.valueFrom?.secretKeyRef?.key === 'nats-password-admin'), `${which}: ${o.metadata.name} holds admin's password`);
                        }
                }
        }
});

test('external NATS over TLS: every NATS client gets NATS_TLS_CA (and its client certificate) from read-only Secret mounts; none without', () => {
        const pods = [...podSpecs(objects('external')), ...byKind(objects('external'), 'Job').map((j) => [j, j.spec.template.spec])];
        let clients = 0;
        for (const [o, spec] of pods) {
                for (const c of spec.containers) {
                        const env = Object.fromEntries((c.env || []).filter((e) => 'value' in e).map((e) => [e.name, e.value]));
                        if (!(c.env || []).some((e) => e.name === 'NATS_USER')) continue;
                        clients++;
                        for (const [name, secret, key] of [['NATS_TLS_CA', 'nats-ca', 'ca.pem'], ['NATS_TLS_CERT', 'nats-client-tls', 'tls.crt'], ['NATS_TLS_KEY', 'nats-client-tls', 'tls.key']]) {
                                const file = env[name];
                                assert.ok(file, `${o.metadata.name}: no ${name}`);
                                const mount = (c.volumeMounts || []).find((m) => file.startsWith(`${m.mountPath}/`));
                                assert.ok(mount?.readOnly, `${o.metadata.name}: ${name}=${file} not on a read-only mount`);
                                const vol = spec.volumes.find((v) => v.name === mount.name);
                                assert.equal(vol.secret.secretName, secret, `${o.metadata.name}: ${name}`);
                                assert.ok(vol.secret.items.some((i) => i.key === key && `${mount.mountPath}/${i.path}` === file), `${o.metadata.name}: ${name} -> ${key}`);
                        }
                }
        }
        assert.ok(clients >= 8, `only ${clients} NATS clients rendered`);
        for (const [o, spec] of podSpecs(objects('default'))) {
                for (const c of spec.containers) assert.ok(!(c.env || []).some((e) => e.name.startsWith('NATS_TLS_')), `${o.metadata.name}: TLS settings for the bundled NATS`);
        }
        assert.throws(() => render(['--set', 'nats.enabled=false', '--set', 'externalNats.url=https://nats:4222']), /schema|pattern/);
});

test('streams as declared configuration: the set-up Job passes every stream\'s limits from values to food-setup', () => {
        const envOf = (objs) => Object.fromEntries(byKind(objs, 'Job').find((j) => component(j) === 'setup')
                .spec.template.spec.containers[0].env.filter((e) => e.name.startsWith('STREAM_')).map((e) => [e.name, e.value]));
        // The names food-setup reads (lib/food-setup.c), for each stream of the topology.
        const src = fs.readFileSync(path.join(ROOT, 'lib/food-setup.c'), 'utf8');
        const suffixes = [...src.matchAll(/"STREAM_%s_([A-Z_]+)"/g)].map((m) => m[1]).sort();
        assert.deepEqual(suffixes, ['MAX_AGE_S', 'MAX_BYTES', 'REPLICAS']);
        const defaults = envOf(objects('default'));
        assert.deepEqual(Object.keys(defaults).sort(), TOPO.streams.flatMap((st) => [`STREAM_${st.name}_MAX_BYTES`, `STREAM_${st.name}_REPLICAS`]).sort(),
                'every stream\'s size and replicas; its age only when set');
        const external = envOf(objects('external'));
        for (const st of TOPO.streams) {
                assert.equal(defaults[`STREAM_${st.name}_MAX_BYTES`], '-1');
                // replicas 0: one per NATS server, up to 3 — the bundled cluster's 3, the external one's clusterSize (3).
                assert.equal(defaults[`STREAM_${st.name}_REPLICAS`], '3');
                assert.equal(external[`STREAM_${st.name}_REPLICAS`], '3');
        }
        assert.equal(envOf(render(['--set', 'nats.cluster.enabled=false'])).STREAM_FOOD_CMD_REPLICAS, '1', 'one server: one replica');
        assert.equal(envOf(render(['--set', 'nats.replicas=5'])).STREAM_FOOD_CMD_REPLICAS, '3', 'five servers: still 3 unless asked');
        assert.equal(envOf(render(['--set', 'nats.replicas=5', '--set', 'streams.FOOD_ORDER.replicas=5'])).STREAM_FOOD_ORDER_REPLICAS, '5');
        const set = envOf(render(['--set', 'streams.FOOD_ORDER.maxBytes=10737418240', '--set', 'streams.FOOD_ORDER.maxAgeSeconds=7776000',
                '--set', 'streams.FOOD_CMD.replicas=3']));
        assert.equal(set.STREAM_FOOD_ORDER_MAX_BYTES, '10737418240');
        assert.equal(set.STREAM_FOOD_ORDER_MAX_AGE_S, '7776000');
        assert.equal(set.STREAM_FOOD_CMD_REPLICAS, '3');
        for (const bad of [['--set', 'streams.FOOD_ORDER.maxBytes=0'], ['--set', 'streams.FOOD_DLQ.replicas=7'], ['--set', 'streams.FOOD_NOPE.replicas=1']]) {
                assert.throws(() => render(bad), /schema|values don't meet/, `accepted ${bad.join(' ')}`);
        }
});

// The bundled NATS's objects in a render: {sts, conf, env (name -> entry), cm, pdb, policy, headless}.
function natsObjects(objs) {
        const isNats = (o) => o.metadata.labels?.['app.kubernetes.io/name'] === 'nats';
        const sts = byKind(objs, 'StatefulSet').find(isNats);
        const cm = byKind(objs, 'ConfigMap').find((o) => isNats(o) && o.data['nats.conf']);
        return {
                sts, cm, conf: cm.data['nats.conf'],
                env: Object.fromEntries(sts.spec.template.spec.containers[0].env.map((e) => [e.name, e])),
                pdb: byKind(objs, 'PodDisruptionBudget').find(isNats),
                policy: byKind(objs, 'NetworkPolicy').find(isNats),
                headless: byKind(objs, 'Service').find((o) => isNats(o) && o.spec.clusterIP === 'None'),
        };
}

test('bundled NATS, cluster mode (the default): 3 servers named after their pods, routes to every pod with their own login, PDB, lame duck, spread, route port open between them only', () => {
        for (const n of [3, 5]) {
                const objs = n === 3 ? objects('default') : render(['--set', `nats.replicas=${n}`]);
                const { sts, cm, conf, env, pdb, policy, headless } = natsObjects(objs);
                const spec = sts.spec.template.spec;
                const [c] = spec.containers;
                assert.equal(sts.spec.replicas, n);
                assert.equal(sts.spec.podManagementPolicy, 'Parallel', 'the servers start together: a cluster forms only with a majority');
                // The headless Service governs the pods' names and publishes them before they are ready.
                assert.equal(sts.spec.serviceName, headless?.metadata.name);
                assert.equal(headless.spec.publishNotReadyAddresses, true);
                assert.deepEqual(headless.spec.selector, sts.spec.selector.matchLabels);
                assert.ok(headless.spec.ports.some((p) => p.port === 6222 && p.targetPort === 'cluster'));
                assert.ok(c.ports.some((p) => p.name === 'cluster' && p.containerPort === 6222));
                // server_name is the pod's name.
                assert.ok(c.args.includes('--server_name=$(POD_NAME)'), c.args.join(' '));
                assert.equal(env.POD_NAME.valueFrom.fieldRef.fieldPath, 'metadata.name');
                assert.deepEqual(env.GOMAXPROCS?.valueFrom?.resourceFieldRef, { resource: 'limits.cpu', divisor: '1' },
                        'nats-server runs Go on as many threads as its CPU limit, not the node\'s cores');
                // The existing users stay (auth.conf included); the cluster block listens on 6222 and routes to every pod.
                assert.match(conf, /^include \.\/auth\.conf$/m);
                assert.equal(cm.data['auth.conf'].trim(), fs.readFileSync(path.join(CHART, 'charts/nats/files/auth.conf'), 'utf8').trim());
                const cluster = conf.match(/^cluster \{([\s\S]*)^\}/m)?.[1];
                assert.ok(cluster, `no cluster block:\n${conf}`);
                assert.match(cluster, /^\s*name: rel-nats$/m);
                assert.match(cluster, /^\s*listen: 0\.0\.0\.0:6222$/m);
                const routeVars = [...cluster.match(/routes: \[([\s\S]*?)\]/)[1].matchAll(/\$(\w+)/g)].map((m) => m[1]);
                assert.equal(routeVars.length, n);
                const hosts = routeVars.map((v) => {
                        assert.ok(env[v], `route variable ${v} not in nats-server's environment`);
                        // nats-server parses the variable as configuration: a quoted string, whose password Kubernetes fills in.
                        const m = env[v].value.match(/^"nats:\/\/route:\$\(FOOD_NATS_ROUTE_PASSWORD\)@([^:/]+):6222"$/);
                        assert.ok(m, `${v}=${env[v].value}`);
                        return m[1];
                });
                assert.deepEqual(hosts, [...Array(n).keys()].map((i) => `rel-nats-${i}.${headless.metadata.name}`), 'a route to every pod');
                // Routes log in as `route`, which is no client user; its password comes from the Secret, never the ConfigMap.
                assert.match(cluster, /authorization \{\s*user: route\s*password: \$FOOD_NATS_ROUTE_PASSWORD/);
                assert.ok(!AUTH.route, 'route is a client user of auth.conf');
                const names = c.env.map((e) => e.name);
                assert.ok(names.indexOf('FOOD_NATS_ROUTE_PASSWORD') < names.indexOf(routeVars[0]), 'Kubernetes expands $(VAR) of earlier variables only');
                assert.equal(env.FOOD_NATS_ROUTE_PASSWORD.valueFrom.secretKeyRef.key, 'nats-route-password');
                const [secret] = byKind(objs, 'Secret');
                const pw = Buffer.from(secret.data['nats-route-password'], 'base64').toString();
                assert.match(pw, /^[A-Za-z][A-Za-z0-9]{15,}$/, 'a letter first, letters and digits (it sits in a URL)');
                assert.ok(!JSON.stringify(cm).includes(pw), 'the route password in the ConfigMap');
                // PDB: one server at a time.
                assert.equal(pdb?.spec.maxUnavailable, 1);
                assert.deepEqual(pdb.spec.selector.matchLabels, sts.spec.selector.matchLabels);
                // Lame duck before stop: preStop signals ldm through the pid file nats.conf names; Kubernetes waits longer.
                assert.deepEqual(c.lifecycle.preStop.exec.command, ['nats-server', '--signal', 'ldm=/var/run/nats/nats.pid']);
                assert.match(conf, /^pid_file: \/var\/run\/nats\/nats\.pid$/m);
                assert.ok(c.volumeMounts.some((m) => m.mountPath === '/var/run/nats' && !m.readOnly), 'a writable pid directory');
                const duration = Number(conf.match(/^lame_duck_duration: (\d+)s$/m)?.[1]);
                const grace = Number(conf.match(/^lame_duck_grace_period: (\d+)s$/m)?.[1]);
                assert.ok(grace > 0 && grace < duration, `lame duck ${grace}s of ${duration}s`);
                assert.ok(spec.terminationGracePeriodSeconds > duration, `terminationGracePeriodSeconds ${spec.terminationGracePeriodSeconds} <= ${duration}`);
                // Spread over nodes; JetStream's store on each pod's own PVC.
                const [spread] = spec.topologySpreadConstraints;
                assert.equal(spread.topologyKey, 'kubernetes.io/hostname');
                assert.deepEqual(spread.labelSelector.matchLabels, sts.spec.selector.matchLabels);
                assert.ok(c.volumeMounts.some((m) => m.name === 'data' && m.mountPath === '/data') && c.args.includes('--store_dir=/data'));
                assert.equal(sts.spec.volumeClaimTemplates[0].metadata.name, 'data');
                // A server alone must not be restarted for want of JetStream's quorum.
                assert.match(c.livenessProbe.httpGet.path, /js-enabled-only=true/);
                // The route port is open between the NATS pods, and only to them; the clients' rule is unchanged.
                const sel = sts.spec.selector.matchLabels;
                const routeIn = policy.spec.ingress.find((r) => r.ports.some((p) => p.port === 'cluster'));
                assert.deepEqual(routeIn.from, [{ podSelector: { matchLabels: sel } }]);
                assert.deepEqual(routeIn.ports, [{ port: 'cluster', protocol: 'TCP' }]);
                const clientIn = policy.spec.ingress.find((r) => r.ports.some((p) => p.port === 'client'));
                assert.ok(!clientIn.ports.some((p) => p.port === 'cluster'), 'the route port open to every release pod');
                const routeOut = policy.spec.egress.find((r) => r.ports.some((p) => p.port === 6222));
                assert.deepEqual(routeOut.to, [{ podSelector: { matchLabels: sel } }]);
                assert.ok(policy.spec.egress.some((r) => !r.to && r.ports.some((p) => p.port === 53)), 'DNS, to resolve the routes');
        }
        assert.match(helm(['lint', '--strict', CHART, ...REGISTRY, '--set', 'nats.replicas=5']), /0 chart\(s\) failed/);
        assert.equal(byKind(objects('external'), 'StatefulSet').find((o) => o.metadata.labels['app.kubernetes.io/name'] === 'nats'), undefined);
        assert.equal(byKind(objects('external'), 'Secret').length, 0);
        assert.ok(!Object.keys(byKind(render(['--set', 'nats.enabled=false', '--set', 'externalNats.url=nats://n:4222']), 'Secret')[0].data).includes('nats-route-password'),
                'a route password without the bundled cluster');
});

test('bundled NATS with cluster.enabled=false: the one server as before (no routes, PDB, lame duck nor headless Service)', () => {
        const objs = render(['--set', 'nats.cluster.enabled=false']);
        const { sts, conf, env, pdb, policy, headless } = natsObjects(objs);
        assert.equal(sts.spec.replicas, 1);
        assert.equal(sts.spec.serviceName, 'rel-nats', 'the StatefulSet\'s immutable fields as before cluster mode');
        assert.equal(sts.spec.podManagementPolicy, undefined);
        assert.equal(conf.trim(), 'include ./auth.conf');
        assert.ok(sts.spec.template.spec.containers[0].args.includes('--server_name=rel-nats'));
        assert.ok(!Object.keys(env).some((k) => k.startsWith('FOOD_NATS_ROUTE')));
        assert.equal(env.GOMAXPROCS?.valueFrom?.resourceFieldRef?.resource, 'limits.cpu');
        assert.equal(pdb, undefined);
        assert.equal(headless, undefined);
        assert.deepEqual(policy.spec.egress, []);
        assert.ok(!Object.keys(byKind(objs, 'Secret')[0].data).includes('nats-route-password'));
});

test('the chart refuses stream replicas beyond the NATS servers, a cluster of fewer than 3, and a lame duck longer than Kubernetes waits', () => {
        const refused = [
                [['--set', 'nats.cluster.enabled=false', '--set', 'streams.FOOD_CMD.replicas=3'], /streams\.FOOD_CMD\.replicas=3 exceeds the 1 NATS server\(s\) of the bundled NATS/],
                [['--set', 'streams.FOOD_ORDER.replicas=5'], /streams\.FOOD_ORDER\.replicas=5 exceeds the 3 NATS server\(s\)/],
                [['-f', EXTERNAL, '--set', 'externalNats.clusterSize=1', '--set', 'streams.FOOD_DLQ.replicas=3'], /streams\.FOOD_DLQ\.replicas=3 exceeds the 1 NATS server\(s\) of the external NATS \(externalNats\.clusterSize\)/],
                [['--set', 'nats.replicas=2'], /nats\.replicas=2: cluster mode needs 3 servers or more/],
                [['--set', 'nats.cluster.terminationGracePeriodSeconds=30'], /terminationGracePeriodSeconds=30 must exceed nats\.cluster\.lameDuck\.durationSeconds=30/],
                [['--set', 'nats.cluster.lameDuck.gracePeriodSeconds=30'], /gracePeriodSeconds=30 must be below durationSeconds=30/],
                [['--set', 'streams.FOOD_CMD.replicas=-1'], /schema|values don't meet/],
                [['-f', EXTERNAL, '--set', 'externalNats.clusterSize=0'], /schema|values don't meet/],
        ];
        for (const [args, msg] of refused) assert.throws(() => render(args), msg, `accepted ${args.join(' ')}`);
        for (const args of [['--set', 'streams.FOOD_CMD.replicas=3'], ['--set', 'nats.replicas=5', '--set', 'streams.FOOD_CMD.replicas=5'],
                ['-f', EXTERNAL, '--set', 'streams.FOOD_ORDER.replicas=3']])
                assert.doesNotThrow(() => render(args), args.join(' '));
});

// libpq's multi-host URL postgresql://user@h1:p1,h2:p2/db?k=v, which WHATWG URL does not parse.
function pgUrl(text) {
        const m = text.match(/^postgresql:\/\/([^@/]+)@([^/]+)\/([^?]+)\?(.*)$/);
        assert.ok(m, `not a postgresql:// URL: ${text}`);
        return { user: m[1], hosts: m[2].split(','), database: m[3], query: Object.fromEntries(new URLSearchParams(m[4])) };
}

test('external PostgreSQL, primary and standbys: every process gets one multi-host URL with target_session_attrs=read-write; several hosts without it are refused', () => {
        const ext = ['-f', EXTERNAL, '--set', 'externalPostgresql.host=', '--set', 'externalPostgresql.hosts={pg-0.db,pg-1.db:5433,[fd00::2]}'];
        const objs = render([...ext, '--set', 'externalPostgresql.targetSessionAttrs=read-write']);
        let n = 0;
        for (const [o, spec] of podSpecs(objs)) {
                const url = (spec.containers[0].env || []).find((e) => e.name === 'DATABASE_URL')?.value;
                if (!url) continue;
                n++;
                const u = pgUrl(url);
                assert.equal(u.user, `food_${component(o)}`);
                assert.deepEqual(u.hosts, ['pg-0.db:5432', 'pg-1.db:5433', '[fd00::2]:5432'], 'each host with its port (default externalPostgresql.port)');
                assert.equal(u.database, 'food');
                assert.equal(u.query.target_session_attrs, 'read-write');
                assert.equal(u.query.sslmode, 'verify-full');
                assert.equal(u.query.sslrootcert, '/etc/food-saga/postgresql-ca/ca.crt');
        }
        assert.equal(n, Object.values(BIN).filter((b) => b.database).length, 'every process that uses PostgreSQL');
        assert.throws(() => render(ext), /externalPostgresql\.hosts names 3 servers: set externalPostgresql\.targetSessionAttrs=read-write/);
        assert.throws(() => render([...ext, '--set', 'externalPostgresql.targetSessionAttrs=any']), /targetSessionAttrs=read-write/);
        // One host per item, no URL pieces (the chart joins them with commas and builds the URL).
        for (const bad of [['pg-0.db,pg-1.db'], ['postgresql://pg-0.db'], ['pg-0.db/food'], ['u@pg-0.db'], ['pg-0.db:5432x'], ['pg-0.db', 'pg-0.db']])
                assert.throws(() => render(['-f', EXTERNAL, '--set-json', `externalPostgresql.hosts=${JSON.stringify(bad)}`, '--set', 'externalPostgresql.targetSessionAttrs=read-write']),
                        /schema|values don't meet/, bad.join(' '));
        // One host (e.g. CloudNativePG's -rw Service) may still name target_session_attrs; none is added otherwise.
        const one = (args) => pgUrl(byKind(render(['-f', EXTERNAL, ...args]), 'Deployment').find((d) => component(d) === 'store')
                .spec.template.spec.containers[0].env.find((e) => e.name === 'DATABASE_URL').value);
        assert.deepEqual(one(['--set', 'externalPostgresql.host=food-pg-rw.db', '--set', 'externalPostgresql.targetSessionAttrs=primary']).query.target_session_attrs, 'primary');
        assert.equal(one([]).query.target_session_attrs, undefined);
        assert.deepEqual(one([]).hosts, ['pg.databases.svc:5432']);
        assert.throws(() => render(['--set', 'postgresql.enabled=false']), /schema|values don't meet/, 'neither host nor hosts');
        assert.doesNotThrow(() => render(['--set', 'postgresql.enabled=false', '--set', 'externalPostgresql.hosts={a,b}', '--set', 'externalPostgresql.targetSessionAttrs=read-write',
                '--set', 'externalPostgresql.sslmode=require', '--set', 'externalPostgresql.maxConnections=300']));
});

test('every process replicable: the orchestrator runs 2 replicas by default, every Deployment spreads its replicas over nodes', () => {
        const objs = objects('default');
        const orch = byKind(objs, 'Deployment').find((d) => component(d) === 'orchestrator');
        assert.equal(orch.spec.replicas, 2);
        const pdb = byKind(objs, 'PodDisruptionBudget').find((p) => component(p) === 'orchestrator');
        assert.equal(pdb.spec.maxUnavailable, 1, 'a drain leaves one owner of the shards');
        for (const d of byKind(objs, 'Deployment')) {
                if (component(d) === 'sandbox-psp') continue;
                const [spread] = d.spec.template.spec.topologySpreadConstraints ?? [];
                assert.equal(spread?.topologyKey, 'kubernetes.io/hostname', `${d.metadata.name}: no spread`);
                assert.equal(spread.maxSkew, 1);
                assert.deepEqual(spread.labelSelector.matchLabels, d.spec.selector.matchLabels, `${d.metadata.name}: spreads other pods`);
        }
        const off = byKind(render(['--set', 'topologySpread.enabled=false']), 'Deployment');
        assert.ok(off.every((d) => !d.spec.template.spec.topologySpreadConstraints));
        const hard = byKind(render(['--set', 'topologySpread.whenUnsatisfiable=DoNotSchedule']), 'Deployment');
        assert.ok(hard.every((d) => d.spec.template.spec.topologySpreadConstraints[0].whenUnsatisfiable === 'DoNotSchedule'));
});

test('images: an empty image.registry is refused with how to build and push; digests pin per target; third-party images are exact versions', () => {
        assert.throws(() => render([], CHART, { registry: false }),
                /image\.registry is empty[\s\S]*bash deploy\/images\/build\.sh[\s\S]*bash deploy\/images\/push\.sh <registry>[\s\S]*--set image\.registry=<registry>/);
        const images = (objs) => podSpecs(objs).concat(byKind(objs, 'Job').map((j) => [j, j.spec.template.spec]))
                .flatMap(([o, spec]) => [...spec.containers, ...(spec.initContainers || [])].map((c) => [o, c.image]));
        for (const [o, image] of images(objects('default'))) {
                const name = o.metadata.labels['app.kubernetes.io/name'];
                if (name === 'nats') assert.match(image, /^nats:\d+\.\d+\.\d+(-[a-z0-9]+)?(@sha256:[0-9a-f]{64})?$/, 'NATS: an exact release');
                else if (name === 'postgresql') assert.match(image, /^postgres:\d+\.\d+(-[a-z0-9]+)?(@sha256:[0-9a-f]{64})?$/, 'PostgreSQL: an exact minor release');
                else assert.match(image, /^registry\.example\/food\/food-saga\/[a-z-]+:0\.1\.0$/, `${o.metadata.name}: ${image}`);
        }
        const digest = `sha256:${'ab'.repeat(32)}`;
        for (const [o, image] of images(objects('external'))) {
                if (component(o) === 'gateway') assert.equal(image, 'registry.example:5000/food/food-saga/gateway:0.1.0@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef');
                else assert.match(image, /^registry\.example:5000\/food\/food-saga\/[a-z-]+:0\.1\.0$/, `${o.metadata.name}: ${image}`);
        }
        const pinned = images(render(['--set', `image.digests.orchestrator=${digest}`, '--set', `nats.image.digest=${digest}`, '--set', `postgresql.image.digest=${digest}`]));
        for (const [o, image] of pinned) {
                const pin = ['orchestrator', 'setup', 'migrate'].includes(component(o)) || ['nats', 'postgresql'].includes(o.metadata.labels['app.kubernetes.io/name']);
                assert.equal(image.endsWith(`@${digest}`), pin, `${o.metadata.name}: ${image}`);
        }
        for (const bad of [['--set', 'image.digests.gateway=latest'], ['--set', `image.digests.nope=${digest}`], ['--set', 'image.registry=https://r.example']])
                assert.throws(() => render(bad), /schema|values don't meet/, bad.join(' '));
        assert.match(notes(), /--image=natsio\/nats-box:\d+\.\d+\.\d+ /, 'nats-box of NOTES at an exact release');
});

// Sessions per replica of each process, from the code: lib/service.c's two (main, /readyz) for every process with
// schemas, plus the reader's answering threads, the orchestrator's writer, a transactional worker's lanes, the
// notification worker's senders and shedder (or its recorder). Env values from the rendered Deployment, else the
// code's default.
function sessionsPerReplica(comp, env, webhook) {
        if (!BIN[comp].database) return 0;
        const def = (name, file, re) => Number(env[name] ?? read(file).match(re)[1]);
        if (comp === READER) {
                assert.match(read(`${BIN[comp].dir}/reader-serve.c`), /pg_connect\(&t->pg,/, 'each answering thread opens its own session');
                return 2 + def('READER_THREADS', `${BIN[comp].dir}/main.c`, /config_int\("READER_THREADS", (\d+)/);
        }
        if (comp === 'orchestrator') {
                assert.match(read('orchestrator/saga-writer.c'), /service_pg\(/, 'the writer opens its own session');
                return 3;
        }
        const main = read(`${BIN[comp].dir}/main.c`);
        if (comp === 'notification') {
                assert.doesNotMatch(main, /transactional = true/);
                return webhook ? 3 + def('NOTIFY_THREADS', 'services/notification/notification-sender.c', /config_int\("NOTIFY_THREADS", (\d+)/) : 3;
        }
        assert.match(main, /transactional = true/, `${comp}: a transactional worker`);
        return 2 + def('WORKER_THREADS', `${BIN[comp].dir}/main.c`, /worker_config\(&def, (\d+),/);
}

test('PostgreSQL connection budget: NOTES show each process\'s sessions at the fewest and the most replicas, counted as the code opens them; the defaults fit; a render beyond max_connections is refused', () => {
        for (const [which, args] of [['default', []], ['external', ['-f', EXTERNAL]]]) {
                const objs = objects(which);
                const text = notes(args);
                const rows = Object.fromEntries([...text.matchAll(/^ {5}([a-z]+) +(\d+) \(.*?\) +(\d+)-(\d+) +(\d+)-(\d+)$/gm)]
                        .map((m) => [m[1], m.slice(2).map(Number)]));
                let min = 1;
                let max = 1; // the migration Job
                for (const d of byKind(objs, 'Deployment')) {
                        const comp = component(d);
                        if (!BIN[comp] || comp.startsWith('sandbox-')) continue;
                        const env = Object.fromEntries((d.spec.template.spec.containers[0].env || []).filter((e) => 'value' in e).map((e) => [e.name, e.value]));
                        const per = sessionsPerReplica(comp, env, 'NOTIFY_WEBHOOK_URL' in env);
                        if (!per) {
                                assert.equal(rows[comp], undefined, `${comp} opens no session`);
                                continue;
                        }
                        const hpa = byKind(objs, 'HorizontalPodAutoscaler').find((h) => component(h) === comp);
                        const [lo, hi] = hpa ? [hpa.spec.minReplicas, hpa.spec.maxReplicas] : [d.spec.replicas, d.spec.replicas];
                        assert.deepEqual(rows[comp], [per, lo, hi, per * lo, per * hi], `${which}: ${comp}`);
                        min += per * lo;
                        max += per * hi;
                }
                const total = text.match(/total: (\d+) at the fewest replicas, (\d+) at the most \(the chart refuses more than (\d+)\)/);
                assert.ok(total, text);
                assert.deepEqual([Number(total[1]), Number(total[2])], [min, max], `${which}: totals`);
                assert.ok(max <= Number(total[3]), `${which}: the defaults exceed the budget`);
        }
        const pg = byKind(objects('default'), 'StatefulSet').find((x) => x.metadata.labels['app.kubernetes.io/name'] === 'postgresql');
        assert.ok(pg.spec.template.spec.containers[0].args.includes('max_connections=250'), 'the bundled server gets max_connections');
        assert.match(notes(), /max_connections 250 - superuser reserve 3 - connectionBudget\.reserve 10/);
        const refused = [
                [['--set', 'services.reader.autoscaling.maxReplicas=30'], /PostgreSQL connection budget exceeded: at the most replicas the processes open 389 sessions \([^)]*reader 30x10[^)]*\) but the bundled PostgreSQL \(postgresql\.config\.maxConnections\) admits 237[\s\S]*Lower autoscaling\.maxReplicas, services\.reader\.env\.READER_THREADS/],
                [['--set', 'services.reader.env.READER_THREADS=40'], /connection budget exceeded/],
                [['--set', 'services.store.env.WORKER_THREADS=40'], /connection budget exceeded/],
                [['-f', EXTERNAL, '--set', 'externalPostgresql.maxConnections=100'], /admits 87 \(max_connections 100 - superuser_reserved_connections 3 - connectionBudget\.reserve 10\)/],
        ];
        for (const [args, msg] of refused) assert.throws(() => render(args), msg, args.join(' '));
        assert.doesNotThrow(() => render(['--set', 'services.reader.autoscaling.maxReplicas=30', '--set', 'postgresql.config.maxConnections=500']));
        assert.doesNotThrow(() => render(['--set', 'gateway.autoscaling.maxReplicas=100']), 'the gateway opens no session');
});

test('migrations: food-migrate as food_migrator in a Job (plain on install, a pre-upgrade hook on upgrade); the processes run with MIGRATIONS=check; demo.enabled is DEMO_CATALOG', () => {
        const migrateJob = (objs) => byKind(objs, 'Job').filter((j) => component(j) === 'migrate');
        const env = (c) => Object.fromEntries((c.env || []).map((e) => [e.name, e]));
        for (const which of ['default', 'external']) {
                const jobs = migrateJob(objects(which));
                assert.equal(jobs.length, 1, `${which}: one migration Job`);
                const [job] = jobs;
                assert.equal(job.metadata.name, 'rel-food-saga-migrate-1', 'named after the revision');
                assert.equal(job.metadata.annotations?.['helm.sh/hook'], undefined, 'install: a plain Job, which `helm install --wait` does not wait on');
                assert.ok(job.spec.backoffLimit > 0 && job.spec.activeDeadlineSeconds > 0);
                const spec = job.spec.template.spec;
                assert.equal(spec.restartPolicy, 'Never');
                const [c] = spec.containers;
                const setupDir = read('deploy/docker/Dockerfile').match(/^COPY --from=build .*\/out\/food-setup .*?(\/\S+\/)$/m)?.[1];
                assert.deepEqual(c.command, [`${setupDir}food-migrate`], 'food-migrate beside food-setup in the orchestrator image');
                assert.equal(c.image, byKind(objects(which), 'Deployment').find((d) => component(d) === 'orchestrator').spec.template.spec.containers[0].image);
                const e = env(c);
                assert.match(e.DATABASE_URL.value, /^postgresql:\/\/food_migrator@/);
                assert.equal(e.PGPASSWORD.valueFrom.secretKeyRef.key, 'database-password-migrator');
                assert.equal(e.DEMO_CATALOG.value, 'false');
                assert.ok(!Object.keys(e).some((k) => /NATS|JWT/.test(k)), 'the migration Job gets PostgreSQL only');
                if (which === 'external') assert.ok(c.volumeMounts.some((m) => e.DATABASE_URL.value.includes(`sslrootcert=${m.mountPath}/`)), 'the external server\'s CA');
                // Every process that uses PostgreSQL checks, never migrates.
                for (const d of byKind(objects(which), 'Deployment')) {
                        const de = env(d.spec.template.spec.containers[0]);
                        if (de.DATABASE_URL) assert.equal(de.MIGRATIONS?.value, 'check', `${d.metadata.name}: MIGRATIONS`);
                        else assert.equal(de.MIGRATIONS, undefined);
                        if (component(d) === READER) assert.equal(de.DEMO_CATALOG.value, 'false');
                        else assert.equal(de.DEMO_CATALOG, undefined, `${d.metadata.name}: DEMO_CATALOG is the reader's (the catalog's owner)`);
                }
                const policy = byKind(objects(which), 'NetworkPolicy').find((p) => p.metadata.name === 'rel-food-saga-migrate');
                assert.deepEqual(policy.spec.ingress, []);
                assert.deepEqual(policy.spec.egress.flatMap((r) => (r.ports || []).map((x) => x.port)).sort(), [5432, 53, 53].sort());
        }
        assert.ok(Object.keys(byKind(objects('default'), 'Secret')[0].data).includes('database-password-migrator'));
        const up = ['--is-upgrade', '--set', 'global.secrets.existingSecret=rel-food-saga-secrets']; // offline: no live Secret to read
        const upgrade = migrateJob(render(up))[0];
        assert.equal(upgrade.metadata.annotations['helm.sh/hook'], 'pre-upgrade');
        assert.equal(upgrade.metadata.annotations['helm.sh/hook-delete-policy'], 'before-hook-creation,hook-succeeded');
        assert.equal(migrateJob(render([...up, '--set', 'migrations.upgradeHook=false']))[0].metadata.annotations?.['helm.sh/hook'], undefined);
        const demo = render(['--set', 'demo.enabled=true']);
        assert.equal(env(migrateJob(demo)[0].spec.template.spec.containers[0]).DEMO_CATALOG.value, 'true');
        assert.equal(env(byKind(demo, 'Deployment').find((d) => component(d) === READER).spec.template.spec.containers[0]).DEMO_CATALOG.value, 'true');
        const admin = env(migrateJob(render(['--set', 'migrations.databaseUrlSecret.name=pg-admin']))[0].spec.template.spec.containers[0]);
        assert.deepEqual(admin.DATABASE_URL.valueFrom.secretKeyRef, { name: 'pg-admin', key: 'database-url' });
        assert.equal(admin.PGPASSWORD, undefined);
});

test('secrets: every pod template that reads the Secret carries its checksum, so a changed key rolls it; an upgrade that cannot read the live Secret is refused, a first install renders offline', async () => {
        const { createHash } = await import('node:crypto');
        const sha = (x) => createHash('sha256').update(x).digest('hex');
        const objs = objects('default');
        const [secret] = byKind(objs, 'Secret');
        const sorted = JSON.stringify(Object.fromEntries(Object.entries(secret.data).sort(([a], [b]) => (a < b ? -1 : 1))));
        const readers = byKind(objs, 'Deployment').filter((d) => JSON.stringify(d.spec.template.spec).includes('rel-food-saga-secrets'));
        assert.ok(readers.length >= 7, `${readers.length} Deployments read the Secret`);
        for (const d of readers) assert.equal(d.spec.template.metadata.annotations['checksum/secret'], sha(sorted), `${d.metadata.name}: checksum of the Secret it reads`);
        const gw = (args) => byKind(render(args), 'Deployment').find((d) => component(d) === 'gateway').spec.template.metadata.annotations['checksum/secret'];
        assert.notEqual(gw(['--set', 'secrets.jwtSecret=one-0123456789abcdef0123456789abcdef']), gw(['--set', 'secrets.jwtSecret=two-0123456789abcdef0123456789abcdef']), 'a new JWT key rolls the gateway');
        assert.equal(gw(['--set', 'secrets.jwtSecret=one-0123456789abcdef0123456789abcdef', '--set', 'secrets.databasePassword=x', '--set', 'global.secrets.existingSecret=mine']),
                gw(['--set', 'secrets.jwtSecret=two-0123456789abcdef0123456789abcdef', '--set', 'global.secrets.existingSecret=mine']), 'existingSecret: the live Secret\'s checksum (none offline)');
        assert.throws(() => render(['--is-upgrade']), /upgrading release rel: the Secret food\/rel-food-saga-secrets cannot be read[\s\S]*--set global\.secrets\.existingSecret=rel-food-saga-secrets/);
        assert.doesNotThrow(() => render(['--is-upgrade', '--set', 'global.secrets.existingSecret=rel-food-saga-secrets']));
        assert.doesNotThrow(() => render(['--is-upgrade', '-f', EXTERNAL]));
});

test('release names too long for the bundled StatefulSets\' revision labels are refused', () => {
        const tpl = (name, args = []) => helm(['template', name, CHART, '--namespace', 'food', ...REGISTRY, ...args]);
        assert.doesNotThrow(() => tpl('r'.repeat(41)));
        assert.throws(() => tpl('r'.repeat(42)), /release name "r{42}" has 42 characters: with the bundled PostgreSQL at most 41/);
        assert.throws(() => tpl('r'.repeat(48), ['--set', 'postgresql.enabled=false', '--set', 'externalPostgresql.host=pg', '--set', 'externalPostgresql.sslmode=require',
                '--set', 'externalPostgresql.maxConnections=300']), /at most 47/);
        assert.doesNotThrow(() => tpl('r'.repeat(50), ['-f', EXTERNAL]));
});

test('gateway preStop: it sleeps (the runtime image\'s coreutils) before SIGTERM, within terminationGracePeriodSeconds with its drain', () => {
        const gw = (args = []) => byKind(render(args), 'Deployment').find((d) => component(d) === 'gateway').spec.template.spec;
        const spec = gw();
        assert.deepEqual(spec.containers[0].lifecycle.preStop.exec.command, ['/bin/sleep', '5']);
        assert.match(read('deploy/docker/Dockerfile'), /^ARG RUNTIME_IMAGE=debian:12-slim$/m, 'a Debian runtime, with /bin/sleep');
        assert.ok(spec.terminationGracePeriodSeconds > 5 + 10);
        assert.equal(gw(['--set', 'gateway.preStopSleepSeconds=0']).containers[0].lifecycle, undefined);
        assert.throws(() => render(['--set', 'gateway.preStopSleepSeconds=25']), /terminationGracePeriodSeconds=30 must exceed gateway\.preStopSleepSeconds=25 \+ GATEWAY_DRAIN_S=10/);
});

test('egress to an external NATS and PostgreSQL by namespace and pod selectors as well as CIDRs', () => {
        const ns = (n) => ({ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': n } } });
        const pgPeer = { ...ns('databases'), podSelector: { matchLabels: { 'cnpg.io/cluster': 'food-pg' } } };
        const objs = render(['-f', EXTERNAL, '--set-json', `externalNats.egress.to=${JSON.stringify([ns('messaging')])}`,
                '--set-json', `externalPostgresql.egress.to=${JSON.stringify([pgPeer])}`]);
        const pol = byKind(objs, 'NetworkPolicy').find((p) => p.spec.podSelector.matchLabels['app.kubernetes.io/component'] === 'store');
        const rule = (port) => pol.spec.egress.find((r) => (r.ports || []).some((x) => x.port === port));
        assert.deepEqual(rule(4222).to, [{ ipBlock: { cidr: '10.20.0.0/16' } }, ns('messaging')]);
        assert.deepEqual(rule(5432).to, [{ ipBlock: { cidr: '10.30.0.0/16' } }, pgPeer]);
        const migrate = byKind(objs, 'NetworkPolicy').find((p) => p.metadata.name === 'rel-food-saga-migrate');
        assert.deepEqual(migrate.spec.egress.find((r) => (r.ports || []).some((x) => x.port === 5432)).to.at(-1), pgPeer);
        assert.throws(() => render(['-f', EXTERNAL, '--set-json', 'externalNats.egress.to=[{"ipBlock":{"cidr":"0.0.0.0/0"}}]']), /schema|values don't meet/);
});

test('files/nats-users.sh prints auth.conf and, for every NATS user, the password variable from the release\'s Secret', () => {
        const out = execFileSync('bash', [path.join(CHART, 'files/nats-users.sh'), 'rel'], { encoding: 'utf8' });
        assert.ok(out.includes(fs.readFileSync(path.join(CHART, 'charts/nats/files/auth.conf'), 'utf8').trim()), 'auth.conf unchanged');
        const env = YAML.parse(out.slice(out.indexOf('container:'))).container.env;
        assert.deepEqual(Object.keys(env).sort(), Object.keys(AUTH).map((u) => `FOOD_NATS_PW_${u.toUpperCase()}`).sort());
        for (const [u, a] of Object.entries(AUTH)) {
                assert.equal(a.password, `$FOOD_NATS_PW_${u.toUpperCase()}`);
                assert.deepEqual(env[`FOOD_NATS_PW_${u.toUpperCase()}`].valueFrom.secretKeyRef, { name: 'rel-food-saga-secrets', key: `nats-password-${u}` });
        }
});

test('KEDA (keda.enabled): a ScaledObject per autoscaled worker on its JetStream consumer\'s lag, valid against @kubernetes-models/keda, instead of its CPU HPA; NATS admits the operator on the monitoring port', async () => {
        const { ScaledObject } = await import('@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject');
        const keda = { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'keda' } } };
        const objs = render(['--set', 'keda.enabled=true', '--set-json', `nats.networkPolicy.monitorFrom=${JSON.stringify([keda])}`]);
        const scaled = byKind(objs, 'ScaledObject');
        // A worker that takes direct commands (the payment decision over core NATS) has no lag to go by: CPU.
        const LAGGED = TOPO.consumers.filter((c) => !c.direct).map((c) => c.durable);
        const DIRECT = TOPO.consumers.filter((c) => c.direct).map((c) => c.durable);
        assert.deepEqual(scaled.map((o) => component(o)).sort(), LAGGED.slice().sort(), 'one per worker of the topology without a direct lane');
        for (const o of scaled) {
                assert.doesNotThrow(() => new ScaledObject(o).validate(), o.metadata.name);
                const comp = component(o);
                const d = byKind(objs, 'Deployment').find((x) => component(x) === comp);
                assert.equal(o.spec.scaleTargetRef.name, d.metadata.name);
                const [t] = o.spec.triggers;
                assert.equal(t.type, 'nats-jetstream');
                const consumer = TOPO.consumers.find((c) => c.durable === comp);
                assert.deepEqual([t.metadata.stream, t.metadata.consumer], [consumer.stream, consumer.durable], `${comp}: its durable consumer`);
                assert.equal(t.metadata.natsServerMonitoringEndpoint, 'rel-nats.food.svc.cluster.local:8222');
                const values = YAML.parse(fs.readFileSync(path.join(CHART, 'values.yaml'), 'utf8')).services[comp].autoscaling;
                assert.deepEqual([o.spec.minReplicaCount, o.spec.maxReplicaCount], [values.minReplicas, values.maxReplicas], 'the budget\'s replicas');
        }
        assert.deepEqual(byKind(objs, 'HorizontalPodAutoscaler').map((h) => component(h)).sort(), ['gateway', READER, ...DIRECT].sort(),
                'the workers\' CPU HPAs give way to KEDA; the gateway, the reader (no consumer) and the payment worker (direct) keep theirs');
        const policy = byKind(objs, 'NetworkPolicy').find((p) => p.metadata.labels?.['app.kubernetes.io/name'] === 'nats');
        assert.ok(policy.spec.ingress.some((r) => JSON.stringify(r.from) === JSON.stringify([keda]) && r.ports.every((p) => p.port === 'monitor')));
        assert.throws(() => render(['-f', EXTERNAL, '--set', 'keda.enabled=true']), /keda\.natsMonitoringEndpoint .* is required/);
        assert.equal(byKind(render(['-f', EXTERNAL, '--set', 'keda.enabled=true', '--set', 'keda.natsMonitoringEndpoint=nats.messaging.svc:8222']), 'ScaledObject').length, LAGGED.length);
});
