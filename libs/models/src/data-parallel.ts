// A data-parallel training step on several threads (docs/models.md#data-parallel-step,
// docs/adr/0019): the calling thread and `workers` worker threads each hold a copy of the dense
// model. A step splits the batch into contiguous slices; each replica computes the gradient of
// its slice's mean loss; the gradient of the whole batch's mean loss is Σ (n_r / B) · g_r. Each
// replica updates its shard of the weights (by flat position) from that sum, formed in the same
// order everywhere, into shared memory, and then every replica assigns all the weights from
// there, so the copies stay bitwise equal. The row gradients and logits come back in batch order,
// scaled as a one-thread step's would be.
//
// Why threads: the tfjs wasm backend runs one thread in Node, and the dense step is most of a
// training step (docs/benchmarks.md). Why synchronous: `CtrModel.step` is synchronous and the
// training loop, its checkpoints and its staged methods rely on that; the threads talk through
// shared memory and Atomics, and the payload of each command travels on a MessagePort read with
// receiveMessageOnPort (no event loop involved on either side).
import {
  MessageChannel,
  receiveMessageOnPort,
  Worker,
  type MessagePort,
} from 'node:worker_threads';
import * as path from 'node:path';
import type { ModelConfig } from './config';
import type { RowSlice } from './layers';
import type { CtrModel } from './model';
import type { DenseOptimizerConfig } from './optimizer';

/** Slots of the control array shared with one worker. */
export const CTL = { posted: 0, done: 1, failed: 2 } as const;

/** What a worker needs to build its copy of the model. */
export interface ReplicaInit {
  config: ModelConfig;
  seed: number;
  optimizer: DenseOptimizerConfig;
  dropout: number;
  backend: string;
  ctl: SharedArrayBuffer;
  port: MessagePort;
  /** The tsx loader to register first when the worker's entry is TypeScript. */
  tsx: string | undefined;
  entry: string;
}

/** A command to a worker (the payload read with receiveMessageOnPort). */
export type ReplicaCommand =
  | {
      kind: 'sync';
      weights: { name: string; shape: number[]; values: Float32Array }[];
      optimizer: { step: number; slots: { name: string; shape: number[]; values: Float32Array }[] };
    }
  | {
      kind: 'step';
      n: number;
      slice: RowSlice;
      /** Inputs (dense n×numDense, rows n×F×D, labels n) and outputs of the slice. */
      input: SharedArrayBuffer;
      output: SharedArrayBuffer;
    }
  | {
      kind: 'apply';
      lr: number;
      /** The update's gradient: Σ weights[r] · (the P floats of parts[r] from its offset). */
      parts: { buffer: SharedArrayBuffer; offset: number }[];
      weights: number[];
      /** The flat positions this replica updates, and where the new values go (P floats). */
      shard: { from: number; to: number };
      out: SharedArrayBuffer;
    }
  /** Every weight from the P floats of `values` (after every replica's sharded update). */
  | { kind: 'assign'; values: SharedArrayBuffer }
  /** Replies with the replica's optimizer slots (a checkpoint takes the replica's shard of them). */
  | { kind: 'state' }
  /** Replies with the replica's weights, flat in exportWeights() order (tests). */
  | { kind: 'export' }
  | { kind: 'exit' };

/**
 * What the data-parallel step uses of its model: CtrModel's members for it (sliceGradients,
 * applyGradientSum, assignFlatWeights) and the weights' layout and export.
 */
export type ParallelTarget = Pick<
  CtrModel,
  | 'config'
  | 'learningRate'
  | 'params'
  | 'parameterCount'
  | 'sliceGradients'
  | 'applyGradientSum'
  | 'assignFlatWeights'
  | 'exportWeights'
  | 'exportOptimizerState'
>;

/** Error of a worker replica (it stopped, failed a command, or never answered). */
export class DataParallelError extends Error {
  override readonly name = 'DataParallelError';
}

