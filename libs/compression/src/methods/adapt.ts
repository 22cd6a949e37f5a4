// `adapt`: Adaptive Embedding, DeepRec style (docs/methods/adapt.md). Per field, the ids seen at
// least κ times in the training split (the top-percent bisection, core/frequency.ts) each own a
// row of U_f; the other ids share the n_rare rows of V_f in turn (k-th rare id → V_f[k mod
// n_rare]). A remap ρ_f (local id → row of [U_f; V_f]) is the serving-time mapping: one index
// read and one row read per id. Fields where compressing saves no bytes stay plain tables.
import { z } from 'zod';
import { section, writeArtifact, type ArtifactContent } from '../core/artifact';
import { describeTable } from '../core/describe';
import { ArtifactError, SpecError } from '../core/errors';
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
import { fieldOf, fieldOffsets, totalRows, type TableShape } from '../core/shape';
import { formatOne } from '../core/spec';
import {
  adaptParamsForBudget,
  adaptPlan,
  adaptRemap,
  planBytes,
  planWords,
  type AdaptParams,
  type FieldPlan,
} from './adapt-layout';
import { storedParams } from './hash';
import { indexSection, type IndexArray } from './narrow-index';

const params = z
  .object({
    rowFraction: z.number().gt(0).lte(1).default(0.5),
    topPercent: z.number().gt(0).lt(1).default(0.1),
    threshold: z.number().int().min(0).default(0),
  })
  .strict();

/**
 * One field's rows. Plain: `frequent` is its n_f × D table, `rare` empty, `remap` null.
 * Compressed: U_f (n_hi × D), V_f (n_rare × D) and the remap.
 */
interface FieldRows {
  remap: IndexArray | null;
  frequent: Float32Array;
  rare: Float32Array;
}

/** Row `row` of [U; V] (or of the plain table) into out[at..at+D). */
function copyRow(fd: FieldRows, D: number, x: number, out: Float32Array, at: number): void {
  let src: Float32Array = fd.frequent;
  let r = x;
  if (fd.remap !== null) {
    r = fd.remap[x] as number;
    const hi = fd.frequent.length / D;
    if (r >= hi) {
      src = fd.rare;
      r -= hi;
    }
  }
  const base = r * D;
  for (let j = 0; j < D; j += 1) out[at + j] = src[base + j] as number;
}

function lookupRows(
  fields: readonly FieldRows[],
  offsets: Float64Array,
  rows: number,
  D: number,
  ids: Uint32Array,
  out: Float32Array,
): void {
  checkIds(ids, rows);
  for (let i = 0; i < ids.length; i += 1) {
    const id = ids[i] as number;
    const f = fieldOf(offsets, id);
    copyRow(fields[f] as FieldRows, D, id - (offsets[f] as number), out, i * D);
  }
}

function bytesOf(fields: readonly FieldRows[]): number {
  let bytes = 0;
  for (const fd of fields)
    bytes += fd.frequent.byteLength + fd.rare.byteLength + (fd.remap?.byteLength ?? 0);
  return bytes;
}

const specOf = (p: AdaptParams) => formatOne('adapt', { ...p });

export class AdaptTable implements CompressedTable {
  readonly method = 'adapt';
  readonly rows: number;
  readonly dim: number;
  private readonly offsets: Float64Array;

  constructor(
    readonly shape: TableShape,
    readonly spec: string,
    private readonly params: AdaptParams,
    private readonly fields: readonly FieldRows[],
  ) {
    this.rows = totalRows(shape);
    this.dim = shape.dim;
    this.offsets = fieldOffsets(shape);
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    lookupRows(this.fields, this.offsets, this.rows, this.dim, ids, out);
  }

  memoryBytes(): number {
    return bytesOf(this.fields);
  }

