// `int8` / `int16`: low-precision embedding training with stochastic rounding
// (docs/methods/int8.md, reference key `quantize`, digit 8 / 16). One table of unsigned b-bit codes
// Q with a global scale s and offset m0 = middle − 2^(b−1)·s; a row is e = Q·s + m0. Training keeps
// NO fp32 copy of the table: each step dequantizes the touched rows, lets the optimizer update
// them, and writes them back with stochastic rounding, so updates smaller than s survive only
// probabilistically.
import { z } from 'zod';
import { section, writeArtifact, type ArtifactContent, artifactParams } from '../core/artifact';
import { describeTable } from '../core/describe';
import { ArtifactError } from '../core/errors';
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
import { totalRows, type TableShape } from '../core/shape';

export type QuantizeBits = 8 | 16;
type Codes = Uint8Array | Uint16Array;

const params = z
  .object({
    /** Global step s between two codes. */
    scale: z.number().finite().positive().default(0.01),
    /** Centre μ of the representable range [μ − 2^(b−1)·s, μ + (2^(b−1) − 1)·s]. */
    middle: z.number().finite().default(0),
  })
  .strict();
export type QuantizeParams = z.infer<typeof params>;

/** Bytes of the (s, m0) pair: two float64 (kept in f64 so the grid is exactly the one specified). */
export const QPARAM_BYTES = 16;

/** Stochastic rounding ⌊x + u⌋ with u ~ U(0,1]: unbiased, E[result] = x (docs/methods/int8.md). */
export function stochasticRound(x: number, rng: Rng): number {
  return Math.floor(x + rng.nextOpenClosed());
}

/** The seed of a method's own rounding stream, distinct from the init stream of the same seed. */
export function roundingSeed(seed: number): number {
  return (seed ^ 0x5bd1e995) >>> 0;
}

/** m0 = μ − 2^(b−1)·s: the value of code 0. */
export function quantizeOffset(bits: QuantizeBits, p: QuantizeParams): number {
  return p.middle - 2 ** (bits - 1) * p.scale;
}

function allocCodes(bits: QuantizeBits, length: number): Codes {
  return bits === 8 ? new Uint8Array(length) : new Uint16Array(length);
}

/** e = Q·s + m0 for the rows `ids` (computed in f64, stored in f32: identical in train and serve). */
function dequantizeRows(
  codes: Codes,
  s: number,
  m0: number,
  dim: number,
  ids: Uint32Array,
  out: Float32Array,
): void {
  for (let i = 0; i < ids.length; i += 1) {
    const src = (ids[i] as number) * dim;
    const dst = i * dim;
    for (let j = 0; j < dim; j += 1) out[dst + j] = (codes[src + j] as number) * s + m0;
  }
}

export class QuantizedTable implements CompressedTable {
  readonly rows: number;
  readonly dim: number;
  readonly spec: string;
  private readonly s: number;
  private readonly m0: number;

  constructor(
    readonly method: 'int8' | 'int16',
    readonly shape: TableShape,
    private readonly params: QuantizeParams,
    private readonly codes: Codes,
    /** [s, m0] as float64: the only other buffer the table holds. */
    private readonly qparams: Float64Array,
  ) {
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.spec = formatOne(method, params);
    this.s = qparams[0] as number;
    this.m0 = qparams[1] as number;
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    dequantizeRows(this.codes, this.s, this.m0, this.dim, ids, out);
  }

  memoryBytes(): number {
    return this.codes.byteLength + this.qparams.byteLength;
  }

  describe() {
    const bits = this.codes.BYTES_PER_ELEMENT * 8;
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      quantizePaperWords(this.shape, bits as QuantizeBits),
      [
        `${bits}-bit codes; the paper counts ${bits}/32 word per value`,
        `ours also counts the (scale, offset) pair: ${QPARAM_BYTES} bytes as two float64`,
        `representable range [${this.m0}, ${this.m0 + (2 ** bits - 1) * this.s}]`,
      ],
    );
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.params },
      shape: this.shape,
      sections: new Map<string, Codes | Float64Array>([
        ['codes', this.codes],
        ['qparams', this.qparams],
      ]),
    });
  }
}

/** Training form. No parameter is differentiable (codes are integers): parameters() is empty. */
export class QuantizeTrainable implements TrainableEmbedding {
  readonly spec: string;
  private readonly rows: number;
  private readonly codeMax: number;
  private readonly s: number;
  private readonly m0: number;
  private readonly q: Codes;
  private readonly slot: OptimizerSlot;
  private readonly rounding: Rng;

