// `robe`: Random Offset Block Embedding (docs/methods/robe.md). One trainable array A of M floats;
// element j of global id x (chunk c = ⌊j/(D/Z)⌋, offset o = j mod (D/Z), field s when the slot
// coefficient is on) reads
//   index_j = (r3·x + r1 + r2·c + o [+ r4·s]) mod P mod M
//   sign_j  = 2·((r7·x + r5 + r6·j [+ r8·s]) mod P mod 2) − 1
//   e_j     = sign_j · A[index_j]
// with P = 2,038,074,743 and r1..r9 uniform in [1, P) (r9 unused, kept for the reference layout).
// r3·x reaches ~2^63, beyond the 2^53 of a double: `mulmod` splits x into 16-bit halves so every
// intermediate stays below 2^48 and the result is exact (the reference uses int64).
//
// The ten constants are stored in the artifact (section `hash`, u32) and counted in the bytes, so
// serving needs no seed.
import { z } from 'zod';
import { section, writeArtifact, type ArtifactContent } from '../core/artifact';
import { checkBudget, type Accounting } from '../core/budget';
import { describeTable } from '../core/describe';
import { ArtifactError, BudgetError, SpecError } from '../core/errors';
import { checkIds } from '../core/ids';
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
import { fieldOf, fieldOffsets, fullBytes, totalRows, type TableShape } from '../core/shape';
import { storedParams } from './hash';

/** The reference's prime r0. */
export const ROBE_PRIME = 2_038_074_743;
/** Hash constants stored with the array: r0 = P, r1..r9. */
export const ROBE_CONSTANTS = 10;
const CONSTANT_BYTES = ROBE_CONSTANTS * 4;

export interface RobeParams {
  /** Length M of the shared array (1 ≤ M < P). */
  size?: number;
  /** Reference rule M = ⌊n·D·budget⌋ (its --compress_rate); used when `size` is absent. */
  budget?: number;
  /** Z: chunks per embedding; D must be divisible by Z. */
  chunks: number;
  /** Adds the field index s to both hashes (the reference's separate_fields for robe). */
  slotCoefficient: boolean;
}

const params = z
  .object({
    size: z
      .number()
      .int()
      .min(1)
      .max(ROBE_PRIME - 1)
      .optional(),
    budget: z.number().gt(0).lte(1).optional(),
    chunks: z.number().int().min(1).max(65_536).default(1),
    slotCoefficient: z.boolean().default(false),
  })
  .strict()
  .refine((p) => p.size === undefined || p.budget === undefined, {
    message: 'give size or budget, not both',
  })
  .transform(
    (p): RobeParams =>
      p.size !== undefined
        ? { size: p.size, chunks: p.chunks, slotCoefficient: p.slotCoefficient }
        : { budget: p.budget ?? 0.5, chunks: p.chunks, slotCoefficient: p.slotCoefficient },
  );

/** a mod m for integers 0 ≤ a < 2^52 and 0 < m < 2^31: a floor division (cheaper than fmod). */
function mod(a: number, m: number): number {
  const r = a - Math.floor(a / m) * m;
  return r < 0 ? r + m : r >= m ? r - m : r;
}

/** (a·x) mod p, exact for a < p < 2^31 and integer 0 ≤ x < 2^32 (all intermediates < 2^48). */
export function mulmod(a: number, x: number, p: number): number {
  const hi = x >>> 16;
  const lo = x & 0xffff;
  return mod(mod(a * hi, p) * 65_536 + a * lo, p);
}

/** M for `shape` and params; throws SpecError for an impossible layout. */
export function robeSize(shape: TableShape, p: RobeParams): number {
  if (shape.dim % p.chunks !== 0)
    throw new SpecError(`robe: chunks ${p.chunks} must divide dim ${shape.dim}`);
  const m = p.size ?? Math.floor(totalRows(shape) * shape.dim * (p.budget ?? 0.5));
  if (!(Number.isInteger(m) && m >= 1 && m < ROBE_PRIME))
    throw new SpecError(`robe: array size must be an integer in [1, ${ROBE_PRIME}), got ${m}`);
  return m;
}

/** Draws the ten constants: r0 = P, r1..r9 uniform in [1, P). */
export function drawRobeConstants(rng: Rng): Uint32Array {
  const constants = new Uint32Array(ROBE_CONSTANTS);
  constants[0] = ROBE_PRIME;
  for (let k = 1; k < ROBE_CONSTANTS; k += 1) constants[k] = rng.int(1, ROBE_PRIME);
  return constants;
}

/** Everything the hash needs; derived once per table. */
interface RobeHashing {
  readonly constants: Uint32Array;
  readonly size: number;
  readonly dim: number;
  readonly chunks: number;
  /** Field offsets when the slot coefficient is on, else null. */
  readonly offsets: Float64Array | null;
}

