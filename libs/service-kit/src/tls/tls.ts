// Optional TLS / mutual TLS for gRPC servers and clients, driven by file paths in config.
//
// Every setting is optional so that a service runs in plaintext by default (local dev, tests)
// and turns TLS on purely through configuration. Half-configured TLS is always an error rather
// than a silent fallback to plaintext: a typo in one path must never downgrade security.
import { X509Certificate } from 'node:crypto';
import * as fs from 'node:fs';
import * as tls from 'node:tls';
import * as grpc from '@grpc/grpc-js';

/** TLS on with certFile + keyFile; mutual TLS (client certificate required) when clientCaFile is also set. */
export interface ServerTlsConfig {
  /** PEM certificate chain presented by the server. */
  certFile?: string;
  /** PEM private key for certFile. */
  keyFile?: string;
  /** PEM CA bundle that client certificates must chain to; setting it makes client certificates mandatory. */
  clientCaFile?: string;
}

/** TLS on with caFile; a client certificate is presented when certFile + keyFile are set. */
export interface ClientTlsConfig {
  /** PEM CA bundle the server certificate is verified against. */
  caFile?: string;
  /** PEM client certificate chain (for servers that require mutual TLS). */
  certFile?: string;
  /** PEM private key for certFile. */
  keyFile?: string;
  /** Host name to verify the server certificate against (and send as SNI) instead of the target's host. */
  serverNameOverride?: string;
}

/** Thrown by serverCredentials / channelCredentials; `problems` holds each problem separately. */
export class TlsConfigError extends Error {
  override readonly name = 'TlsConfigError';

  constructor(readonly problems: readonly string[]) {
    super(`invalid TLS configuration: ${problems.join('; ')}`);
  }
}

// Empty strings count as unset: configs built from environment variables produce '' for "not given".
function isSet(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}

function fileProblem(field: string, path: string): string | undefined {
  try {
    // statSync first: accessSync(R_OK) succeeds on directories, which readFileSync then rejects.
    if (!fs.statSync(path).isFile()) return `${field}: "${path}" is not a regular file`;
    fs.accessSync(path, fs.constants.R_OK);
    return undefined;
  } catch (err) {
    return `${field}: cannot read "${path}" (${(err as NodeJS.ErrnoException).code ?? String(err)})`;
  }
}

function pairProblems(
  certField: string,
  cert: string | undefined,
  keyField: string,
  key: string | undefined,
): string[] {
  if (isSet(cert) && !isSet(key)) return [`${certField} is set but ${keyField} is not`];
  if (isSet(key) && !isSet(cert)) return [`${keyField} is set but ${certField} is not`];
  return [];
}

function filesProblems(files: Record<string, string | undefined>): string[] {
  return Object.entries(files).flatMap(([field, path]) => {
    const problem = isSet(path) ? fileProblem(field, path) : undefined;
    return problem === undefined ? [] : [problem];
  });
}

/** Every problem with a server TLS config (empty when valid), so a config loader can report them all at once. */
export function validateServerTls(cfg: ServerTlsConfig): string[] {
  const problems = pairProblems('certFile', cfg.certFile, 'keyFile', cfg.keyFile);
  if (isSet(cfg.clientCaFile) && !(isSet(cfg.certFile) && isSet(cfg.keyFile))) {
    problems.push('clientCaFile (mutual TLS) requires certFile and keyFile');
  }
  const { certFile, keyFile, clientCaFile } = cfg;
  return [...problems, ...filesProblems({ certFile, keyFile, clientCaFile })];
}

/**
 * Every problem with a client TLS config (empty when valid). `names` renames the fields in the
 * messages to what the caller's user typed (command-line options, say).
 */
export function validateClientTls(
  cfg: ClientTlsConfig,
  names: Partial<Record<keyof ClientTlsConfig, string>> = {},
): string[] {
  const n = (field: keyof ClientTlsConfig) => names[field] ?? field;
  const problems = pairProblems(n('certFile'), cfg.certFile, n('keyFile'), cfg.keyFile);
  // Without caFile the channel is plaintext, so these settings would be silently ignored.
  if (!isSet(cfg.caFile)) {
    if (isSet(cfg.certFile) || isSet(cfg.keyFile)) {
      problems.push(`${n('certFile')}/${n('keyFile')} (client certificate) require ${n('caFile')}`);
    }
    if (isSet(cfg.serverNameOverride))
      problems.push(`${n('serverNameOverride')} requires ${n('caFile')}`);
  }
  const { caFile, certFile, keyFile } = cfg;
  return [
    ...problems,
    ...filesProblems({ [n('caFile')]: caFile, [n('certFile')]: certFile, [n('keyFile')]: keyFile }),
  ];
}

