// `embpress bench <what> [...] --json`: benchmark scripts. Progress goes to stderr; with --json
// the last stdout line is one JSON object.
import { parseArgs } from 'node:util';
import { benchCodecs } from './codecs';
import { isOptionError, lazyRequire } from '@embpress/service-kit/config';
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

export function benchCommand(args: string[]): void {
  const [what, ...rest] = args;
  const asyncBench = what === undefined ? undefined : ASYNC_BENCHES[what];
  if (asyncBench !== undefined) {
    // Exit code 2 when the machine lacks something the benchmark needs (redis-server, data), 1 on
    // any other failure.
    asyncBench()(rest).catch((err: unknown) => {
      const setup = err instanceof BenchSetupError;
      // A mistyped option is a usage error: its message, not a stack trace.
      const usage = isOptionError(err);
      process.stderr.write(
        `embpress bench ${what}: ${setup || usage ? (err as Error).message : err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      if (usage) process.stderr.write(`(the options of each benchmark: embpress help)\n`);
      process.exitCode = setup || usage ? 2 : 1;
    });
    return;
  }
  if (what !== 'codecs')
    throw new Error(
      `bench: unknown benchmark "${what ?? ''}" (available: codecs, ${Object.keys(ASYNC_BENCHES).join(', ')})`,
    );
  const { values } = parseArgs({
    args: rest,
    strict: true,
    options: {
      rows: { type: 'string', default: '1000000' },
      dim: { type: 'string', default: '16' },
      batch: { type: 'string', default: '4096' },
      seconds: { type: 'string', default: '1' },
      methods: { type: 'string' },
      seed: { type: 'string', default: '1' },
      json: { type: 'boolean', default: false },
    },
  });
  const num = (name: string, raw: string, min: number) => {
    const v = Number(raw);
    if (!Number.isFinite(v) || v < min)
      throw new Error(
        `bench codecs: --${name} must be a number >= ${min}, got ${JSON.stringify(raw)}`,
      );
    return v;
  };
  const report = benchCodecs({
    rows: num('rows', values.rows, 2),
    dim: num('dim', values.dim, 1),
    batch: num('batch', values.batch, 1),
    seconds: num('seconds', values.seconds, 0),
    methods: values.methods
      ?.split(',')
      .map((s) => s.trim())
      .filter((s) => s !== ''),
    seed: num('seed', values.seed, 0),
    log: (line) => process.stderr.write(`${line}\n`),
  });
  process.stdout.write(
    values.json ? `${JSON.stringify(report)}\n` : `${JSON.stringify(report, null, 2)}\n`,
  );
}

export { toolCommand, type ToolName } from './tool-command';
