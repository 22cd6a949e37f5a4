// The `embpress` command. Thin: parses arguments and calls libs/services.
// Import nothing here that loads @grpc/grpc-js: `serve` must start telemetry first.
import { parseArgs } from 'node:util';
import { isOptionError, lazyRequire } from '@embpress/service-kit/config';

const USAGE = `usage: embpress <command> [options]

commands:
  serve <store|trainer|ranker|retriever|all> [--config FILE] [--demo]
      Run a service (or all four on loopback, one process each) until SIGTERM/SIGINT.
      serve all --demo (= npm start) first publishes the embedded defaults if missing: a DLRM
      "demo" trained on 50k synthetic Criteo rows and the corpus "docs" (fiori docs, TF-IDF + SVD).
      Configuration: environment variables (see README), optionally over a JSON file of the
      same variable names given with --config.
  data synth --rows N --seed S --out FILE [--profile criteo|avazu] [--json]
      Synthetic Criteo/Avazu-format data from a known model (reports its Bayes-optimal AUC).
  data prepare --data KIND:PATH [--test KIND:PATH] --out DIR [--json]
      Read, encode and split a dataset into a binary cache (vocabulary from the train split).
  train --data KIND:PATH [--test KIND:PATH] --model dlrm --method SPEC [--budget R] [--epochs N] [--out DIR] [--json]
      Train a model with compressed embeddings and export a model version (see embpress train --help).
  inspect PATH [--json]
      Verify and describe a model version, a model directory or a table artifact.
  methods [--json]
      List the compression methods (id, trainable or codec, family, taxonomy).
  bench codecs [--rows N] [--dim D] [--batch B] [--seconds S] [--methods a,b@0.1,...] [--json]
      In-process lookup rows/s of every method vs a plain fp32 gather, bytes per row.
  bench store --vs redis [--rows N] [--dim D] [--batch B] [--concurrency C] [--connections K] [--seconds S] [--encoding codes|float32] [--json]
      Store vs redis-server on the same rows: rows/s, p50/p99, bytes/row.
  bench ranker [--candidates N] [--rate R] [--duration S] [--json]
      Store + ranker on a trained demo DLRM, Rank at a constant arrival rate from another
      process: p50/p99, achieved rate, errors, max score difference to the offline model.
  bench retrieval [--methods fp32,fp16,int8,rowwise-int8,pq,prune,ivf] [--xquad DIR] [--json]
      Recall@10 against exact fp32 search, bytes/vector, compression seconds, search p50/p99.
  bench train --what quality|methods|throughput [--json]
      DLRM vs a factorization machine vs the Bayes AUC, methods at a budget, samples/s.
  ingest (--corpus FILE.jsonl | --vectors minilm) --name CORPUS --codec SPEC [--store HOST:PORT] [--json]
      Encode a passage corpus, compress its vectors and publish it as a model version.
  experiment --out DIR [--quick] [--methods a,b] [--budgets 0.5,0.25,0.1,0.01,0.001] [--data synthetic|criteo:PATH ...] [--seeds 1]
      Methods × budgets × datasets × seeds: quality, bytes, training time, peak RSS and serving
      latency through a store + ranker per run, appended to DIR/results.jsonl (resumable), then
      the report. --quick: a small preset (≤ 5 min on 2 cores).
  report RESULTS.jsonl --out DIR
      An offline HTML report (AUC vs memory with the Pareto frontier, serving p99, training time,
      loss curves, every run, the method taxonomy) and report.md from an experiment's results.
  traces summarize FILE [--json] [--slowest N]
      Span latency percentiles by name and where a Rank or Retrieve spends its time (stages,
      store calls client vs server, network/queue gap) from a span file or an OTLP JSON export.
  loadtest SCENARIO [--target HOST:PORT] [--rate R] [--duration S] [--json]
      Open-loop load (the k6 scenarios, run from Node) against a running service.
  Each command and bench prints its full options with --help.
  help
      Show this text.
`;

export const SERVICE_NAMES = ['store', 'trainer', 'ranker', 'retriever'] as const;
export type ServiceName = (typeof SERVICE_NAMES)[number];

function usageError(message: string): never {
  process.stderr.write(`embpress: ${message}\n\n${USAGE}`);
  process.exit(2);
}

// Each loaded when it runs, not when the CLI starts.
const lazyCommand = <M>(file: string, pick: (m: M) => (args: string[]) => Promise<void>) => {
  return (args: string[]) => pick(lazyRequire<M>(require.resolve(file)))(args);
};
const COMMANDS = {
  data: lazyCommand<typeof import('./data-command')>('./data-command', (m) => m.dataCommand),
  train: lazyCommand<typeof import('./train-command')>('./train-command', (m) => m.trainCommand),
  inspect: lazyCommand<typeof import('./inspect-command')>(
    './inspect-command',
    (m) => m.inspectCommand,
  ),
  ingest: lazyCommand<typeof import('./ingest-command')>(
    './ingest-command',
    (m) => m.ingestCommand,
  ),
  loadtest: lazyCommand<typeof import('./loadtest-command')>(
    './loadtest-command',
    (m) => m.loadtestCommand,
  ),
};

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return;
    case 'serve': {
      const { values, positionals } = parseArgs({
        args: rest,
        options: { config: { type: 'string' }, demo: { type: 'boolean', default: false } },
        allowPositionals: true,
        strict: true,
      });
      const [target, ...extra] = positionals;
      if (extra.length > 0)
        usageError(`serve takes one service name, got ${positionals.join(' ')}`);
      if (values.demo && target !== 'all') usageError('--demo goes with serve all');
      if (target === 'all') {
        const { serveAll } = lazyRequire<typeof import('./serve-all')>(
          require.resolve('./serve-all'),
        );
        await serveAll(values.config, values.demo);
        return;
      }
      if (!(SERVICE_NAMES as readonly string[]).includes(target ?? '')) {
        usageError(`serve needs one of ${SERVICE_NAMES.join(', ')}, all`);
      }
      const { serveOne } = lazyRequire<typeof import('./serve-one')>(
        require.resolve('./serve-one'),
      );
      await serveOne(target as ServiceName, values.config);
      return;
    }
    case 'methods': {
      const { values } = parseArgs({
        args: rest,
        options: { json: { type: 'boolean', default: false } },
        strict: true,
      });
      lazyRequire<typeof import('./methods-command')>(
        require.resolve('./methods-command'),
      ).methodsCommand(values.json);
      return;
    }
    case 'data':
    case 'train':
    case 'inspect':
    case 'ingest':
    case 'loadtest':
      await COMMANDS[command](rest);
      return;
    case 'bench':
      lazyRequire<typeof import('@embpress/bench')>('@embpress/bench').benchCommand(rest);
      return;
    case 'experiment':
    case 'report':
    case 'traces':
      lazyRequire<typeof import('@embpress/bench')>('@embpress/bench').toolCommand(command, rest);
      return;
    default:
      usageError(`unknown command "${command}"`);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  if (isOptionError(err)) usageError(err.message);
  process.stderr.write(
    `embpress: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(1);
});