  constructor(
    private readonly method: 'int8' | 'int16',
    private readonly bits: QuantizeBits,
    readonly shape: TableShape,
    private readonly params: QuantizeParams,
    options: TrainOptions,
    private readonly optimizer: SparseOptimizer = options.optimizer,
  ) {
    this.spec = formatOne(method, params);
    this.rows = totalRows(shape);
    this.codeMax = 2 ** bits - 1;
    this.s = params.scale;
    this.m0 = quantizeOffset(bits, params);
    this.rounding = new Rng(roundingSeed(options.seed));
    // The reference's fp32 initial table (trainer initializer), quantized once by stochastic
    // rounding. Generated value by value: the fp32 table is never held.
    const bound = defaultInitBound(shape.fields);
    const init = new Rng(options.seed);
    this.q = allocCodes(bits, this.rows * shape.dim);
    for (let k = 0; k < this.q.length; k += 1) {
      const w = Math.fround(init.uniform(-bound, bound));
      this.q[k] = this.clampCode(stochasticRound((w - this.m0) / this.s, this.rounding));
    }
    this.slot = optimizer.slot('table', this.rows, shape.dim);
  }

  /** The live codes (for inspection and tests). */
  get codes(): Codes {
    return this.q;
  }

  private clampCode(code: number): number {
    return code < 0 ? 0 : code > this.codeMax ? this.codeMax : code;
  }

  forward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    dequantizeRows(this.q, this.s, this.m0, this.shape.dim, ids, out);
  }

  /** d(loss)/d(dequantized rows), duplicates summed (the "fp view" the optimizer updates). */
  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    checkIds(ids, this.rows);
    const { rows, grads } = sumDuplicates(ids, rowGrads, this.shape.dim);
    return [{ name: 'table', rows, values: grads }];
  }

  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    const [g] = this.gradients(ids, rowGrads) as [ParamGradient];
    const rows = g.rows as Uint32Array;
    const D = this.shape.dim;
    // Gather the dequantized unique rows; the optimizer updates this scratch, its state stays keyed
    // by the real row (at = i => i).
    const scratch = new Float32Array(rows.length * D);
    dequantizeRows(this.q, this.s, this.m0, D, rows, scratch);
    this.optimizer.updateRows(this.slot, rows, g.values, scratch, (i) => i);
    // Write back Q = clamp(⌊(w' − m0)/s + u⌋, 0, 2^b − 1). Computed as Q + (w' − e)/s, which is
    // the same number in exact arithmetic but free of the f32 representation error of e.
    for (let i = 0; i < rows.length; i += 1) {
      const base = (rows[i] as number) * D;
      for (let j = 0; j < D; j += 1) {
        const code = this.q[base + j] as number;
        const before = Math.fround(code * this.s + this.m0);
        const step = ((scratch[i * D + j] as number) - before) / this.s;
        this.q[base + j] = this.clampCode(stochasticRound(code + step, this.rounding));
      }
    }
  }

  parameters(): ParamView[] {
    return [];
  }

  memoryBytes(): number {
    return this.q.byteLength + QPARAM_BYTES;
  }

  toTable(): CompressedTable {
    return new QuantizedTable(
      this.method,
      this.shape,
      { ...this.params },
      this.q.slice(),
      Float64Array.of(this.s, this.m0),
    );
  }
}

export function quantizeBytes(shape: TableShape, bits: QuantizeBits): number {
  return (totalRows(shape) * shape.dim * bits) / 8 + QPARAM_BYTES;
}

/** The paper's words: b/32 of a word per value; s and m0 are left out as negligible. */
export function quantizePaperWords(shape: TableShape, bits: QuantizeBits): number {
  return (totalRows(shape) * shape.dim * bits) / 32;
}

function loadQuantized(id: 'int8' | 'int16', bits: QuantizeBits, content: ArtifactContent) {
  const p = artifactParams(content, params);
  const length = totalRows(content.shape) * content.shape.dim;
  const codes =
    bits === 8 ? section(content, 'codes', 'u8', length) : section(content, 'codes', 'u16', length);
  const qparams = section(content, 'qparams', 'f64', 2);
  if (qparams[0] !== p.scale || qparams[1] !== quantizeOffset(bits, p))
    throw new ArtifactError('malformed', `${id}: qparams do not match the params`);
  return new QuantizedTable(id, content.shape, p, codes, qparams);
}

function quantizeMethod(id: 'int8' | 'int16', bits: QuantizeBits): TrainableMethod<QuantizeParams> {
  return {
    kind: 'trainable',
    id,
    family: 'row-codec',
    taxonomy: { scope: 'intra-feature', subClass: 'quantization' },
    title: `INT${bits} codes trained with stochastic rounding (global scale)`,
    paper:
      'Yang et al., "Training with Low-precision Embedding Tables", 2019 (reference key quantize)',
    params,
    // cr is not used: the ratio is b/32 by construction, so there is no paramsForBudget.
    estimateBytes: (shape) => quantizeBytes(shape, bits),
    paperWords: (shape) => quantizePaperWords(shape, bits),
    createTrainable: (shape, p, options) => new QuantizeTrainable(id, bits, shape, p, options),
    loadTable: (content) => loadQuantized(id, bits, content),
  };
}

export const int8 = quantizeMethod('int8', 8);
export const int16 = quantizeMethod('int16', 16);
