// The one-object summary of a finished training run: what `embpress train --json` prints as its
// last line and what a caller records (the schedule actually used, explicit flags and the
// defaults chosen for the data; the stages of a multi-stage method).
import type { TrainResult } from './options';

export function trainSummary(result: TrainResult) {
  const s = result.schedule;
  return {
    method: result.spec,
    budget: result.budget,
    memoryBytes: result.memoryBytes,
    fullBytes: result.fullBytes,
    valAuc: result.metrics.valAuc,
    testAuc: result.metrics.testAuc,
    testLogloss: result.metrics.testLogloss,
    trainSeconds: result.trainSeconds,
    samplesPerSec: result.samplesPerSec,
    // The whole process's peak (ru_maxrss is in KiB on Linux and macOS).
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    backend: result.backend,
    modelDir: result.modelDir,
    schedule: {
      preset: s.preset,
      trainRows: s.trainRows,
      batchSize: s.batchSize,
      epochs: s.epochs,
      partsPerEpoch: s.partsPerEpoch,
      earlyStopParts: s.earlyStopParts,
      optimizer: s.optimizer,
      lr: s.lr,
      amsgrad: s.amsgrad,
      dropout: s.dropout,
      lrSchedule: s.lrSchedule,
      warmupSteps: s.warmupSteps,
      partsRun: result.partsRun,
      bestPart: result.bestPart,
      stoppedEarly: result.stoppedEarly,
    },
    // Multi-stage methods: each stage's parts, kept part and how it ended.
    ...(result.stages.length > 1 || (result.stages[0]?.name ?? '') !== ''
      ? { stages: result.stages }
      : {}),
  };
}

export type TrainSummary = ReturnType<typeof trainSummary>;