  describe() {
    const D = this.dim;
    const plan = adaptPlan(this.shape, this.params);
    const split = this.fields.map((fd) =>
      fd.remap === null ? 'plain' : `${fd.frequent.length / D}+${fd.rare.length / D}`,
    );
    const remapBytes = this.fields.reduce((s, fd) => s + (fd.remap?.byteLength ?? 0), 0);
    return describeTable(
      this.method,
      this.spec,
      this.shape,
      this.memoryBytes(),
      planWords(this.shape, plan),
      [
        `per field frequent+rare rows: ${split.join(',')}`,
        `remaps: ${remapBytes} bytes, counted here; the paper's words leave them out`,
      ],
    );
  }

  encode(): Uint8Array {
    const sections = new Map<string, Float32Array | IndexArray>();
    this.fields.forEach((fd, f) => {
      if (fd.remap === null) {
        sections.set(`f${f}.table`, fd.frequent);
        return;
      }
      sections.set(`f${f}.remap`, fd.remap);
      sections.set(`f${f}.frequent`, fd.frequent);
      sections.set(`f${f}.rare`, fd.rare);
    });
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: { ...this.params },
      shape: this.shape,
      sections,
    });
  }
}

class AdaptTrainable implements TrainableEmbedding {
  readonly spec: string;
  private readonly rows: number;
  private readonly offsets: Float64Array;
  private readonly fields: FieldRows[];
  private readonly slots: OptimizerSlot[] = [];
  private readonly optimizer: SparseOptimizer;

  constructor(
    readonly shape: TableShape,
    private readonly params: AdaptParams,
    options: TrainOptions,
  ) {
    const plan = adaptPlan(shape, params);
    this.spec = specOf(params);
    this.rows = totalRows(shape);
    this.offsets = fieldOffsets(shape);
    const counts = options.frequencies;
    if (counts === undefined)
      throw new SpecError('adapt needs the training split frequencies (TrainOptions.frequencies)');
    if (counts.length !== this.rows)
      throw new SpecError(`adapt: ${counts.length} frequencies for ${this.rows} ids`);
    const D = shape.dim;
    const rng = new Rng(options.seed);
    const b = defaultInitBound(shape.fields);
    this.optimizer = options.optimizer;
    this.fields = plan.map((fp: FieldPlan, f) => {
      const start = this.offsets[f] as number;
      if (!fp.compressed) {
        const table = rng.fillUniform(new Float32Array(fp.n * D), -b, b);
        this.slots.push(this.optimizer.slot(`f${f}.table`, fp.n, D));
        return { remap: null, frequent: table, rare: new Float32Array(0) };
      }
      const { remap, frequent } = adaptRemap(
        counts.subarray(start, start + fp.n),
        fp.total,
        params.topPercent,
      );
      const U = rng.fillUniform(new Float32Array(frequent * D), -b, b);
      const V = rng.fillUniform(new Float32Array((fp.total - frequent) * D), -b, b);
      this.slots.push(this.optimizer.slot(`f${f}.frequent`, frequent, D));
      this.slots.push(this.optimizer.slot(`f${f}.rare`, fp.total - frequent, D));
      return { remap, frequent: U, rare: V };
    });
  }

  forward(ids: Uint32Array, out: Float32Array): void {
    lookupRows(this.fields, this.offsets, this.rows, this.shape.dim, ids, out);
  }