/** No answer for this long means a replica is gone (a step takes well under a second). */
const ANSWER_TIMEOUT_MS = 300_000;

/** Float offsets in a slice's input and output buffers (parts 8-byte aligned). */
export function sliceLayout(n: number, numDense: number, rowWidth: number, params: number) {
  const align = (x: number) => Math.ceil(x / 2) * 2;
  const dense = align(n * numDense);
  const rows = align(n * rowWidth);
  const labels = align(n);
  return {
    input: { dense: 0, rows: dense, labels: dense + rows, floats: dense + rows + labels },
    // loss (float64 in the first two floats), logits, row gradients, weight gradients.
    output: {
      logits: 2,
      rowGrads: 2 + align(n),
      weightGrads: 2 + align(n) + rows,
      floats: 2 + align(n) + rows + params,
    },
  };
}

class Replica {
  readonly ctl: Int32Array;
  private readonly port: MessagePort;
  private readonly worker: Worker;
  private posted = 0;
  private input: SharedArrayBuffer | undefined;
  private output: SharedArrayBuffer | undefined;
  private capacity = 0;
  private failure: string | undefined;

  constructor(
    readonly index: number,
    init: Omit<ReplicaInit, 'ctl' | 'port'>,
  ) {
    const ctl = new SharedArrayBuffer(4 * 4);
    this.ctl = new Int32Array(ctl);
    const { port1, port2 } = new MessageChannel();
    this.port = port1;
    const workerData: ReplicaInit = { ...init, ctl, port: port2 };
    // An eval'd bootstrap: registers tsx when the entry is TypeScript (tests, `npx embpress`),
    // then runs the entry; compiled JavaScript runs as it is.
    this.worker = new Worker(
      `const { workerData } = require('node:worker_threads');
       if (workerData.tsx !== undefined) require(workerData.tsx);
       require(workerData.entry);`,
      { eval: true, workerData, transferList: [port2] },
    );
    // A replica never keeps the process alive; dispose() stops it.
    this.worker.unref();
    this.port.unref();
  }

  /** Buffers for slices of up to n rows (grown, never shrunk). */
  buffers(n: number, numDense: number, rowWidth: number, params: number) {
    if (n > this.capacity || this.input === undefined || this.output === undefined) {
      const layout = sliceLayout(n, numDense, rowWidth, params);
      this.input = new SharedArrayBuffer(layout.input.floats * 4);
      this.output = new SharedArrayBuffer(layout.output.floats * 4);
      this.capacity = n;
    }
    return { input: this.input, output: this.output };
  }

  post(command: ReplicaCommand): void {
    this.port.postMessage(command);
    this.posted += 1;
    Atomics.store(this.ctl, CTL.posted, this.posted);
    Atomics.notify(this.ctl, CTL.posted);
  }

  /** Waits until every command posted so far is done; throws the replica's error. */
  settle(): void {
    let last = Atomics.load(this.ctl, CTL.done);
    let since = Date.now();
    while (last < this.posted) {
      if (Atomics.load(this.ctl, CTL.failed) !== 0) break;
      waitForChange(this.ctl, CTL.done, last, 1000);
      const now = Atomics.load(this.ctl, CTL.done);
      if (now !== last) {
        last = now;
        since = Date.now();
      } else if (Date.now() - since > ANSWER_TIMEOUT_MS) {
        throw new DataParallelError(
          `training replica ${this.index} gave no answer for ${ANSWER_TIMEOUT_MS / 1000} s`,
        );
      }
    }
    if (Atomics.load(this.ctl, CTL.failed) !== 0) {
      // Read once; a failed replica stays failed and says the same on every later call.
      if (this.failure === undefined) {
        const reply = receiveMessageOnPort(this.port)?.message as { error?: string } | undefined;
        this.failure = `training replica ${this.index} failed: ${reply?.error ?? 'no reason given'}`;
      }
      throw new DataParallelError(this.failure);
    }
  }

