// A real service (`embpress serve store`) configured for mutual TLS through its environment.
import { credentials, type ChannelCredentials } from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { healthStatus, makeTestPki, type TestPki } from '@embpress/service-kit/testing';
import { readyPort, runCli, type CliProcess } from './testing/cli-process';

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
});