  /** Per parameter (in `parameters()` order): its rows in the batch, gradients summed. */
  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    checkIds(ids, this.rows);
    const D = this.shape.dim;
    const names = this.names();
    const order: number[][] = names.map(() => []);
    const index = names.map(() => new Map<number, number>());
    const sums: number[][] = names.map(() => []);
    const firstParam: number[] = [];
    let k = 0;
    for (const fd of this.fields) {
      firstParam.push(k);
      k += fd.remap === null ? 1 : 2;
    }
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      const f = fieldOf(this.offsets, id);
      const fd = this.fields[f] as FieldRows;
      const x = id - (this.offsets[f] as number);
      let p = firstParam[f] as number;
      let row = x;
      if (fd.remap !== null) {
        row = fd.remap[x] as number;
        const hi = fd.frequent.length / D;
        if (row >= hi) {
          p += 1;
          row -= hi;
        }
      }
      const m = index[p] as Map<number, number>;
      let slot = m.get(row);
      const s = sums[p] as number[];
      if (slot === undefined) {
        slot = (order[p] as number[]).length;
        m.set(row, slot);
        (order[p] as number[]).push(row);
        for (let j = 0; j < D; j += 1) s.push(0);
      }
      for (let j = 0; j < D; j += 1)
        s[slot * D + j] = (s[slot * D + j] as number) + (rowGrads[i * D + j] as number);
    }
    return names.map((name, q) => ({
      name,
      rows: Uint32Array.from(order[q] as number[]),
      values: Float32Array.from(sums[q] as number[]),
    }));
  }

  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    const views = this.parameters();
    this.gradients(ids, rowGrads).forEach((g, q) => {
      if ((g.rows as Uint32Array).length === 0) return;
      const view = views[q] as ParamView;
      this.optimizer.updateRows(
        this.slots[q] as OptimizerSlot,
        g.rows as Uint32Array,
        g.values,
        view.data,
      );
    });
  }

  private names(): string[] {
    return this.parameters().map((p) => p.name);
  }

  parameters(): ParamView[] {
    const D = this.shape.dim;
    const views: ParamView[] = [];
    this.fields.forEach((fd, f) => {
      if (fd.remap === null) views.push({ name: `f${f}.table`, data: fd.frequent, rowLength: D });
      else {
        views.push({ name: `f${f}.frequent`, data: fd.frequent, rowLength: D });
        views.push({ name: `f${f}.rare`, data: fd.rare, rowLength: D });
      }
    });
    return views;
  }

  memoryBytes(): number {
    return bytesOf(this.fields);
  }

  toTable(): CompressedTable {
    const fields = this.fields.map((fd) => ({
      remap: fd.remap === null ? null : fd.remap.slice(),
      frequent: fd.frequent.slice(),
      rare: fd.rare.slice(),
    }));
    return new AdaptTable(this.shape, this.spec, this.params, fields);
  }
}

function loadTable(content: ArtifactContent): CompressedTable {
  const { params: p, spec } = storedParams(content, params);
  const D = content.shape.dim;
  let plan: FieldPlan[];
  try {
    plan = adaptPlan(content.shape, p);
  } catch (err) {
    throw new ArtifactError('malformed', (err as Error).message);
  }
  const fields = plan.map((fp, f): FieldRows => {
    if (!fp.compressed)
      return {
        remap: null,
        frequent: section(content, `f${f}.table`, 'f32', fp.n * D),
        rare: new Float32Array(0),
      };
    const remap = indexSection(content, `f${f}.remap`, fp.n, fp.total);
    const U = section(content, `f${f}.frequent`, 'f32');
    const V = section(content, `f${f}.rare`, 'f32');
    if (U.length % D !== 0 || U.length + V.length !== fp.total * D || V.length === 0)
      throw new ArtifactError(
        'malformed',
        `adapt: field ${f} has ${U.length}+${V.length} values, expected ${fp.total} rows of ${D} with a rare part`,
      );
    return { remap, frequent: U, rare: V };
  });
  return new AdaptTable(content.shape, spec, p, fields);
}

export const adapt: TrainableMethod<AdaptParams> = {
  kind: 'trainable',
  id: 'adapt',
  family: 'id-mapper',
  taxonomy: { scope: 'inter-feature', subClass: 'dynamic-encoding' },
  title: 'Adaptive embedding: own rows for frequent ids, rare ids share a small table (remap)',
  paper: 'Alibaba DeepRec, "Adaptive Embedding" (the reference code\'s `adapt` layer)',
  usesFrequencies: true,
  params,
  estimateBytes: (shape, p) => planBytes(shape, adaptPlan(shape, p)),
  paperWords: (shape, p) => planWords(shape, adaptPlan(shape, p)),
  paramsForBudget: (shape, budget, accounting) => adaptParamsForBudget(shape, budget, accounting),
  createTrainable: (shape, p, options) => new AdaptTrainable(shape, p, options),
  loadTable,
};
