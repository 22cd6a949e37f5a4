// `embpress loadtest SCENARIO`: drives a running service with a scenario of loadtest/scenarios at
// a constant arrival rate (the Node open-loop runner; k6 runs the same files, see
// loadtest/README.md). Progress goes to stderr; with --json the last stdout line is one JSON object:
// {scenario, service, target, ratePerSec, durationSec, warmupSec, ...OpenLoopResult, ...}.
import { parseArgs } from 'node:util';
import {
  applyOverrides,
  loadScenario,
  parseScenario,
  roundedReport,
  runLoadtest,
  scenarioNames,
} from '@embpress/loadtest';
import { EmbpressError, InvalidArgumentError } from '@embpress/service-kit';
import {
  integerOption as integer,
  positiveOption as positive,
  UsageError,
  atLeastOption,
  optionalOption,
} from '@embpress/service-kit/config';
import { runCommand } from './command';

export const LOADTEST_USAGE = `usage:
  embpress loadtest SCENARIO [--target HOST:PORT] [--rate R] [--duration S] [--warmup S]
                    [--model M] [--max-in-flight N] [--json]
      Sends the scenario's requests at R per second for S seconds (after a warmup that is not
      counted) to a running service and reports latency percentiles measured from each request's
      scheduled time, errors by gRPC status, dropped requests and the achieved rate.
      SCENARIO is a name in loadtest/scenarios (store-lookup, ranker-rank, retriever-retrieve) or a
      path to a scenario .json file; the options override the file's values. --model sets the
      model (store, ranker) or the corpus (retriever).`;

async function run(args: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      target: { type: 'string' },
      rate: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      model: { type: 'string' },
      'max-in-flight': { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  if (values.help) {
    process.stdout.write(`${LOADTEST_USAGE}\n`);
    return;
  }
  if (positionals.length !== 1) {
    throw new UsageError(
      `loadtest takes one scenario (${scenarioNames().join(', ')} or a .json path), got ${positionals.length}`,
    );
  }
  if (values.model === '') throw new UsageError('--model must not be empty');
  const scenario = applyOverrides(loadScenario(positionals[0] as string), {
    target: values.target,
    ratePerSec: optionalOption(values.rate, (v) => positive('rate', v)),
    durationSec: optionalOption(values.duration, (v) => positive('duration', v)),
    warmupSec: optionalOption(values.warmup, (v) => atLeastOption('warmup', v, 0)),
    maxInFlight: optionalOption(values['max-in-flight'], (v) => integer('max-in-flight', v, 1)),
    model: values.model,
  });
  // Validated again with the overrides: a --target of the wrong shape is named like a bad file.
  const checked = parseScenario(scenario, `${scenario.name} with the command-line options`);
  process.stderr.write(
    `loadtest ${checked.name}: ${checked.service} at ${checked.target}, ${checked.ratePerSec}/s for ${checked.durationSec} s (+${checked.warmupSec} s warmup)\n`,
  );
  const report = await runLoadtest(checked);
  const rounded = roundedReport(report);
  if (!values.json) {
    process.stdout.write(
      `${rounded.scenario}: sent ${rounded.sent}, completed ${rounded.completed}, errors ${rounded.errors}` +
        ` ${JSON.stringify(rounded.errorCodes)}, dropped ${rounded.dropped}, achieved ${rounded.achievedRate}/s\n` +
        `latency ms (from scheduled time): p50 ${rounded.p50Ms}, p90 ${rounded.p90Ms}, p99 ${rounded.p99Ms}, max ${rounded.maxMs}` +
        ` (p99 threshold ${rounded.p99ThresholdMs}: ${rounded.thresholdsPassed ? 'passed' : 'FAILED'})\n`,
    );
  }
  process.stdout.write(`${JSON.stringify(rounded)}\n`);
}

export function loadtestCommand(args: string[]): Promise<void> {
  // An invalid scenario (its file or the options) is a usage mistake; a service that cannot be
  // reached (a gRPC status) is the user's to fix.
  return runCommand(
    'loadtest',
    LOADTEST_USAGE,
    (err) => err instanceof EmbpressError || isGrpcError(err),
    async () => {
      try {
        await run(args);
      } catch (err) {
        throw err instanceof InvalidArgumentError ? new UsageError(err.message) : err;
      }
    },
  );
}

function isGrpcError(err: unknown): boolean {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number';
}