  /** The replica's optimizer slots (after every command posted before). */
  optimizerState(): { name: string; values: Float32Array }[] {
    this.post({ kind: 'state' });
    this.settle();
    const reply = receiveMessageOnPort(this.port)?.message as {
      slots?: { name: string; values: Float32Array }[];
    };
    if (reply?.slots === undefined)
      throw new DataParallelError(`training replica ${this.index} sent no optimizer state`);
    return reply.slots;
  }

  /** The replica's weights, flat (after every command posted before). */
  weights(): Float32Array {
    this.post({ kind: 'export' });
    this.settle();
    const reply = receiveMessageOnPort(this.port)?.message as { weights?: Float32Array };
    if (reply?.weights === undefined)
      throw new DataParallelError(`training replica ${this.index} sent no weights`);
    return reply.weights;
  }

  stop(): void {
    try {
      this.post({ kind: 'exit' });
    } finally {
      void this.worker.terminate();
      this.port.close();
    }
  }
}

/**
 * Atomics.wait(array, index, value, timeout), after a short spin: a thread that blocks must be
 * woken by the kernel (and, on a VM, its idle virtual CPU too), which cost more than the spin in
 * the measurements of docs/benchmarks.md. The spin is bounded (SPIN_MS) so that a long wait
 * sleeps.
 */
export function waitForChange(
  array: Int32Array,
  index: number,
  value: number,
  timeoutMs: number,
  spinMs = SPIN_MS,
): void {
  const until = performance.now() + spinMs;
  while (Atomics.load(array, index) === value) {
    if (performance.now() > until) {
      Atomics.wait(array, index, value, timeoutMs);
      return;
    }
  }
}

/** How long a waiting thread spins before it sleeps (ms). */
export const SPIN_MS = 2;

/**
 * How long a worker spins for its next command: longer, as it covers the calling thread's part of
 * a training step between two dense steps (the embedding rows' update and lookup, ~2 ms).
 */
export const WORKER_SPIN_MS = 4;

/** Per-replica share of a batch of B rows: contiguous, sizes differing by at most one. */
export function splitBatch(B: number, replicas: number): number[] {
  const base = Math.floor(B / replicas);
  const extra = B % replicas;
  return Array.from({ length: replicas }, (_, r) => base + (r < extra ? 1 : 0));
}

/**
 * The calling thread's share of the flat weights in the sharded update: half of an equal share.
 * Measured on the 2-core machine (docs/benchmarks.md): its update of a quarter of the DLRM's
 * weights plus its ~2 ms of embedding work between steps take about as long as the worker's
 * update of the other three quarters.
 */
export function callerUpdateShare(threads: number): number {
  return 1 / (2 * threads);
}

/** Fewer rows than this per replica and a step runs on the calling thread alone. */
export const MIN_ROWS_PER_REPLICA = 16;

export class DataParallelStep {
  /** The worker replicas, started at the first step that needs them (a worker costs ~1 s). */
  private started: Replica[] | undefined;
  private readonly params: number;
  /** This thread's slice gradient (the workers read it in their share of the update). */
  private readonly ownGrads: Float32Array;
  /** The updated weights, each replica writing its shard (then every replica assigns them). */
  private readonly updated: Float32Array;
  /** Whether the workers' copies may differ from the calling thread's (set by any import). */
  private stale = true;
  /** Whether the last step's update awaits finish(). */
  private pending = false;
  private stopped = false;

  constructor(
    private readonly model: ParallelTarget,
    private readonly init: {
      seed: number;
      optimizer: DenseOptimizerConfig;
      dropout: number;
      backend: string;
    },
    private readonly workers: number,
  ) {
    this.params = model.parameterCount();
    const shared = () => new Float32Array(new SharedArrayBuffer(this.params * 4));
    this.ownGrads = shared();
    this.updated = shared();
  }

