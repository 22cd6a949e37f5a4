// `dedup`: LSH block deduplication (docs/methods/dedup.md; Zhou et al., PVLDB 2022). A staged
// method: 'warmup' trains a full table; entering 'finetune' cuts the kept table into blocks of b
// rows, merges similar blocks (dedup-lsh.ts) until the budget's stop count T_stop, and the table
// trains on in its deduplicated form T (u·b rows) behind a block map μ: row of id x is
// μ[⌊x/b⌋]·b + x mod b, so ids of merged blocks share (and sum gradients into) one block.
//
// One representation for both stages: the warm-up table is T with u = B blocks and the identity
// map (padded to B·b rows), so forward, gradients, serving and the artifact are the same code in
// both stages and a checkpoint of either stage restores into a fresh object (core/staged.ts).
import { z } from 'zod';
import { writeArtifact, type ArtifactContent } from '../core/artifact';
import { checkBudget, type Accounting } from '../core/budget';
import { describeTable } from '../core/describe';
import { ArtifactError, BudgetError } from '../core/errors';
import { checkIds, sumDuplicates } from '../core/ids';
import type { CompressedTable, ParamGradient, ParamView, TrainOptions } from '../core/method';
import type { OptimizerSlot, SparseOptimizer } from '../core/optim';
import { defaultInitBound, Rng } from '../core/rng';
import { formatOne } from '../core/spec';
import { fullBytes, totalRows, validateShape, type TableShape } from '../core/shape';
import type { StageContext, StagedMethod, StagedTrainable, StageSpec } from '../core/staged';
import { gatherUnique, lshDedup } from './dedup-lsh';
import { storedParams } from './hash';
import { indexArray, indexBytes, indexSection, type IndexArray } from './narrow-index';

const params = z
  .object({
    /** Target: fraction of the full fp32 table (the reference's --compress_rate). */
    budget: z.number().gt(0).lte(1).default(0.5),
    /** How T_stop counts memory: our bytes (block map included) or the paper's words. */
    accounting: z.enum(['bytes', 'paper-words']).default('bytes'),
    /** b: rows per block (reference 10,000; ours sized for 10^4–10^6-row tables). */
    blockRows: z
      .number()
      .int()
      .min(1)
      .max(2 ** 20)
      .default(256),
    /** L: LSH bands, one hash per band. */
    bands: z.number().int().min(1).max(1024).default(90),
    /** r: LSH bucket width. */
    width: z.number().gt(0).default(0.09),
    /** fp: values within fp count as equal. */
    fp: z.number().min(0).default(0.01),
    /**
     * When fp merges fewer blocks than the budget needs, fp doubles up to fpMax and the LSH pass
     * runs again (docs/methods/dedup.md#meeting-the-budget). fpMax ≤ fp: the reference (a single
     * pass; the budget may be missed).
     */
    fpMax: z.number().min(0).default(0.32),
    /** Smallest fraction of equal values for a merge. */
    sim: z.number().gt(0).lte(1).default(0.7),
    /** Candidates share ≥ max(1, lshThreshold) bands. */
    lshThreshold: z.number().int().min(0).default(0),
  })
  .strict();
export type DedupParams = z.infer<typeof params>;

const STAGES: readonly StageSpec[] = [
  {
    name: 'warmup',
    end: { kind: 'parts' },
    dense: 'train',
    denseStart: 'keep',
    optimizer: 'carry',
    keep: 'best-val',
  },
  {
    name: 'finetune',
    end: { kind: 'parts' },
    dense: 'train',
    denseStart: 'keep',
    optimizer: 'carry',
    keep: 'best-val',
  },
];

/** The stage's randomness: the run's seed with a salt of its own (not the init's stream). */
const LSH_SALT = 0xdedb10c5;

interface Layout {
  /** n real rows. */
  rows: number;
  b: number;
  /** B = ⌈n/b⌉ blocks. */
  blocks: number;
  /** Bytes per block-map entry (indices < B). */
  mapBytes: 1 | 2 | 4;
}

