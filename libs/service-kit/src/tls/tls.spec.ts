// Real TLS end to end: certificates minted with the openssl CLI, a real grpc-js server on loopback.
import * as grpc from '@grpc/grpc-js';
import {
  ClientTlsConfig,
  ServerTlsConfig,
  TlsConfigError,
  channelCredentials,
  channelOptions,
  serverCredentials,
  validateClientTls,
  validateServerTls,
} from './index';
import { makeTestPki, type TestPki } from '../testing/certs';

// --- PKI -------------------------------------------------------------------------------------

let pki: TestPki | undefined;
const file = (name: string): string => (pki as TestPki).file(name);

beforeAll(() => {
  pki = makeTestPki();
});

afterAll(() => pki?.cleanup());

// --- Echo service ----------------------------------------------------------------------------

const passthrough = (b: Buffer): Buffer => b;
const echoService = {
  say: {
    path: '/test.Echo/Say',
    requestStream: false,
    responseStream: false,
    requestSerialize: passthrough,
    requestDeserialize: passthrough,
    responseSerialize: passthrough,
    responseDeserialize: passthrough,
  },
} satisfies grpc.ServiceDefinition;
const EchoClient = grpc.makeGenericClientConstructor(echoService, 'test.Echo');

type Say = (
  request: Buffer,
  options: grpc.CallOptions,
  callback: (err: grpc.ServiceError | null, response?: Buffer) => void,
) => grpc.ClientUnaryCall;

const servers: grpc.Server[] = [];
const clients: grpc.Client[] = [];

afterEach(() => {
  clients.splice(0).forEach((c) => c.close());
  servers.splice(0).forEach((s) => s.forceShutdown());
});

function startServer(cfg: ServerTlsConfig): Promise<number> {
  const server = new grpc.Server();
  servers.push(server);
  server.addService(echoService, {
    say: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) =>
      cb(null, call.request),
  });
  return new Promise((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', serverCredentials(cfg), (err, port) =>
      err ? reject(err) : resolve(port),
    ),
  );
}

function say(port: number, cfg: ClientTlsConfig, text = 'hello'): Promise<string> {
  const client = new EchoClient(`127.0.0.1:${port}`, channelCredentials(cfg), channelOptions(cfg));
  clients.push(client);
  const method = (client['say'] as Say).bind(client);
  return new Promise((resolve, reject) =>
    method(Buffer.from(text), { deadline: Date.now() + 3000 }, (err, response) =>
      err ? reject(err) : resolve(response?.toString() ?? ''),
    ),
  );
}

// A refused handshake surfaces as UNAVAILABLE (connection failed before any call was sent).
const refused = expect.objectContaining({ code: grpc.status.UNAVAILABLE });

// --- Tests -----------------------------------------------------------------------------------

describe('plaintext (TLS off)', () => {
  it('works with empty configs on both sides', async () => {
    const port = await startServer({});
    await expect(say(port, {})).resolves.toBe('hello');
  });
});

describe('TLS (no client CA)', () => {
  const serverCfg = (): ServerTlsConfig => ({
    certFile: file('server.crt'),
    keyFile: file('server.key'),
  });

  it('serves a client that trusts the CA', async () => {
    const port = await startServer(serverCfg());
    await expect(say(port, { caFile: file('ca.crt') }, 'over tls')).resolves.toBe('over tls');
  });

  it('refuses a plaintext client', async () => {
    const port = await startServer(serverCfg());
    await expect(say(port, {})).rejects.toEqual(refused);
  });

  it('client refuses a server certificate from a CA it does not trust', async () => {
    const port = await startServer(serverCfg());
    await expect(say(port, { caFile: file('other-ca.crt') })).rejects.toEqual(refused);
  });

  it('serverNameOverride selects the name the server certificate is checked against', async () => {
    const port = await startServer(serverCfg());
    const ca = file('ca.crt');
    await expect(say(port, { caFile: ca, serverNameOverride: 'localhost' })).resolves.toBe('hello');
    await expect(say(port, { caFile: ca, serverNameOverride: 'wrong.example' })).rejects.toEqual(
      refused,
    );
  });
});

describe('mutual TLS', () => {
  const serverCfg = (): ServerTlsConfig => ({
    certFile: file('server.crt'),
    keyFile: file('server.key'),
    clientCaFile: file('ca.crt'),
  });

  it('serves a client with a CA-signed client certificate', async () => {
    const port = await startServer(serverCfg());
    const cfg = {
      caFile: file('ca.crt'),
      certFile: file('client.crt'),
      keyFile: file('client.key'),
    };
    await expect(say(port, cfg, 'mtls')).resolves.toBe('mtls');
  });

  it('refuses a client without a certificate', async () => {
    const port = await startServer(serverCfg());
    await expect(say(port, { caFile: file('ca.crt') })).rejects.toEqual(refused);
  });

  it('refuses a client certificate signed by an unrelated CA', async () => {
    const port = await startServer(serverCfg());
    const cfg = {
      caFile: file('ca.crt'),
      certFile: file('rogue-client.crt'),
      keyFile: file('rogue-client.key'),
    };
    await expect(say(port, cfg)).rejects.toEqual(refused);
  });
});

