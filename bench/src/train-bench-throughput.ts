// `embpress bench train --what throughput`: samples/s of the trainer's step loop on the Criteo
// shape (13 dense, 26 sparse fields, dim D) for a few methods. The loop body is the trainer's
// (libs/training/src/train.ts): sparse optimizer step, rows of the batch from the
// trainable table, model.step (forward, one backward pass, dense update), trainable.backward
// (lazy sparse update). Batches are generated up front (Zipf ids over the synthetic Criteo
// profile's cardinalities), so the figure is the step loop's, not data preparation's.
import { fullBytes, type TableShape } from '@embpress/compression';
import { scaledCardinality, synthProfile, ZipfSampler } from '@embpress/data';
import {
  createModel,
  initBackend,
  type BackendChoice,
  type DenseOptimizerKind,
  type ModelConfigInput,
} from '@embpress/models';
import { loadavg } from 'node:os';

type Trainer = typeof import('@embpress/training');

export interface ThroughputOptions {
  methods: string[];
  budget: number;
  batchSize: number;
  /** Timed steps per method (after the warm-up). */
  steps: number;
  warmup: number;
  /** Cardinality scale over the real Criteo fields (synthetic profile). */
  scale: number;
  dim: number;
  backend: BackendChoice;
  optimizer: DenseOptimizerKind;
  lr: number;
  seed: number;
  /** Layer sizes over the reference defaults (tests use small ones). */
  modelOverrides?: Record<string, unknown>;
  trainer: Trainer;
  log: (line: string) => void;
}

export interface ThroughputRow {
  method: string;
  spec: string;
  memoryBytes: number;
  fullBytes: number;
  batchSize: number;
  steps: number;
  /** Samples over the wall time of all timed steps. */
  samplesPerSec: number;
  /** Batch size over the median step. */
  samplesPerSecMedian: number;
  stepMsMedian: number;
  stepMsMin: number;
  stepMsMax: number;
  /** Median ms of the loop's parts: rows lookup, model.step, sparse backward. */
  parts: { lookupMs: number; modelMs: number; backwardMs: number };
  loadavgBefore: number[];
  loadavgAfter: number[];
}

export interface ThroughputReport {
  what: 'throughput';
  backend: string;
  batchSize: number;
  dim: number;
  numDense: number;
  numFields: number;
  rows: number;
  cardinalities: number[];
  results: ThroughputRow[];
}

const NUM_DENSE = 13;
const BATCHES = 8;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

const round = (x: number, digits = 2) => Number(x.toFixed(digits));
const load = () => loadavg().map((x) => round(x));