function layoutOf(shape: TableShape, p: DedupParams): Layout {
  validateShape(shape);
  const rows = totalRows(shape);
  const blocks = Math.ceil(rows / p.blockRows);
  return { rows, b: p.blockRows, blocks, mapBytes: indexBytes(blocks) };
}

/** Bytes with u unique blocks: T (u·b rows) + the block map (B entries). */
function bytesWith(shape: TableShape, l: Layout, unique: number): number {
  return unique * l.b * shape.dim * 4 + l.blocks * l.mapBytes;
}

/** Paper words with u unique blocks: rows of T · D + one word per map entry. */
function wordsWith(shape: TableShape, l: Layout, unique: number): number {
  return unique * l.b * shape.dim + l.blocks;
}

/**
 * Merges that bring the table within budget. Bytes: the fewest k with
 * (B − k)·b·D·4 + B·w ≤ cr·n·D·4. Paper words: the reference's (B·b·D − n·D·cr)/(b·D − 1)
 * (a real number; merging stops once #merges ≥ it). ≤ 0: no merge is needed.
 */
export function dedupStopCount(shape: TableShape, p: DedupParams): number {
  const l = layoutOf(shape, p);
  const D = shape.dim;
  if (p.accounting === 'paper-words')
    return (l.blocks * l.b * D - l.rows * D * p.budget) / (l.b * D - 1);
  const maxUnique = Math.floor(
    (p.budget * fullBytes(shape) - l.blocks * l.mapBytes) / (l.b * D * 4),
  );
  return l.blocks - maxUnique;
}

/** Whether u unique blocks meet the params' budget in their accounting. */
function meets(shape: TableShape, p: DedupParams, unique: number): boolean {
  const l = layoutOf(shape, p);
  if (p.accounting === 'paper-words')
    return wordsWith(shape, l, unique) <= p.budget * l.rows * shape.dim;
  return bytesWith(shape, l, unique) <= p.budget * fullBytes(shape);
}

function specOf(p: DedupParams): string {
  return formatOne('dedup', p);
}

/** Row of T for id x: μ[⌊x/b⌋]·b + x mod b (ids already checked). */
function rowsOf(map: IndexArray, b: number, ids: Uint32Array): Uint32Array {
  const out = new Uint32Array(ids.length);
  for (let i = 0; i < ids.length; i += 1) {
    const x = ids[i] as number;
    const blk = Math.floor(x / b);
    out[i] = (map[blk] as number) * b + (x - blk * b);
  }
  return out;
}

function gather(
  table: Float32Array,
  map: IndexArray,
  b: number,
  D: number,
  ids: Uint32Array,
  out: Float32Array,
) {
  for (let i = 0; i < ids.length; i += 1) {
    const x = ids[i] as number;
    const blk = Math.floor(x / b);
    const src = ((map[blk] as number) * b + (x - blk * b)) * D;
    const dst = i * D;
    for (let j = 0; j < D; j += 1) out[dst + j] = table[src + j] as number;
  }
}

export class DedupTable implements CompressedTable {
  readonly method = 'dedup';
  readonly rows: number;
  readonly dim: number;
  private readonly b: number;

  constructor(
    readonly shape: TableShape,
    readonly spec: string,
    private readonly params: DedupParams,
    private readonly map: IndexArray,
    private readonly table: Float32Array,
  ) {
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.b = params.blockRows;
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    gather(this.table, this.map, this.b, this.dim, ids, out);
  }

  memoryBytes(): number {
    return this.table.byteLength + this.map.byteLength;
  }

  /** Unique blocks u of T. */
  get uniqueBlocks(): number {
    return this.table.length / (this.b * this.dim);
  }