describe('validation', () => {
  it('accepts empty and complete configs', () => {
    expect(validateServerTls({})).toEqual([]);
    expect(validateClientTls({})).toEqual([]);
    expect(
      validateServerTls({
        certFile: file('server.crt'),
        keyFile: file('server.key'),
        clientCaFile: file('ca.crt'),
      }),
    ).toEqual([]);
    expect(
      validateClientTls({
        caFile: file('ca.crt'),
        certFile: file('client.crt'),
        keyFile: file('client.key'),
        serverNameOverride: 'localhost',
      }),
    ).toEqual([]);
  });

  it('reports server half pairs and clientCaFile without cert/key', () => {
    expect(validateServerTls({ certFile: file('server.crt') })).toEqual([
      expect.stringMatching(/certFile is set but keyFile is not/),
    ]);
    expect(validateServerTls({ keyFile: file('server.key') })).toEqual([
      expect.stringMatching(/keyFile is set but certFile is not/),
    ]);
    expect(validateServerTls({ clientCaFile: file('ca.crt') })).toEqual([
      expect.stringMatching(/clientCaFile.*requires certFile and keyFile/),
    ]);
  });

  it('reports client half pairs and settings that need caFile', () => {
    const ca = file('ca.crt');
    expect(validateClientTls({ caFile: ca, certFile: file('client.crt') })).toEqual([
      expect.stringMatching(/certFile is set but keyFile is not/),
    ]);
    expect(validateClientTls({ caFile: ca, keyFile: file('client.key') })).toEqual([
      expect.stringMatching(/keyFile is set but certFile is not/),
    ]);
    expect(
      validateClientTls({ certFile: file('client.crt'), keyFile: file('client.key') }),
    ).toEqual([expect.stringMatching(/certFile\/keyFile.*require caFile/)]);
    expect(validateClientTls({ serverNameOverride: 'localhost' })).toEqual([
      expect.stringMatching(/serverNameOverride requires caFile/),
    ]);
  });

  it('reports every missing or unreadable file with its field name', () => {
    const missing = (name: string): string => file(`missing-${name}.pem`);
    expect(
      validateServerTls({
        certFile: missing('cert'),
        keyFile: missing('key'),
        clientCaFile: (pki as TestPki).dir, // a directory, not a file
      }),
    ).toEqual([
      expect.stringMatching(/^certFile: cannot read ".*missing-cert\.pem" \(ENOENT\)$/),
      expect.stringMatching(/^keyFile: cannot read ".*missing-key\.pem" \(ENOENT\)$/),
      expect.stringMatching(/^clientCaFile: ".*" is not a regular file$/),
    ]);
    expect(
      validateClientTls({
        caFile: missing('ca'),
        certFile: missing('cert'),
        keyFile: file('client.key'),
      }),
    ).toEqual([
      expect.stringMatching(/^caFile: cannot read/),
      expect.stringMatching(/^certFile: cannot read/),
    ]);
  });

  it('treats empty strings as unset', () => {
    expect(validateServerTls({ certFile: '', keyFile: '', clientCaFile: '' })).toEqual([]);
    expect(channelOptions({ caFile: '', serverNameOverride: '' })).toEqual({});
  });
});

describe('credential factories', () => {
  it('throw a TlsConfigError listing every problem', () => {
    let caught: unknown;
    try {
      serverCredentials({ certFile: file('nope.crt'), clientCaFile: file('ca.crt') });
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(TlsConfigError);
    const error = caught as TlsConfigError;
    expect(error.name).toBe('TlsConfigError');
    expect(error.problems).toHaveLength(3);
    expect(error.message).toMatch(
      /certFile is set but keyFile is not.*clientCaFile.*certFile: cannot read/,
    );
    expect(() => channelCredentials({ keyFile: file('client.key') })).toThrow(TlsConfigError);
  });

  it('reject a key that does not match its certificate', () => {
    expect(() =>
      serverCredentials({ certFile: file('server.crt'), keyFile: file('client.key') }),
    ).toThrow(/certFile\/keyFile: .*key values mismatch/);
  });

  it('reject a CA file that holds no certificate', () => {
    expect(() => channelCredentials({ caFile: file('ca.key') })).toThrow(
      /caFile: no PEM certificate found/,
    );
  });

  it('return insecure credentials when TLS is off', () => {
    expect(serverCredentials({})._isSecure()).toBe(false);
    expect(channelCredentials({})._isSecure()).toBe(false);
    expect(channelOptions({ caFile: file('ca.crt'), serverNameOverride: 'localhost' })).toEqual({
      'grpc.ssl_target_name_override': 'localhost',
    });
  });
});