  private get replicas(): Replica[] {
    if (this.started === undefined) {
      const ts = __filename.endsWith('.ts');
      const entry = path.join(__dirname, `data-parallel-worker${ts ? '.ts' : '.js'}`);
      const tsx = ts ? require.resolve('tsx/cjs') : undefined;
      const init = { config: this.model.config, ...this.init, tsx, entry };
      this.started = Array.from({ length: this.workers }, (_, i) => new Replica(i + 1, init));
    }
    return this.started;
  }

  /** Threads taking part in a step (this one included). */
  get size(): number {
    return this.workers + 1;
  }

  /**
   * Whether step() takes a batch of B rows (else the caller steps alone): one big enough to
   * split, and any batch once the replicas hold shards of the optimizer state (a small batch's
   * gradient is then computed here alone, and its update still sharded).
   */
  takes(B: number): boolean {
    return !this.stopped && (this.splits(B) || this.sharded);
  }

  private splits(B: number): boolean {
    return B >= MIN_ROWS_PER_REPLICA * this.size;
  }

  /** Whether the replicas hold shards of the optimizer state newer than the calling thread's. */
  get sharded(): boolean {
    return !this.stale;
  }

  /** The calling thread's weights or optimizer state changed outside a step. */
  markStale(): void {
    this.stale = true;
  }

  step(
    dense: Float32Array,
    rows: Float32Array,
    labels: Float32Array,
    rowGradsOut: Float32Array,
  ): { loss: number; logits: Float32Array } {
    this.finish();
    const B = labels.length;
    const { numDense, numFields, dim } = this.model.config;
    const rowWidth = numFields * dim;
    if (this.stale) {
      const weights = this.model.exportWeights();
      const optimizer = this.model.exportOptimizerState();
      for (const r of this.replicas) r.post({ kind: 'sync', weights, optimizer });
      this.stale = false;
    }
    const sizes = this.splits(B)
      ? splitBatch(B, this.size)
      : [B, ...new Array<number>(this.workers).fill(0)];
    const starts = sizes.map((_, r) => sizes.slice(0, r).reduce((a, b) => a + b, 0));
    const outputs: {
      r: number;
      values: Float32Array;
      at: ReturnType<typeof sliceLayout>['output'];
    }[] = [];
    this.replicas.forEach((replica, i) => {
      const r = i + 1;
      const n = sizes[r] as number;
      const s = starts[r] as number;
      if (n === 0) return;
      const { input, output } = replica.buffers(n, numDense, rowWidth, this.params);
      const layout = sliceLayout(n, numDense, rowWidth, this.params);
      const at = layout.input;
      const f = new Float32Array(input);
      f.set(dense.subarray(s * numDense, (s + n) * numDense), at.dense);
      f.set(rows.subarray(s * rowWidth, (s + n) * rowWidth), at.rows);
      f.set(labels.subarray(s, s + n), at.labels);
      replica.post({ kind: 'step', n, slice: { start: s, total: B }, input, output });
      outputs.push({ r, values: new Float32Array(output), at: layout.output });
    });
    const n0 = sizes[0] as number;
    const own = this.model.sliceGradients(
      dense.subarray(0, n0 * numDense),
      rows.subarray(0, n0 * rowWidth),
      labels.subarray(0, n0),
      { start: 0, total: B },
      this.ownGrads,
      rowGradsOut.subarray(0, n0 * rowWidth),
    );
    for (const { r } of outputs) this.replicas[r - 1]?.settle();
    // The gradient of the batch's mean loss is Σ (n_r / B) · (gradient of slice r's mean loss):
    // every replica forms that sum inside its optimizer update, from the same shared parts.
    const w0 = (sizes[0] as number) / B;
    const weights = [w0];
    let loss = w0 * own.loss;
    const logits = new Float32Array(B);
    logits.set(own.logits, 0);
    scale(rowGradsOut, 0, n0 * rowWidth, w0);
    const parts = [{ buffer: this.ownGrads.buffer as SharedArrayBuffer, offset: 0 }];
    outputs.forEach(({ r, values: out, at }) => {
      const n = sizes[r] as number;
      const s = starts[r] as number;
      const w = n / B;
      weights.push(w);
      parts.push({ buffer: out.buffer as SharedArrayBuffer, offset: at.weightGrads });
      loss += w * (new Float64Array(out.buffer, 0, 1)[0] as number);
      logits.set(out.subarray(at.logits, at.logits + n), s);
      rowGradsOut.set(out.subarray(at.rowGrads, at.rowGrads + n * rowWidth), s * rowWidth);
      scale(rowGradsOut, s * rowWidth, (s + n) * rowWidth, w);
    });
    // The update, split by flat position between the replicas. This thread computes its shard
    // and returns; the workers compute theirs while the caller goes on with its own part of a
    // training step (the embedding rows' update, the next batch). finish() then assigns the new
    // weights everywhere, before anything reads them.
    const lr = this.model.learningRate;
    const out = this.updated.buffer as SharedArrayBuffer;
    this.replicas.forEach((r, i) =>
      r.post({ kind: 'apply', lr, parts, weights, shard: this.shard(i + 1), out }),
    );
    this.model.applyGradientSum(gradientParts(parts, this.params), weights, undefined, {
      ...this.shard(0),
      out: this.updated,
    });
    this.pending = true;
    return { loss, logits };
  }