  describe() {
    const l = layoutOf(this.shape, this.params);
    const u = this.uniqueBlocks;
    const merged = l.blocks - u;
    const stop = dedupStopCount(this.shape, this.params);
    const ratio = this.memoryBytes() / fullBytes(this.shape);
    const notes = [
      `${l.blocks} blocks of ${l.b} rows, ${u} unique (${merged} merged); block map ${l.mapBytes} byte(s) per block`,
      merged === 0
        ? 'no block merged: the warm-up form (identity block map), or a dedup that found no similar blocks'
        : `deduplicated toward T_stop ${Math.max(0, Math.ceil(stop))} merges`,
      meets(this.shape, this.params, u)
        ? `budget ${this.params.budget} met (${this.params.accounting}): ratio ${ratio.toPrecision(4)} of the full table`
        : `budget ${this.params.budget} NOT met (${this.params.accounting}): reached ${ratio.toPrecision(4)} of the full table (too few similar blocks, or the warm-up form)`,
    ];
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      wordsWith(this.shape, l, u),
      notes,
    );
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.params },
      shape: this.shape,
      sections: new Map<string, Float32Array | IndexArray>([
        ['map', this.map],
        ['table', this.table],
      ]),
    });
  }
}

class DedupTrainable implements StagedTrainable {
  readonly spec: string;
  private readonly rows: number;
  private readonly b: number;
  private readonly blocks: number;
  /** 0: warm-up (identity map, u = B), 1: fine-tune (deduplicated). */
  private stage = 0;
  private map: IndexArray;
  private table: Float32Array;
  private optimizer: SparseOptimizer;
  private slot: OptimizerSlot;

  constructor(
    readonly shape: TableShape,
    private readonly params: DedupParams,
    options: TrainOptions,
  ) {
    const l = layoutOf(shape, params);
    this.spec = specOf(params);
    this.rows = l.rows;
    this.b = l.b;
    this.blocks = l.blocks;
    this.map = indexArray(l.blocks, l.blocks);
    for (let k = 0; k < l.blocks; k += 1) this.map[k] = k;
    // Padding rows (n..B·b) stay zero: no id reads them.
    this.table = new Float32Array(l.blocks * l.b * shape.dim);
    const bound = defaultInitBound(shape.fields);
    new Rng(options.seed).fillUniform(this.table.subarray(0, l.rows * shape.dim), -bound, bound);
    this.optimizer = options.optimizer;
    this.slot = this.optimizer.slot('table', l.blocks * l.b, shape.dim);
  }

  forward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    gather(this.table, this.map, this.b, this.shape.dim, ids, out);
  }

  /** Rows of T summed over every id mapped to them (merged blocks share rows). */
  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    checkIds(ids, this.rows);
    const { rows, grads } = sumDuplicates(rowsOf(this.map, this.b, ids), rowGrads, this.shape.dim);
    return [{ name: 'table', rows, values: grads }];
  }

  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    const [g] = this.gradients(ids, rowGrads) as [ParamGradient];
    this.optimizer.updateRows(this.slot, g.rows as Uint32Array, g.values, this.table);
  }

  /** Built on each call: a stored view would outlive the table that enterStage replaces. */
  parameters(): ParamView[] {
    return [{ name: 'table', data: this.table, rowLength: this.shape.dim }];
  }

  memoryBytes(): number {
    return this.table.byteLength + this.map.byteLength;
  }

  toTable(): CompressedTable {
    return new DedupTable(this.shape, this.spec, this.params, this.map.slice(), this.table.slice());
  }

  /** 'finetune': deduplicate the kept warm-up table (docs/methods/dedup.md#deduplication). */
  enterStage(context: StageContext): void {
    if (context.index !== 1)
      throw new RangeError(`dedup has stages 0 and 1, asked to enter ${context.index}`);
    this.optimizer = context.optimizer;
    if (this.stage === 1) {
      // Restored from a checkpoint taken after the deduplication: its map and T are current.
      context.log('dedup: table already deduplicated (restored), nothing to do');
      return;
    }
    const D = this.shape.dim;
    const tStop = dedupStopCount(this.shape, this.params);
    const started = Date.now();
    const pass = (fp: number) =>
      lshDedup({
        table: this.table,
        rows: this.rows,
        blockRows: this.b,
        dim: D,
        tStop,
        lsh: { ...this.params, fp },
        rng: new Rng((context.seed ^ LSH_SALT) >>> 0),
      });
    // The reference's fp is sized for its tables (init bound 3e-4 on Criteo); on a table whose
    // values are larger it merges nothing. Relax it, doubling, until the budget's merges happen.
    let fp = this.params.fp;
    let result = pass(fp);
    while (!meets(this.shape, this.params, result.unique) && fp * 2 <= this.params.fpMax) {
      context.log(
        `dedup: fp ${fp} merged ${result.merges} of ${this.blocks} blocks (T_stop ${Math.max(0, Math.ceil(tStop))}); trying fp ${fp * 2}`,
      );
      fp *= 2;
      result = pass(fp);
    }
    const map = indexArray(this.blocks, this.blocks);
    map.set(result.map);
    this.table = gatherUnique(this.table, result, this.b * D);
    this.map = map;
    this.slot = context.optimizer.slot('table', result.unique * this.b, D);
    this.stage = 1;
    const reached = this.memoryBytes() / fullBytes(this.shape);
    const met = meets(this.shape, this.params, result.unique);
    context.log(
      `dedup: ${result.merges} of ${this.blocks} blocks merged at fp ${fp} (T_stop ${Math.max(0, Math.ceil(tStop))}), ` +
        `${result.unique} unique, ratio ${reached.toPrecision(4)}${met ? '' : ` — budget ${this.params.budget} not met (too few similar blocks)`}, ` +
        `${Date.now() - started} ms`,
    );
  }
}

