// Times one DLRM training step at the reference size (bottom 13-512-256-64-16, 26 fields × 16,
// top 367-512-256-1) on the chosen backend. Not a test: a measurement to quote.
//   node --require tsx/cjs libs/models/src/bench-step.ts [--backend wasm|cpu|auto] [--batch 1024]
//        [--steps 20] [--model dlrm|wdl|dcn|deepfm|fm] [--optimizer sgd|adam|adagrad] [--workers N]
//        [--between-ms X] [--json]
// --between-ms X spins X ms after each step, as a trainer's own work between two dense steps
// (the embedding rows' update, the next batch: ~2 ms at batch 128); the times then include it.
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { initBackend, type BackendChoice } from './backend';
import { MODEL_KINDS, type ModelConfigInput, type ModelKind } from './config';
import { createModel } from './model';
import type { DenseOptimizerKind } from './optimizer';
import { mulberry32 } from './rng';

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      backend: { type: 'string', default: 'wasm' },
      batch: { type: 'string', default: '1024' },
      steps: { type: 'string', default: '20' },
      warmup: { type: 'string', default: '3' },
      model: { type: 'string', default: 'dlrm' },
      optimizer: { type: 'string', default: 'sgd' },
      workers: { type: 'string', default: '1' },
      'between-ms': { type: 'string', default: '0' },
      json: { type: 'boolean', default: false },
    },
  });
  const kind = values.model as ModelKind;
  if (!MODEL_KINDS.includes(kind))
    throw new Error(`--model must be one of ${MODEL_KINDS.join(', ')}`);
  const info = await initBackend(values.backend as BackendChoice);
  const B = Number(values.batch);
  const steps = Number(values.steps);
  const warmup = Number(values.warmup);
  const numDense = 13;
  const F = 26;
  const D = 16;
  const model = createModel({ kind, numDense, numFields: F, dim: D } as ModelConfigInput, {
    seed: 1,
    optimizer: { kind: values.optimizer as DenseOptimizerKind, lr: 1e-3 },
    workers: Number(values.workers),
  });
  const rand = mulberry32(7);
  const dense = Float32Array.from({ length: B * numDense }, () => Math.log1p(rand() * 100));
  const rows = Float32Array.from({ length: B * F * D }, () => (rand() - 0.5) * 0.1);
  const labels = Float32Array.from({ length: B }, () => (rand() < 0.25 ? 1 : 0));
  const rowGrads = new Float32Array(rows.length);
  const betweenMs = Number(values['between-ms']);
  const between = () => {
    const until = performance.now() + betweenMs;
    while (performance.now() < until);
  };
  for (let i = 0; i < warmup; i += 1) model.step(dense, rows, labels, rowGrads);
  const tensorsBefore = tf.memory().numTensors;
  const times: number[] = [];
  for (let i = 0; i < steps; i += 1) {
    const t0 = process.hrtime.bigint();
    model.step(dense, rows, labels, rowGrads);
    if (betweenMs > 0) between();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)] as number;
  const result = {
    backend: info.name,
    model: kind,
    optimizer: values.optimizer,
    workers: model.workers,
    batch: B,
    steps,
    betweenMs,
    parameters: model.parameterCount(),
    stepMsMedian: Number(median.toFixed(2)),
    stepMsMin: Number((times[0] as number).toFixed(2)),
    stepMsMax: Number((times[times.length - 1] as number).toFixed(2)),
    samplesPerSec: Math.round((B * 1000) / median),
    tensorLeakPerStep: (tf.memory().numTensors - tensorsBefore) / steps,
  };
  model.dispose();
  if (values.json) console.log(JSON.stringify(result));
  else
    console.log(
      `${kind} step on ${info.name}, B=${B}: median ${result.stepMsMedian} ms (min ${result.stepMsMin}, max ${result.stepMsMax}), ` +
        `${result.samplesPerSec} samples/s, ${result.parameters} dense weights`,
    );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