/** Deterministic 32-bit generator for the batches (the same ids for every method). */
function mulberry(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Batch {
  dense: Float32Array;
  sparse: Uint32Array;
  labels: Float32Array;
}

function makeBatches(cards: number[], B: number, seed: number): Batch[] {
  const rand = mulberry(seed);
  const zipf = cards.map((n) => new ZipfSampler(n, 1.1));
  const offsets: number[] = [];
  let at = 0;
  for (const n of cards) {
    offsets.push(at);
    at += n;
  }
  const F = cards.length;
  return Array.from({ length: BATCHES }, () => {
    const dense = new Float32Array(B * NUM_DENSE);
    const sparse = new Uint32Array(B * F);
    const labels = new Float32Array(B);
    for (let s = 0; s < B; s += 1) {
      for (let j = 0; j < NUM_DENSE; j += 1) dense[s * NUM_DENSE + j] = Math.log1p(rand() * 100);
      for (let f = 0; f < F; f += 1)
        sparse[s * F + f] = (offsets[f] as number) + (zipf[f] as ZipfSampler).sample(rand) - 1;
      labels[s] = rand() < 0.25 ? 1 : 0;
    }
    return { dense, sparse, labels };
  });
}

export async function benchThroughput(o: ThroughputOptions): Promise<ThroughputReport> {
  const backend = await initBackend(o.backend);
  const cards = synthProfile('criteo').categorical.map((c) =>
    scaledCardinality(c.fullCardinality, o.scale),
  );
  const shape: TableShape = { fields: cards, dim: o.dim };
  const F = cards.length;
  const B = o.batchSize;
  const batches = makeBatches(cards, B, o.seed);
  o.log(
    `throughput on ${backend.name}: ${F} fields (${cards.reduce((a, b) => a + b, 0)} rows) x ${o.dim}, ${NUM_DENSE} dense, batch ${B}, ${o.steps} timed steps after ${o.warmup}`,
  );
  const results: ThroughputRow[] = [];
  for (const method of o.methods) {
    const emb = o.trainer.setupEmbedding({
      spec: method,
      ...(method === 'full' ? {} : { budget: o.budget }),
      shape,
      seed: o.seed,
      optimizer: o.optimizer,
      lr: o.lr,
      log: o.log,
    });
    const trainable = emb.trainable;
    const rowsOf = (trainable.trainForward ?? trainable.forward).bind(trainable);
    const model = createModel(
      {
        ...o.modelOverrides,
        kind: 'dlrm',
        numDense: NUM_DENSE,
        numFields: F,
        dim: o.dim,
      } as ModelConfigInput,
      { seed: o.seed, optimizer: { kind: o.optimizer, lr: o.lr } },
    );
    const rows = new Float32Array(B * F * o.dim);
    const rowGrads = new Float32Array(rows.length);
    const step = (b: Batch) => {
      const t0 = performance.now();
      emb.optimizer.nextStep();
      rowsOf(b.sparse, rows);
      const t1 = performance.now();
      const r = model.step(b.dense, rows, b.labels, rowGrads);
      const t2 = performance.now();
      trainable.backward(b.sparse, rowGrads);
      const t3 = performance.now();
      if (!Number.isFinite(r.loss)) throw new Error(`${method}: loss ${r.loss}`);
      return [t1 - t0, t2 - t1, t3 - t2] as const;
    };
    try {
      for (let i = 0; i < o.warmup; i += 1) step(batches[i % BATCHES] as Batch);
      const loadavgBefore = load();
      const totals: number[] = [];
      const lookup: number[] = [];
      const modelMs: number[] = [];
      const backward: number[] = [];
      const start = performance.now();
      for (let i = 0; i < o.steps; i += 1) {
        const [a, m, b] = step(batches[i % BATCHES] as Batch);
        lookup.push(a);
        modelMs.push(m);
        backward.push(b);
        totals.push(a + m + b);
      }
      const wall = (performance.now() - start) / 1000;
      const med = median(totals);
      const row: ThroughputRow = {
        method,
        spec: emb.spec,
        memoryBytes: trainable.memoryBytes(),
        fullBytes: fullBytes(shape),
        batchSize: B,
        steps: o.steps,
        samplesPerSec: Math.round((o.steps * B) / wall),
        samplesPerSecMedian: Math.round((B * 1000) / med),
        stepMsMedian: round(med),
        stepMsMin: round(Math.min(...totals)),
        stepMsMax: round(Math.max(...totals)),
        parts: {
          lookupMs: round(median(lookup)),
          modelMs: round(median(modelMs)),
          backwardMs: round(median(backward)),
        },
        loadavgBefore,
        loadavgAfter: load(),
      };
      o.log(
        `${emb.spec}: ${row.samplesPerSec} samples/s (median step ${row.stepMsMedian} ms: lookup ${row.parts.lookupMs}, model ${row.parts.modelMs}, backward ${row.parts.backwardMs}); loadavg ${row.loadavgAfter.join(' ')}`,
      );
      results.push(row);
    } finally {
      model.dispose();
    }
  }
  return {
    what: 'throughput',
    backend: backend.name,
    batchSize: B,
    dim: o.dim,
    numDense: NUM_DENSE,
    numFields: F,
    rows: cards.reduce((a, b) => a + b, 0),
    cardinalities: cards,
    results,
  };
}