function paramsForBudget(
  shape: TableShape,
  budget: number,
  accounting: Accounting = 'bytes',
): DedupParams {
  checkBudget(budget);
  const p: DedupParams = { ...params.parse({}), budget, accounting };
  const l = layoutOf(shape, p);
  // One unique block is the floor: the map and one block of T.
  const floor =
    accounting === 'paper-words'
      ? wordsWith(shape, l, 1) / (l.rows * shape.dim)
      : bytesWith(shape, l, 1) / fullBytes(shape);
  if (budget < floor)
    throw new BudgetError(
      `dedup: budget ${budget} is below the smallest reachable ${floor.toPrecision(4)} ` +
        `(one block of ${l.b} rows plus the ${l.blocks}-entry block map; a smaller blockRows lowers it)`,
    );
  return p;
}

function loadTable(content: ArtifactContent): CompressedTable {
  const { params: p, spec } = storedParams(content, params);
  const l = layoutOf(content.shape, p);
  const table = content.sections.get('table');
  const blockLen = l.b * content.shape.dim;
  if (!(table instanceof Float32Array) || table.length % blockLen !== 0)
    throw new ArtifactError('malformed', `dedup: table is not whole f32 blocks of ${blockLen}`);
  const unique = table.length / blockLen;
  if (unique < 1 || unique > l.blocks)
    throw new ArtifactError('malformed', `dedup: ${unique} unique blocks for ${l.blocks} blocks`);
  // Map entries are stored in the width of B (< B), and must point inside T (< u).
  const map = indexSection(content, 'map', l.blocks, l.blocks);
  for (let k = 0; k < map.length; k += 1)
    if ((map[k] as number) >= unique)
      throw new ArtifactError('malformed', `dedup: map[${k}] = ${map[k]} ≥ ${unique} blocks`);
  return new DedupTable(content.shape, spec, p, map, table);
}

export const dedup: StagedMethod<DedupParams> = {
  kind: 'trainable',
  id: 'dedup',
  family: 'multi-stage',
  taxonomy: { scope: 'inter-feature', subClass: 'dynamic-encoding' },
  title: 'LSH block deduplication: warm-up full table, merge similar row blocks, fine-tune',
  paper:
    'Zhou et al., "Serving Deep Learning Models with Deduplication from Relational Databases", PVLDB 2022',
  params,
  stages: () => STAGES,
  /** The warm-up form (identity map): the deduplicated size is known only after the dedup. */
  estimateBytes: (shape, p) => {
    const l = layoutOf(shape, p);
    return bytesWith(shape, l, l.blocks);
  },
  paperWords: (shape, p) => {
    const l = layoutOf(shape, p);
    return wordsWith(shape, l, l.blocks);
  },
  paramsForBudget,
  createTrainable: (shape, p, options) => new DedupTrainable(shape, p, options),
  loadTable,
};
