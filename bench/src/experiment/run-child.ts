// One training run of `embpress experiment`, in its own process (forked by run-training.ts with an
// IPC channel): its peak RSS is this run's alone, and a crash (out of memory, a native abort)
// loses this run, not the matrix. Trains through the engine's train(), reports the numbers the
// record needs, the part history, and the process's peak resident set.
import { lazyRequire } from '@embpress/service-kit/config';
import type { TrainProgress } from '@embpress/training';
import type { PartPoint } from './records';

export interface RunChildConfig {
  data: string;
  method: string;
  budget: number | null;
  seed: number;
  epochs: number;
  batchSize: number;
  lr: number;
  partsPerEpoch: number;
  earlyStopParts: number;
  modelOverrides: Record<string, unknown>;
  registryRoot: string;
  datasetCacheDir: string;
  modelName: string;
  version: string;
}

export interface RunChildResult {
  spec: string;
  valAuc: number;
  valLogloss: number;
  testAuc: number;
  testLogloss: number;
  memoryBytes: number;
  fullBytes: number;
  paperWords: number;
  trainSeconds: number;
  samplesPerSec: number;
  peakRssBytes: number;
  parts: PartPoint[];
}

export type RunChildMessage =
  | { type: 'progress'; done: number; etaSeconds: number; line?: string }
  | { type: 'done'; result: RunChildResult }
  | { type: 'failed'; name: string; message: string };

function send(message: RunChildMessage): void {
  process.send?.(message);
}

async function run(c: RunChildConfig): Promise<RunChildResult> {
  const { train } = lazyRequire<typeof import('@embpress/training')>('@embpress/training');
  const parts: PartPoint[] = [];
  const r = await train({
    data: c.data,
    model: 'dlrm',
    modelOverrides: c.modelOverrides,
    method: c.method,
    ...(c.budget === null ? {} : { budget: c.budget }),
    epochs: c.epochs,
    batchSize: c.batchSize,
    lr: c.lr,
    optimizer: 'adam',
    partsPerEpoch: c.partsPerEpoch,
    earlyStopParts: c.earlyStopParts,
    seed: c.seed,
    backend: 'wasm',
    registryRoot: c.registryRoot,
    datasetCacheDir: c.datasetCacheDir,
    modelName: c.modelName,
    version: c.version,
    // A run that dies is rerun whole: its checkpoints would only cost time and disk.
    checkpoints: false,
    onProgress: (e: TrainProgress) => {
      if (e.kind === 'batch')
        send({
          type: 'progress',
          done: (e.part - 1 + e.batch / e.batches) / e.parts,
          etaSeconds: e.etaSeconds,
        });
      else if (e.kind === 'part') {
        parts.push({
          stage: e.stage,
          part: e.part,
          loss: e.loss,
          trainAuc: e.trainAuc,
          valAuc: e.valAuc,
          valLogloss: e.valLogloss,
          samplesTrained: e.samplesTrained,
          elapsedSeconds: e.elapsedSeconds,
        });
        send({
          type: 'progress',
          done: e.part / e.parts,
          etaSeconds: (e.elapsedSeconds / e.part) * (e.parts - e.part),
          line: `part ${e.part}/${e.parts}${e.stage === '' ? '' : ` (${e.stage})`}: loss ${e.loss.toFixed(4)}, val AUC ${e.valAuc.toFixed(4)}`,
        });
      }
    },
  });
  return {
    spec: r.spec,
    ...r.metrics,
    memoryBytes: r.memoryBytes,
    fullBytes: r.fullBytes,
    paperWords: r.table.describe().paperWords,
    trainSeconds: r.trainSeconds,
    samplesPerSec: r.samplesPerSec,
    // ru_maxrss, in kilobytes on Linux: the whole process's peak, this run being all it did.
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
    parts,
  };
}

process.once('message', (config: RunChildConfig) => {
  run(config).then(
    (result) => {
      send({ type: 'done', result });
      process.disconnect?.();
    },
    (err: unknown) => {
      const e = err instanceof Error ? err : new Error(String(err));
      send({ type: 'failed', name: e.name, message: e.stack ?? e.message });
      process.disconnect?.();
    },
  );
});