  /**
   * Completes the last step's update: waits for the workers' shards, then every replica assigns
   * the new weights. A no-op when no update is pending. CtrModel calls it before anything that
   * uses the weights or the optimizer state (the next step included).
   */
  finish(): void {
    if (!this.pending) return;
    this.pending = false;
    for (const r of this.replicas) r.settle();
    for (const r of this.replicas)
      r.post({ kind: 'assign', values: this.updated.buffer as SharedArrayBuffer });
    this.model.assignFlatWeights(this.updated);
  }

  /**
   * The flat positions whose update replica r computes (r = 0: this thread). This thread takes a
   * smaller share (callerUpdateShare): the workers' shards overlap the caller's work between
   * two dense steps, this thread's does not.
   */
  shard(r: number): { from: number; to: number } {
    const own = Math.round(this.params * callerUpdateShare(this.size));
    const at = (k: number) =>
      k === 0 ? 0 : own + Math.round(((k - 1) * (this.params - own)) / this.workers);
    return { from: at(r), to: at(r + 1) };
  }

  /** Writes the workers' shards of the optimizer state into `state` (this thread's export). */
  gatherOptimizerState(state: {
    slots: { name: string; shape: number[]; values: Float32Array }[];
  }): void {
    if (this.stale) return; // no step since the last import: every replica holds that state
    this.replicas.forEach((replica, i) => {
      const { from, to } = this.shard(i + 1);
      const theirs = new Map(replica.optimizerState().map((s) => [s.name, s.values]));
      let at = 0;
      this.model.params.forEach(({ name, variable: { size } }) => {
        const lo = Math.max(at, from);
        const hi = Math.min(at + size, to);
        if (lo < hi)
          for (const slot of state.slots) {
            if (!slot.name.startsWith(`${name}@`)) continue;
            const src = theirs.get(slot.name);
            if (src === undefined)
              throw new DataParallelError(`training replica ${i + 1} has no slot ${slot.name}`);
            slot.values.set(src.subarray(lo - at, hi - at), lo - at);
          }
        at += size;
      });
    });
  }

  /** Each worker replica's weights, flat in exportWeights() order (tests: copies stay equal). */
  replicaWeights(): Float32Array[] {
    return this.replicas.map((r) => r.weights());
  }

  dispose(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const r of this.started ?? []) r.stop();
  }
}

/** The float views of an update's gradient parts. */
export function gradientParts(
  parts: readonly { buffer: SharedArrayBuffer; offset: number }[],
  params: number,
): Float32Array[] {
  return parts.map((p) => new Float32Array(p.buffer, p.offset * 4, params));
}

function scale(a: Float32Array, from: number, to: number, w: number): void {
  for (let i = from; i < to; i += 1) a[i] = (a[i] as number) * w;
}