function throwIfAny(problems: string[]): void {
  if (problems.length > 0) throw new TlsConfigError(problems);
}

// Files were checked by validate*, but they can still vanish before we read them.
function readFile(field: string, path: string): Buffer {
  try {
    return fs.readFileSync(path);
  } catch (err) {
    throw new TlsConfigError([fileProblem(field, path) ?? `${field}: ${String(err)}`]);
  }
}

// Parse the PEM now so that garbage, or a key that does not match its certificate, fails here as a
// TlsConfigError naming the fields. Otherwise grpc-js reports it as a plain Error from createSsl
// (client) or only when the server binds its port.
function assertPemLoads(what: string, options: tls.SecureContextOptions): void {
  try {
    tls.createSecureContext(options);
  } catch (err) {
    throw new TlsConfigError([`${what}: ${(err as Error).message}`]);
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

// node's TLS silently ignores a CA bundle without certificates (empty file, DER, a key by mistake),
// which would then reject every peer at handshake time with an unhelpful error. Catch it here.
function assertCaLoads(field: string, ca: Buffer): void {
  const blocks = ca.toString('utf8').match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw new TlsConfigError([`${field}: no PEM certificate found`]);
  try {
    blocks.forEach((block) => new X509Certificate(block));
  } catch (err) {
    throw new TlsConfigError([`${field}: ${(err as Error).message}`]);
  }
}

/** Server credentials: insecure when TLS is off, TLS with certFile/keyFile, mutual TLS with clientCaFile. */
export function serverCredentials(cfg: ServerTlsConfig): grpc.ServerCredentials {
  throwIfAny(validateServerTls(cfg));
  const { certFile, keyFile, clientCaFile } = cfg;
  if (!isSet(certFile) || !isSet(keyFile)) return grpc.ServerCredentials.createInsecure();

  const cert = readFile('certFile', certFile);
  const key = readFile('keyFile', keyFile);
  const clientCa = isSet(clientCaFile) ? readFile('clientCaFile', clientCaFile) : null;
  assertPemLoads('certFile/keyFile', { cert, key });
  if (clientCa !== null) assertCaLoads('clientCaFile', clientCa);

  // checkClientCertificate=true makes grpc-js set requestCert, and node's TLS server then defaults
  // rejectUnauthorized to true: a client without a certificate chaining to clientCa is refused
  // during the handshake. With rootCerts=null grpc-js falls back to default roots, which only
  // matter when client certificates are requested, i.e. never in that case.
  return grpc.ServerCredentials.createSsl(
    clientCa,
    [{ cert_chain: cert, private_key: key }],
    clientCa !== null,
  );
}

/** Channel credentials: insecure without caFile, TLS verified against caFile, plus a client certificate when configured. */
export function channelCredentials(cfg: ClientTlsConfig): grpc.ChannelCredentials {
  throwIfAny(validateClientTls(cfg));
  const { caFile, certFile, keyFile } = cfg;
  if (!isSet(caFile)) return grpc.ChannelCredentials.createInsecure();

  const ca = readFile('caFile', caFile);
  const hasClientCert = isSet(certFile) && isSet(keyFile);
  const cert = hasClientCert ? readFile('certFile', certFile) : null;
  const key = hasClientCert ? readFile('keyFile', keyFile) : null;
  assertCaLoads('caFile', ca);
  if (cert !== null && key !== null) assertPemLoads('certFile/keyFile', { cert, key });

  // Passing caFile explicitly matters: with null rootCerts grpc-js would trust the default roots.
  return grpc.ChannelCredentials.createSsl(ca, key, cert);
}

/**
 * Channel options that go with channelCredentials. grpc-js applies 'grpc.ssl_target_name_override'
 * to certificate host-name verification and SNI only; the :authority header still comes from the
 * target (set 'grpc.default_authority' separately if the server routes on it).
 */
export function channelOptions(cfg: ClientTlsConfig): grpc.ChannelOptions {
  return isSet(cfg.caFile) && isSet(cfg.serverNameOverride)
    ? { 'grpc.ssl_target_name_override': cfg.serverNameOverride }
    : {};
}
