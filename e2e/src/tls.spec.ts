// A real service (`embpress serve store`) configured for mutual TLS through its environment.
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { readFileSync, writeFileSync } from 'node:fs';
import { healthStatus, makeTestPki, type TestPki } from '@embpress/service-kit/testing';
import { readyPort, runCli, type CliProcess } from '@embpress/cli/testing';

describe('embpress serve store with mutual TLS', () => {
  let pki: TestPki;
  let store: CliProcess;
  let address: string;

  beforeAll(async () => {
    pki = makeTestPki();
    store = runCli(['serve', 'store'], {
      EMBPRESS_STORE_PORT: '0',
      EMBPRESS_STORE_TLS_CERT: pki.file('server.crt'),
      EMBPRESS_STORE_TLS_KEY: pki.file('server.key'),
      EMBPRESS_STORE_TLS_CLIENT_CA: pki.file('ca.crt'),
      EMBPRESS_STORE_REGISTRY_ROOT: `${pki.dir}/models`,
      EMBPRESS_SPANS_FILE: `${pki.dir}/spans.jsonl`,
    });
    address = `localhost:${await readyPort(store)}`;
  });

  afterAll(async () => {
    store.child.kill('SIGTERM');
    await store.exit;
    pki.cleanup();
  });

  const tls = (withClientCert: boolean): ChannelCredentials =>
    credentials.createSsl(
      readFileSync(pki.file('ca.crt')),
      withClientCert ? readFileSync(pki.file('client.key')) : null,
      withClientCert ? readFileSync(pki.file('client.crt')) : null,
    );

  it('serves a TLS client holding a certificate signed by the client CA', async () => {
    expect(await healthStatus(address, '', tls(true))).toBe('SERVING');
  });

  it('refuses a TLS client without a certificate, and a plaintext client', async () => {
    await expect(healthStatus(address, '', tls(false))).rejects.toMatchObject({ code: 14 });
    await expect(healthStatus(address, '', credentials.createInsecure())).rejects.toMatchObject({
      code: 14,
    });
  });

  it('embpress ingest publishes to it with --tls-ca and a client certificate, and not without', async () => {
    const corpus = `${pki.dir}/tiny.jsonl`;
    writeFileSync(
      corpus,
      ['lava flows from the volcano', 'the kite flies on the wind', 'bread rises in the oven']
        .map((text, i) => `${JSON.stringify({ id: `p${i}`, text })}\n`)
        .join(''),
    );
    const base = ['ingest', '--corpus', corpus, '--name', 'tiny', '--codec', 'fp16'];
    const registry = ['--registry', `${pki.dir}/models`, '--store', address];
    const plain = runCli([...base, ...registry, '--version', 'v1', '--json']);
    expect((await plain.exit).code).toBe(1);
    expect(plain.stderr()).toMatch(/embpress ingest: store localhost:\d+: /);

    const secure = runCli([
      ...base,
      ...registry,
      '--version',
      'v2',
      '--tls-ca',
      pki.file('ca.crt'),
      '--tls-cert',
      pki.file('client.crt'),
      '--tls-key',
      pki.file('client.key'),
      '--json',
    ]);
    expect((await secure.exit).code).toBe(0);
    const summary = JSON.parse(secure.stdout().trim().split('\n').pop() ?? '{}') as object;
    expect(summary).toMatchObject({ corpus: 'tiny', version: 'v2', activated: true });

    const halfPair = runCli([
      ...base,
      ...registry,
      '--tls-ca',
      pki.file('ca.crt'),
      '--tls-cert',
      pki.file('client.crt'),
    ]);
    expect((await halfPair.exit).code).toBe(2);
    expect(halfPair.stderr()).toContain('--tls-cert is set but --tls-key is not');
  });
});