/**
 * The ROBE mapping for `ids` (already checked). With `array` it writes sign·A[index] into `out`
 * (ids.length × dim); without, it writes the slot of each element into `slots` and its sign into
 * `out`. One code path for forward, serving and gradients. Per id: two mulmods; per element only
 * additions (slots within a chunk are consecutive: t → t + 1 mod P, index → index + 1 mod M).
 */
function robeMap(
  h: RobeHashing,
  ids: Uint32Array,
  array: Float32Array | null,
  out: Float32Array,
  slots: Uint32Array | null,
): void {
  const P = ROBE_PRIME;
  const k = h.constants;
  const r1 = k[1] as number;
  const r2 = k[2] as number;
  const r3 = k[3] as number;
  const r4 = k[4] as number;
  const r5 = k[5] as number;
  const r6 = k[6] as number;
  const r7 = k[7] as number;
  const r8 = k[8] as number;
  const M = h.size;
  const D = h.dim;
  const Z = h.chunks;
  const width = D / Z;
  const offsets = h.offsets;
  for (let i = 0; i < ids.length; i += 1) {
    const x = ids[i] as number;
    let indexBase = mulmod(r3, x, P) + r1;
    let signState = mulmod(r7, x, P) + r5;
    if (offsets !== null) {
      const s = fieldOf(offsets, x);
      indexBase += mod(r4 * s, P);
      signState += mod(r8 * s, P);
    }
    indexBase = mod(indexBase, P);
    signState = mod(signState, P);
    const dst = i * D;
    let j = 0;
    for (let c = 0; c < Z; c += 1) {
      // r2·c < 2^31·2^16: exact. Within a chunk t → t + 1 mod P and index = t mod M.
      let t = c === 0 ? indexBase : mod(indexBase + mod(r2 * c, P), P);
      let index = mod(t, M);
      const end = j + width;
      if (array !== null) {
        for (; j < end; j += 1) {
          // sign_j from (r7·x + r5 + r6·j [+ r8·s]) mod P, advanced by r6 per element.
          out[dst + j] =
            (signState & 1) === 1 ? (array[index] as number) : -(array[index] as number);
          signState += r6;
          if (signState >= P) signState -= P;
          t += 1;
          index += 1;
          if (t === P) {
            t = 0;
            index = 0;
          } else if (index === M) index = 0;
        }
      } else {
        const slotsOut = slots as Uint32Array;
        for (; j < end; j += 1) {
          out[dst + j] = (signState & 1) === 1 ? 1 : -1;
          slotsOut[dst + j] = index;
          signState += r6;
          if (signState >= P) signState -= P;
          t += 1;
          index += 1;
          if (t === P) {
            t = 0;
            index = 0;
          } else if (index === M) index = 0;
        }
      }
    }
  }
}

/**
 * Sums `values` by slot (first-seen order), with an open-addressing table on typed arrays: a
 * batch touches ids.length·D slots, too many for a Map to be cheap.
 */
export function sumBySlot(
  slots: Uint32Array,
  values: Float32Array,
): { rows: Uint32Array; grads: Float32Array } {
  let capacity = 16;
  while (capacity < 2 * slots.length) capacity *= 2;
  const mask = capacity - 1;
  const where = new Int32Array(capacity).fill(-1);
  const rows = new Uint32Array(slots.length);
  const grads = new Float32Array(slots.length);
  let count = 0;
  for (let i = 0; i < slots.length; i += 1) {
    const slot = slots[i] as number;
    let pos = Math.imul(slot, 0x9e3779b1) & mask;
    for (;;) {
      const at = where[pos] as number;
      if (at < 0) {
        where[pos] = count;
        rows[count] = slot;
        grads[count] = values[i] as number;
        count += 1;
        break;
      }
      if (rows[at] === slot) {
        grads[at] = (grads[at] as number) + (values[i] as number);
        break;
      }
      pos = (pos + 1) & mask;
    }
  }
  return { rows: rows.slice(0, count), grads: grads.slice(0, count) };
}

function hashing(shape: TableShape, p: RobeParams, constants: Uint32Array): RobeHashing {
  return {
    constants,
    size: robeSize(shape, p),
    dim: shape.dim,
    chunks: p.chunks,
    offsets: p.slotCoefficient ? fieldOffsets(shape) : null,
  };
}

export class RobeTable implements CompressedTable {
  readonly method = 'robe';
  readonly spec: string;
  readonly rows: number;
  readonly dim: number;
  private readonly h: RobeHashing;

  constructor(
    readonly shape: TableShape,
    private readonly params: RobeParams,
    private readonly array: Float32Array,
    constants: Uint32Array,
  ) {
    this.spec = formatOne('robe', { ...params });
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.h = hashing(shape, params, constants);
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    robeMap(this.h, ids, this.array, out, null);
  }

  memoryBytes(): number {
    return this.array.byteLength + this.h.constants.byteLength;
  }

