// `hash`: the hashing trick (docs/methods/hash.md). One shared table H of m rows; global id x reads
// row x mod m (plain modulo, no random hash, as the reference). Collisions are between ids
// congruent mod m, i.e. mostly between different fields, so results depend on the id ordering.
//
// Parameters: `rows=m` fixes the table, or `budget=cr` derives it as the reference does
// (m = ⌈n·cr⌉, default cr 0.5). Either way the canonical spec plus the shape determine the table.
import { z } from 'zod';
import { artifactParams, section, writeArtifact, type ArtifactContent } from '../core/artifact';
import { checkBudget, type Accounting } from '../core/budget';
import { describeTable } from '../core/describe';
import { ArtifactError, BudgetError, SpecError } from '../core/errors';
import { checkIds, sumDuplicates } from '../core/ids';
import type {
  CompressedTable,
  ParamGradient,
  ParamView,
  TrainableEmbedding,
  TrainableMethod,
  TrainOptions,
} from '../core/method';
import type { OptimizerSlot, SparseOptimizer } from '../core/optim';
import { defaultInitBound, Rng } from '../core/rng';
import { formatOne } from '../core/spec';
import { fullBytes, totalRows, validateShape, type TableShape } from '../core/shape';

export interface HashParams {
  /** Rows m of the shared table (1 ≤ m ≤ n). */
  rows?: number;
  /** Reference rule m = ⌈n·budget⌉ (its --compress_rate); used when `rows` is absent. */
  budget?: number;
}

const params = z
  .object({
    rows: z
      .number()
      .int()
      .min(1)
      .max(2 ** 32 - 1)
      .optional(),
    budget: z.number().gt(0).lte(1).optional(),
  })
  .strict()
  .refine((p) => p.rows === undefined || p.budget === undefined, {
    message: 'give rows or budget, not both',
  })
  .transform(
    (p): HashParams => (p.rows !== undefined ? { rows: p.rows } : { budget: p.budget ?? 0.5 }),
  );

/** Rows m of the hash table for `shape` (throws SpecError when m > n: nothing to compress). */
export function hashRows(shape: TableShape, p: HashParams): number {
  const n = totalRows(shape);
  const m = p.rows ?? Math.max(1, Math.ceil(n * (p.budget ?? 0.5)));
  if (!(Number.isInteger(m) && m >= 1 && m <= n))
    throw new SpecError(`hash: rows must be an integer in [1, ${n}] for this shape, got ${m}`);
  return m;
}

/**
 * Validated params of a stored artifact (its header is CRC-checked, but it must still be a valid
 * spec of this method), with their canonical spec. Shared by the id-mapper methods.
 */
export function storedParams<P extends object>(
  content: ArtifactContent,
  schema: z.ZodType<P, z.ZodTypeDef, unknown>,
): { params: P; spec: string } {
  const params = artifactParams(content, schema);
  const spec = formatOne(content.method, params as Record<string, unknown>);
  if (spec !== content.spec)
    throw new ArtifactError('malformed', `${content.method}: spec "${content.spec}" ≠ "${spec}"`);
  return { params, spec };
}

/** out[i] = H[ids[i] mod m] (ids already checked). */
function gatherHashed(
  table: Float32Array,
  dim: number,
  m: number,
  ids: Uint32Array,
  out: Float32Array,
): void {
  for (let i = 0; i < ids.length; i += 1) {
    const src = ((ids[i] as number) % m) * dim;
    const dst = i * dim;
    for (let j = 0; j < dim; j += 1) out[dst + j] = table[src + j] as number;
  }
}

export class HashTable implements CompressedTable {
  readonly method = 'hash';
  readonly rows: number;
  readonly dim: number;
  private readonly m: number;

  constructor(
    readonly shape: TableShape,
    readonly spec: string,
    private readonly params: HashParams,
    private readonly table: Float32Array,
  ) {
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.m = table.length / shape.dim;
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    gatherHashed(this.table, this.dim, this.m, ids, out);
  }

