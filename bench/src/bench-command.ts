// `embpress bench <what> [...] --json`: benchmark scripts. Progress goes to stderr; with --json
// the last stdout line is one JSON object. Exit code 2, with the message and no stack, for a usage
// mistake (service-kit's UsageError, a malformed option) or when the machine lacks something the
// benchmark needs (BenchSetupError: redis-server, data); 1 on any other failure.
import { parseArgs } from 'node:util';
import { benchCodecs } from './codecs';
import {
  isOptionError,
  lazyRequire,
  listOption,
  atLeastOption,
  UsageError,
} from '@embpress/service-kit/config';
import { BenchSetupError } from './bench-setup-error';

/**
 * The asynchronous benchmarks (servers, child processes), each in its own module. Resolved here:
 * lazyRequire takes resolved ids (require.resolve against this directory).
 */
const ASYNC_BENCHES: Record<string, () => (args: string[]) => Promise<void>> = {
  store: () => lazyRequire<typeof import('./store')>(require.resolve('./store')).benchStoreCommand,
  ranker: () =>
    lazyRequire<typeof import('./ranker-bench')>(require.resolve('./ranker-bench'))
      .benchRankerCommand,
  retrieval: () =>
    lazyRequire<typeof import('./retrieval-bench')>(require.resolve('./retrieval-bench'))
      .benchRetrievalCommand,
  train: () =>
    lazyRequire<typeof import('./train-bench')>(require.resolve('./train-bench')).benchTrainCommand,
  search: () =>
    lazyRequire<typeof import('./search-bench')>(require.resolve('./search-bench'))
      .benchSearchCommand,
};

const CODECS_USAGE = `usage:
  embpress bench codecs [--rows 1000000] [--dim 16] [--batch 4096] [--seconds 1]
                        [--methods a,b@0.1,...] [--seed 1] [--json]
      In-process lookup rows/s of every method (or those of --methods, a budget after @) against
      a tight scalar gather over a plain fp32 table, with bytes per row.`;

/** `embpress bench codecs`: synchronous, CPU only. */
function benchCodecsCommand(args: string[]): void {
  const { values } = parseArgs({
    args,
    strict: true,
    options: {
      rows: { type: 'string', default: '1000000' },
      dim: { type: 'string', default: '16' },
      batch: { type: 'string', default: '4096' },
      seconds: { type: 'string', default: '1' },
      methods: { type: 'string' },
      seed: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${CODECS_USAGE}\n`);
    return;
  }
  const report = benchCodecs({
    rows: atLeastOption('rows', values.rows, 2),
    dim: atLeastOption('dim', values.dim, 1),
    batch: atLeastOption('batch', values.batch, 1),
    seconds: atLeastOption('seconds', values.seconds, 0),
    methods: values.methods === undefined ? undefined : listOption(values.methods),
    seed: atLeastOption('seed', values.seed, 0),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(
    values.json ? `${JSON.stringify(report)}\n` : `${JSON.stringify(report, null, 2)}\n`,
  );
}

async function runBench(what: string | undefined, args: string[]): Promise<void> {
  if (what === 'codecs') return benchCodecsCommand(args);
  const load =
    what !== undefined && Object.hasOwn(ASYNC_BENCHES, what) ? ASYNC_BENCHES[what] : undefined;
  if (load === undefined)
    throw new UsageError(
      `unknown benchmark "${what ?? ''}" (available: codecs, ${Object.keys(ASYNC_BENCHES).join(', ')})`,
    );
  await load()(args);
}

export function benchCommand(args: string[]): void {
  const [what, ...rest] = args;
  runBench(what, rest).catch((err: unknown) => {
    // A mistyped or bad option: its message, not a stack trace.
    const usage = err instanceof UsageError || isOptionError(err);
    const setup = err instanceof BenchSetupError;
    process.stderr.write(
      `embpress bench${what === undefined ? '' : ` ${what}`}: ${setup || usage ? (err as Error).message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    if (usage) process.stderr.write(`(the options of each benchmark: embpress help)\n`);
    process.exitCode = setup || usage ? 2 : 1;
  });
}

export { toolCommand, type ToolName } from './tool-command';
