// One load test run as `embpress loadtest` does it: a scenario with the command-line values in
// place of the file's, driven at its rate against its target, summarised with its p99 threshold.
import { connectScenario } from './driver';
import { runOpenLoop, type OpenLoopResult } from './open-loop';
import type { Scenario } from './scenario';

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

/** The report with its latencies and rate rounded to the microsecond (what the CLI prints). */
export function roundedReport(report: LoadtestReport): LoadtestReport {
  return {
    ...report,
    achievedRate: round(report.achievedRate),
    p50Ms: round(report.p50Ms),
    p90Ms: round(report.p90Ms),
    p99Ms: round(report.p99Ms),
    maxMs: round(report.maxMs),
  };
}