  memoryBytes(): number {
    return this.table.byteLength;
  }

  describe() {
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      this.table.length,
      [`${this.m} shared rows; row = global id mod ${this.m}`],
    );
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.params },
      shape: this.shape,
      sections: new Map([['table', this.table]]),
    });
  }
}

class HashTrainable implements TrainableEmbedding {
  readonly spec: string;
  private readonly rows: number;
  private readonly m: number;
  private readonly table: Float32Array;
  private readonly slot: OptimizerSlot;
  private readonly optimizer: SparseOptimizer;

  constructor(
    readonly shape: TableShape,
    private readonly params: HashParams,
    options: TrainOptions,
  ) {
    validateShape(shape);
    this.spec = formatOne('hash', params as Record<string, unknown>);
    this.rows = totalRows(shape);
    this.m = hashRows(shape, params);
    const bound = defaultInitBound(shape.fields);
    this.table = new Rng(options.seed).fillUniform(
      new Float32Array(this.m * shape.dim),
      -bound,
      bound,
    );
    this.optimizer = options.optimizer;
    this.slot = this.optimizer.slot('table', this.m, shape.dim);
  }

  forward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    gatherHashed(this.table, this.shape.dim, this.m, ids, out);
  }

  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    checkIds(ids, this.rows);
    const mapped = new Uint32Array(ids.length);
    for (let i = 0; i < ids.length; i += 1) mapped[i] = (ids[i] as number) % this.m;
    const { rows, grads } = sumDuplicates(mapped, rowGrads, this.shape.dim);
    return [{ name: 'table', rows, values: grads }];
  }

  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    const [g] = this.gradients(ids, rowGrads) as [ParamGradient];
    this.optimizer.updateRows(this.slot, g.rows as Uint32Array, g.values, this.table);
  }

  parameters(): ParamView[] {
    return [{ name: 'table', data: this.table, rowLength: this.shape.dim }];
  }

  memoryBytes(): number {
    return this.table.byteLength;
  }

  toTable(): CompressedTable {
    return new HashTable(this.shape, this.spec, this.params, this.table.slice());
  }
}

export const hash: TrainableMethod<HashParams> = {
  kind: 'trainable',
  id: 'hash',
  family: 'id-mapper',
  taxonomy: { scope: 'inter-feature', subClass: 'static-encoding' },
  title: 'Hashing trick: one shared table, row = global id mod m',
  paper: 'Weinberger et al., "Feature Hashing for Large Scale Multitask Learning", ICML 2009',
  params,
  estimateBytes: (shape, p) => hashRows(shape, p) * shape.dim * 4,
  paperWords: (shape, p) => hashRows(shape, p) * shape.dim,
  paramsForBudget(shape: TableShape, budget: number, accounting: Accounting = 'bytes') {
    checkBudget(budget);
    const n = totalRows(shape);
    // Paper: m = ⌈n·cr⌉ (may exceed cr·n·D words by part of a row). Bytes: the most rows that fit.
    if (accounting === 'paper-words') return { rows: Math.ceil(n * budget) };
    let m = Math.min(n, Math.floor(n * budget));
    while (m >= 1 && m * shape.dim * 4 > budget * fullBytes(shape)) m -= 1;
    if (m < 1)
      throw new BudgetError(`hash: budget ${budget} is less than one row of ${shape.dim} floats`);
    return { rows: m };
  },
  createTrainable: (shape, p, options) => new HashTrainable(shape, p, options),
  loadTable(content: ArtifactContent) {
    const { params: p, spec } = storedParams(content, params);
    let m: number;
    try {
      m = hashRows(content.shape, p);
    } catch (err) {
      throw new ArtifactError('malformed', (err as Error).message);
    }
    const table = section(content, 'table', 'f32', m * content.shape.dim);
    return new HashTable(content.shape, spec, p, table);
  },
};
