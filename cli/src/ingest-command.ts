// `embpress ingest`: a corpus (JSONL passages, or the precomputed MiniLM vectors) → vectors → a
// compressed passage table → a model version in the registry (docs/adr/0010), then, with --store,
// LoadVersion + ActivateVersion on a running store. Progress on stderr; with --json the last
// stdout line is one summary object. Bad input: one clear line (exit 2 usage, 1 data).
import { parseArgs } from 'node:util';
import type { ServiceError } from '@grpc/grpc-js';
import { TlsConfigError, validateClientTls, type ClientTlsConfig } from '@embpress/service-kit';
import { SpecError, ArtifactError } from '@embpress/compression';
import { ModelVersionError } from '@embpress/model-registry';
import { StoreClient } from '@embpress/store-client';
import {
  integerOption as int,
  lazyRequire,
  requiredOption as required,
  UsageError,
} from '@embpress/service-kit/config';
import { anyOf, runCommand } from './command';

// Loaded when the command runs, not when the CLI starts (lazy.ts).
type Corpus = typeof import('@embpress/corpus');
const corpus = (): Corpus => lazyRequire<Corpus>('@embpress/corpus');

export const INGEST_USAGE = `usage:
  embpress ingest (--corpus FILE.jsonl | --vectors minilm) --name CORPUS --codec SPEC
                  [--dim 256] [--keep-fp32] [--registry DIR] [--version V] [--seed S]
                  [--no-stopwords] [--store HOST:PORT [--admin-token T] [--tls-ca FILE
                  [--tls-cert FILE --tls-key FILE] [--tls-server-name NAME]]] [--json]
      FILE.jsonl holds one {"id","text"} passage per line. Text corpora are encoded with a
      TF-IDF + truncated SVD encoder fitted here (--dim, at most the passage count) and saved
      with the version; --vectors minilm takes the 778 × 384 MiniLM vectors of
      @sap-ux/fiori-docs-embeddings. SPEC: fp32, fp16, int8, rowwise-int8, pq(...), prune(...),
      svd(...), ivf(nlist=N,nprobe=P)|rowwise-int8, ... --keep-fp32 adds the passages.fp32 table
      the store re-ranks with. --store loads and activates the version there (TLS verified
      against --tls-ca, with a client certificate for mutual TLS).
      Defaults: --dim 256 --registry var/models --seed 42, version = a timestamp.`;

const log = (line: string) => process.stderr.write(`${line}\n`);

/** LoadVersion + ActivateVersion on the store at `address` (bearer token when given). */
async function publish(
  address: string,
  tls: ClientTlsConfig,
  token: string | undefined,
  model: string,
  version: string,
) {
  const client = new StoreClient({ address, tls, timeoutMs: 30_000, streams: 0 });
  try {
    return await client.publishVersion(model, version, { adminToken: token });
  } catch (err) {
    const e = err as ServiceError;
    throw new PublishError(`store ${address}: ${e.details ?? e.message}`);
  } finally {
    client.close();
  }
}

class PublishError extends Error {}

async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      corpus: { type: 'string' },
      vectors: { type: 'string' },
      name: { type: 'string' },
      codec: { type: 'string' },
      dim: { type: 'string', default: '256' },
      'keep-fp32': { type: 'boolean', default: false },
      registry: { type: 'string', default: 'var/models' },
      version: { type: 'string' },
      seed: { type: 'string', default: '42' },
      'no-stopwords': { type: 'boolean', default: false },
      store: { type: 'string' },
      'admin-token': { type: 'string' },
      'tls-ca': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-server-name': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${INGEST_USAGE}\n`);
    return;
  }
  if ((values.corpus === undefined) === (values.vectors === undefined))
    throw new UsageError('give exactly one of --corpus FILE.jsonl and --vectors minilm');
  if (values.vectors !== undefined && values.vectors !== 'minilm')
    throw new UsageError(`--vectors must be minilm, got ${JSON.stringify(values.vectors)}`);
  const name = required('name', values.name);
  const codec = required('codec', values.codec);
  if (values['admin-token'] !== undefined && values.store === undefined)
    throw new UsageError('--admin-token needs --store');
  const tls: ClientTlsConfig = {
    caFile: values['tls-ca'],
    certFile: values['tls-cert'],
    keyFile: values['tls-key'],
    serverNameOverride: values['tls-server-name'],
  };
  if (Object.values(tls).some((v) => v !== undefined) && values.store === undefined)
    throw new UsageError('--tls-* options need --store');
  // Checked before any work: a bad TLS option must not cost an ingestion.
  const tlsProblems = validateClientTls(tls, {
    caFile: '--tls-ca',
    certFile: '--tls-cert',
    keyFile: '--tls-key',
    serverNameOverride: '--tls-server-name',
  });
  if (tlsProblems.length > 0) throw new UsageError(tlsProblems.join('; '));
  const dim = int('dim', values.dim, 1);
  const seed = int('seed', values.seed, 0);
  const r = corpus();
  let passages;
  let vectors: import('@embpress/corpus').IngestVectors;
  if (values.corpus !== undefined) {
    passages = r.readCorpusJsonl(values.corpus);
    vectors = { kind: 'lsa', dim, seed, stopwords: !values['no-stopwords'] };
    log(`${values.corpus}: ${passages.length} passages; fitting TF-IDF + SVD (dim ≤ ${dim})`);
  } else {
    const minilm = r.readMiniLmCorpus();
    passages = minilm.passages;
    vectors = {
      kind: 'precomputed',
      vectors: minilm.vectors,
      dim: minilm.dim,
      source: minilm.source,
    };
    log(`${minilm.source}: ${passages.length} × ${minilm.dim} vectors`);
  }
  const result = r.ingestCorpus({
    registryRoot: values.registry,
    corpus: name,
    ...(values.version === undefined ? {} : { version: values.version }),
    passages,
    vectors,
    codec,
    keepFp32: values['keep-fp32'],
    seed,
  });
  log(
    `wrote ${result.versionDir}: ${result.rows} × ${result.dim} ${result.spec}, ${result.bytesPerVector.toFixed(1)} bytes/vector (fp32 ${result.fp32BytesPerVector})${result.fp32Table === undefined ? '' : `, + ${result.fp32Table}`}`,
  );
  if (!result.searchable)
    log(
      `note: ${result.method} tables cannot be searched by the store (fp16, rowwise-int8, pq and ivf can)`,
    );
  let activated = false;
  if (values.store !== undefined) {
    const previous = await publish(
      values.store,
      tls,
      values['admin-token'],
      result.corpus,
      result.version,
    );
    activated = true;
    log(
      `store ${values.store}: ${result.corpus}/${result.version} active${previous === '' ? '' : ` (was ${previous})`}`,
    );
  }
  const summary = { ...result, activated };
  if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`);
  else
    process.stdout.write(
      `${result.corpus}/${result.version}: ${result.rows} passages, ${result.spec}\n`,
    );
}

export function ingestCommand(args: string[]): Promise<void> {
  return runCommand(
    'ingest',
    INGEST_USAGE,
    (err) =>
      anyOf(
        corpus().CorpusError,
        corpus().EncoderError,
        SpecError,
        ArtifactError,
        ModelVersionError,
        PublishError,
        TlsConfigError,
      )(err),
    () => run(args),
  );
}
