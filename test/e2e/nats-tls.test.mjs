// NATS over TLS (an external NATS, the chart's externalNats.tls): a nats-server on 127.0.0.1 that requires TLS
// and client certificates, made here with openssl, and food-setup as the client (lib/bus.c's one connect path,
// which every process uses): it connects only with NATS_TLS_CA naming the authority that signed the server's
// certificate, and, as the server asks for one, with its client certificate; a wrong or missing setting fails
// with the variable's name and creates nothing.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { startBareNats } from '../harness.mjs';

const execFileP = promisify(execFile);

// A certificate authority and a certificate it signs (for 127.0.0.1 and localhost when `server`).
async function makeCert(dir, name, ca, server) {
        const key = path.join(dir, `${name}.key`), crt = path.join(dir, `${name}.crt`), csr = path.join(dir, `${name}.csr`);
        if (!ca) {
                await execFileP('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', crt,
                        '-days', '2', '-subj', `/CN=${name}`, '-addext', 'basicConstraints=critical,CA:TRUE']);
                return { key, crt };
        }
        await execFileP('openssl', ['req', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', csr, '-subj', `/CN=${name}`]);
        const ext = path.join(dir, `${name}.ext`);
        fs.writeFileSync(ext, server ? 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' : 'extendedKeyUsage=clientAuth\n');
        await execFileP('openssl', ['x509', '-req', '-in', csr, '-CA', ca.crt, '-CAkey', ca.key, '-CAcreateserial', '-out', crt,
                '-days', '2', '-extfile', ext]);
        return { key, crt };
}

describe('NATS over TLS', () => {
        let dir, nats, url, monitor, runSetup, ca, other, client;
        before(async () => {
                dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nats-tls-'));
                ca = await makeCert(dir, 'ca');
                other = await makeCert(dir, 'other-ca');
                const server = await makeCert(dir, 'server', ca, true);
                client = await makeCert(dir, 'client', ca, false);
                fs.writeFileSync(path.join(dir, 'nats.conf'), `tls {\n  cert_file: "${server.crt}"\n  key_file: "${server.key}"\n`
                        + `  ca_file: "${ca.crt}"\n  verify: true\n  timeout: 2\n}\n`);
                nats = await startBareNats(dir, path.join(dir, 'nats.conf'));
                ({ url, monitor, runSetup } = nats);
        });
        after(() => {
                nats?.stop();
                if (dir) fs.rmSync(dir, { recursive: true, force: true });
        });

        const streams = async () => {
                const jsz = await (await fetch(`${monitor}/jsz?streams=true`)).json();
                return (jsz.account_details || []).flatMap((a) => (a.stream_detail || []).map((s) => s.name)).sort();
        };

        it('refuses to connect without TLS, with an authority that did not sign the server, or without a client certificate', async () => {
                const plain = await runSetup({});
                assert.notEqual(plain.code, 0, `plain connection: ${plain.out}`);
                const wrong = await runSetup({ NATS_TLS_CA: other.crt, NATS_TLS_CERT: client.crt, NATS_TLS_KEY: client.key });
                assert.notEqual(wrong.code, 0, `another authority: ${wrong.out}`);
                const anonymous = await runSetup({ NATS_TLS_CA: ca.crt });
                assert.notEqual(anonymous.code, 0, `no client certificate: ${anonymous.out}`);
                assert.deepEqual(await streams(), [], 'nothing was created');
        });

        it('names the variable of a setting that cannot be used', async () => {
                const missing = await runSetup({ NATS_TLS_CA: path.join(dir, 'nope.pem') });
                assert.notEqual(missing.code, 0);
                assert.match(missing.out, /NATS_TLS_CA=\S*nope\.pem cannot be loaded/);
                const half = await runSetup({ NATS_TLS_CA: ca.crt, NATS_TLS_CERT: client.crt });
                assert.equal(half.code, 2, half.out);
                assert.match(half.out, /NATS_TLS_CERT and NATS_TLS_KEY go together \(NATS_TLS_KEY is empty\)/);
        });

        it('connects with the authority and its client certificate, and sets the topology up', async () => {
                const ok = await runSetup({ NATS_TLS_CA: ca.crt, NATS_TLS_CERT: client.crt, NATS_TLS_KEY: client.key });
                assert.equal(ok.code, 0, ok.out);
                assert.deepEqual(await streams(), ['FOOD_ADVISORY', 'FOOD_CMD', 'FOOD_DLQ', 'FOOD_ORDER']);
                const tlsUrl = await runSetup({ NATS_URL: url.replace('nats://', 'tls://'), NATS_TLS_CA: ca.crt, NATS_TLS_CERT: client.crt, NATS_TLS_KEY: client.key });
                assert.equal(tlsUrl.code, 0, `tls:// URL: ${tlsUrl.out}`);
        });
});