  describe() {
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      this.array.length,
      [
        `one array of ${this.array.length} floats shared by all ids`,
        `the ${ROBE_CONSTANTS} hash constants (${CONSTANT_BYTES} bytes) are counted; the paper leaves them out`,
      ],
    );
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.params },
      shape: this.shape,
      sections: new Map<string, Float32Array | Uint32Array>([
        ['array', this.array],
        ['hash', this.h.constants],
      ]),
    });
  }
}

class RobeTrainable implements TrainableEmbedding {
  readonly spec: string;
  private readonly rows: number;
  private readonly h: RobeHashing;
  private readonly array: Float32Array;
  private readonly slot: OptimizerSlot;
  private readonly optimizer: SparseOptimizer;

  constructor(
    readonly shape: TableShape,
    private readonly params: RobeParams,
    options: TrainOptions,
  ) {
    if (totalRows(shape) >= 2 ** 32) throw new SpecError('robe: a table has fewer than 2^32 rows');
    this.spec = formatOne('robe', { ...params });
    this.rows = totalRows(shape);
    const rng = new Rng(options.seed);
    const constants = drawRobeConstants(rng);
    this.h = hashing(shape, params, constants);
    const bound = defaultInitBound(shape.fields);
    this.array = rng.fillUniform(new Float32Array(this.h.size), -bound, bound);
    this.optimizer = options.optimizer;
    this.slot = this.optimizer.slot('array', this.h.size, 1);
  }

  forward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    robeMap(this.h, ids, this.array, out, null);
  }

  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    checkIds(ids, this.rows);
    // dA[index_j(x)] += sign_j(x) · g_j over every (x, j) of the batch.
    const n = ids.length * this.shape.dim;
    const slots = new Uint32Array(n);
    const weighted = new Float32Array(n);
    robeMap(this.h, ids, null, weighted, slots);
    for (let k = 0; k < n; k += 1) weighted[k] = (weighted[k] as number) * (rowGrads[k] as number);
    const { rows, grads } = sumBySlot(slots, weighted);
    return [{ name: 'array', rows, values: grads }];
  }

  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    const [g] = this.gradients(ids, rowGrads) as [ParamGradient];
    this.optimizer.updateRows(this.slot, g.rows as Uint32Array, g.values, this.array);
  }

  parameters(): ParamView[] {
    return [{ name: 'array', data: this.array, rowLength: 1 }];
  }

  memoryBytes(): number {
    return this.array.byteLength + this.h.constants.byteLength;
  }

  toTable(): CompressedTable {
    return new RobeTable(this.shape, this.params, this.array.slice(), this.h.constants.slice());
  }
}

export const robe: TrainableMethod<RobeParams> = {
  kind: 'trainable',
  id: 'robe',
  family: 'id-mapper',
  taxonomy: { scope: 'inter-feature', subClass: 'static-encoding' },
  title: 'ROBE: one shared array, each vector read at a hashed random offset with hashed signs',
  paper:
    'Desai et al., "Random Offset Block Embedding (ROBE) for compressed embedding tables in deep learning recommendation systems", MLSys 2022',
  params,
  estimateBytes: (shape, p) => robeSize(shape, p) * 4 + CONSTANT_BYTES,
  paperWords: (shape, p) => robeSize(shape, p),
  paramsForBudget(shape: TableShape, budget: number, accounting: Accounting = 'bytes') {
    checkBudget(budget);
    const words = Math.floor(totalRows(shape) * shape.dim * budget);
    // Paper: M = ⌊n·D·cr⌋ (constants uncounted). Bytes: the constants come out of the budget.
    let size = words;
    if (accounting === 'bytes') {
      size = words - ROBE_CONSTANTS;
      while (size >= 1 && size * 4 + CONSTANT_BYTES > budget * fullBytes(shape)) size -= 1;
    }
    if (size < 1) throw new BudgetError(`robe: budget ${budget} leaves no room for the array`);
    if (size >= ROBE_PRIME)
      throw new BudgetError(
        `robe: an array of ${size} floats exceeds the hash range ${ROBE_PRIME}`,
      );
    return { size, chunks: 1, slotCoefficient: false };
  },
  createTrainable: (shape, p, options) => new RobeTrainable(shape, p, options),
  loadTable(content: ArtifactContent) {
    const { params: p } = storedParams(content, params);
    let size: number;
    try {
      size = robeSize(content.shape, p);
    } catch (err) {
      throw new ArtifactError('malformed', (err as Error).message);
    }
    const array = section(content, 'array', 'f32', size);
    const constants = section(content, 'hash', 'u32', ROBE_CONSTANTS);
    if (
      constants[0] !== ROBE_PRIME ||
      !constants.every((r, k) => k === 0 || (r >= 1 && r < ROBE_PRIME))
    )
      throw new ArtifactError('malformed', 'robe: hash constants out of range');
    return new RobeTable(content.shape, p, array, constants);
  },
};
