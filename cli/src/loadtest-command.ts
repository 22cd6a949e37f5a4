// `embpress loadtest SCENARIO`: drives a running service with a scenario of loadtest/scenarios at
// a constant arrival rate (the Node open-loop runner; k6 runs the same files, see
// loadtest/README.md). Progress goes to stderr; with --json the last stdout line is one JSON object:
// {scenario, service, target, ratePerSec, durationSec, warmupSec, ...OpenLoopResult, ...}.
import { parseArgs } from 'node:util';
import {
  connectScenario,
  loadScenario,
  parseScenario,
  runOpenLoop,
  scenarioNames,
  type OpenLoopResult,
  type Scenario,
} from '@embpress/loadtest';
import { EmbpressError, InvalidArgumentError } from '@embpress/service-kit';
import { UsageError } from '@embpress/service-kit/config';

export const LOADTEST_USAGE = `usage:
  embpress loadtest SCENARIO [--target HOST:PORT] [--rate R] [--duration S] [--warmup S]
                    [--model M] [--max-in-flight N] [--json]
      Sends the scenario's requests at R per second for S seconds (after a warmup that is not
      counted) to a running service and reports latency percentiles measured from each request's
      scheduled time, errors by gRPC status, dropped requests and the achieved rate.
      SCENARIO is a name in loadtest/scenarios (store-lookup, ranker-rank, retriever-retrieve) or a
      path to a scenario .json file; the options override the file's values. --model sets the
      model (store, ranker) or the corpus (retriever).`;

/** A numeric option: undefined when absent; > 0 (or ≥ 0 with `zeroOk`), integer when asked. */
function numberOption(
  name: string,
  raw: string | undefined,
  { zeroOk = false, integer = false } = {},
): number | undefined {
  if (raw === undefined) return undefined;
  const v = Number(raw);
  const ok =
    raw.trim() !== '' &&
    Number.isFinite(v) &&
    (zeroOk ? v >= 0 : v > 0) &&
    (!integer || Number.isInteger(v));
  if (!ok) {
    const what = `${integer ? 'an integer' : 'a number'} ${zeroOk ? '≥ 0' : '> 0'}`;
    throw new UsageError(`--${name} must be ${what}, got ${JSON.stringify(raw)}`);
  }
  return v;
}

export interface LoadtestOverrides {
  target?: string;
  ratePerSec?: number;
  durationSec?: number;
  warmupSec?: number;
  maxInFlight?: number;
  model?: string;
}

/** The scenario with the command-line values in place of the file's. */
export function applyOverrides(scenario: Scenario, o: LoadtestOverrides): Scenario {
  const base = {
    ...scenario,
    target: o.target ?? scenario.target,
    ratePerSec: o.ratePerSec ?? scenario.ratePerSec,
    durationSec: o.durationSec ?? scenario.durationSec,
    warmupSec: o.warmupSec ?? scenario.warmupSec,
    maxInFlight: o.maxInFlight ?? scenario.maxInFlight,
  };
  if (o.model === undefined) return base;
  switch (base.service) {
    case 'store':
      return { ...base, request: { ...base.request, model: o.model } };
    case 'ranker':
      return { ...base, request: { ...base.request, model: o.model } };
    case 'retriever':
      return { ...base, request: { ...base.request, corpus: o.model } };
  }
}

export interface LoadtestReport extends OpenLoopResult {
  scenario: string;
  service: Scenario['service'];
  target: string;
  ratePerSec: number;
  durationSec: number;
  warmupSec: number;
  maxInFlight: number;
  /** The scenario's p99 threshold and whether the run met it with no errors and no drops. */
  p99ThresholdMs: number;
  thresholdsPassed: boolean;
  detail: Record<string, unknown>;
}

/** Runs a scenario against its target and summarises the measured window. */
export async function runLoadtest(scenario: Scenario): Promise<LoadtestReport> {
  const calls = await connectScenario(scenario);
  try {
    const result = await runOpenLoop(calls.call, {
      ratePerSec: scenario.ratePerSec,
      durationSec: scenario.durationSec,
      warmupSec: scenario.warmupSec,
      maxInFlight: scenario.maxInFlight,
    });
    const p99ThresholdMs = scenario.thresholds.p99Ms;
    return {
      scenario: scenario.name,
      service: scenario.service,
      target: scenario.target,
      ratePerSec: scenario.ratePerSec,
      durationSec: scenario.durationSec,
      warmupSec: scenario.warmupSec,
      maxInFlight: scenario.maxInFlight,
      ...result,
      p99ThresholdMs,
      thresholdsPassed:
        result.p99Ms <= p99ThresholdMs && result.errors === 0 && result.dropped === 0,
      detail: calls.detail,
    };
  } finally {
    calls.close();
  }
}

function round(x: number, digits = 3): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export async function loadtestCommand(args: string[]): Promise<void> {
  try {
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
      ratePerSec: numberOption('rate', values.rate),
      durationSec: numberOption('duration', values.duration),
      warmupSec: numberOption('warmup', values.warmup, { zeroOk: true }),
      maxInFlight: numberOption('max-in-flight', values['max-in-flight'], { integer: true }),
      model: values.model,
    });
    // Validated again with the overrides: a --target of the wrong shape is named like a bad file.
    const checked = parseScenario(scenario, `${scenario.name} with the command-line options`);
    process.stderr.write(
      `loadtest ${checked.name}: ${checked.service} at ${checked.target}, ${checked.ratePerSec}/s for ${checked.durationSec} s (+${checked.warmupSec} s warmup)\n`,
    );
    const report = await runLoadtest(checked);
    const rounded = {
      ...report,
      achievedRate: round(report.achievedRate),
      p50Ms: round(report.p50Ms),
      p90Ms: round(report.p90Ms),
      p99Ms: round(report.p99Ms),
      maxMs: round(report.maxMs),
    };
    if (!values.json) {
      process.stdout.write(
        `${rounded.scenario}: sent ${rounded.sent}, completed ${rounded.completed}, errors ${rounded.errors}` +
          ` ${JSON.stringify(rounded.errorCodes)}, dropped ${rounded.dropped}, achieved ${rounded.achievedRate}/s\n` +
          `latency ms (from scheduled time): p50 ${rounded.p50Ms}, p90 ${rounded.p90Ms}, p99 ${rounded.p99Ms}, max ${rounded.maxMs}` +
          ` (p99 threshold ${rounded.p99ThresholdMs}: ${rounded.thresholdsPassed ? 'passed' : 'FAILED'})\n`,
      );
    }
    process.stdout.write(`${JSON.stringify(rounded)}\n`);
  } catch (err) {
    if (err instanceof UsageError || err instanceof InvalidArgumentError) {
      process.stderr.write(`embpress loadtest: ${err.message}\n\n${LOADTEST_USAGE}\n`);
      process.exitCode = 2;
      return;
    }
    if (err instanceof EmbpressError || isGrpcError(err)) {
      process.stderr.write(`embpress loadtest: ${(err as Error).message}\n`);
      process.exitCode = 1;
      return;
    }
    throw err;
  }
}

function isGrpcError(err: unknown): boolean {
  return err instanceof Error && typeof (err as { code?: unknown }).code === 'number';
}
