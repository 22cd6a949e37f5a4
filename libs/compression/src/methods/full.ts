// `full`: the uncompressed baseline (docs/methods/full.md). One fp32 row per id. Also the reference
// for how a method is written: params schema, trainable form, serving form, artifact, bytes.
import { z } from 'zod';
import { section, writeArtifact, type ArtifactContent } from '../core/artifact';
import { describeTable } from '../core/describe';
import { checkIds, sumDuplicates } from '../core/ids';
import type {
  CompressedTable,
  ParamGradient,
  TrainableEmbedding,
  TrainableMethod,
  TrainOptions,
} from '../core/method';
import type { OptimizerSlot, SparseOptimizer } from '../core/optim';
import { defaultInitBound, Rng } from '../core/rng';
import { totalRows, type TableShape } from '../core/shape';

const params = z.object({}).strict();
type FullParams = z.infer<typeof params>;

/** Copies rows `ids` of a row-major fp32 `table` into `out`. The plain gather every method reuses. */
export function gatherRows(
  table: Float32Array,
  dim: number,
  ids: Uint32Array,
  out: Float32Array,
): void {
  for (let i = 0; i < ids.length; i += 1) {
    const src = (ids[i] as number) * dim;
    const dst = i * dim;
    for (let j = 0; j < dim; j += 1) out[dst + j] = table[src + j] as number;
  }
}

export class FullTable implements CompressedTable {
  readonly method = 'full';
  readonly spec = 'full';
  readonly rows: number;
  readonly dim: number;

  constructor(
    readonly shape: TableShape,
    private readonly table: Float32Array,
  ) {
    this.rows = totalRows(shape);
    this.dim = shape.dim;
  }

  lookup(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    gatherRows(this.table, this.dim, ids, out);
  }

  memoryBytes(): number {
    return this.table.byteLength;
  }

  describe() {
    return describeTable(this.method, this.spec, this.shape, this.memoryBytes(), this.table.length);
  }

  encode(): Uint8Array {
    return writeArtifact({
      method: this.method,
      spec: this.spec,
      params: {},
      shape: this.shape,
      sections: new Map([['table', this.table]]),
    });
  }
}

class FullTrainable implements TrainableEmbedding {
  readonly spec = 'full';
  private readonly table: Float32Array;
  private readonly slot: OptimizerSlot;
  private readonly rows: number;

  constructor(
    readonly shape: TableShape,
    options: TrainOptions,
    private readonly optimizer: SparseOptimizer = options.optimizer,
  ) {
    this.rows = totalRows(shape);
    const bound = defaultInitBound(shape.fields);
    this.table = new Rng(options.seed).fillUniform(
      new Float32Array(this.rows * shape.dim),
      -bound,
      bound,
    );
    this.slot = optimizer.slot('table', this.rows, shape.dim);
  }

  forward(ids: Uint32Array, out: Float32Array): void {
    checkIds(ids, this.rows);
    gatherRows(this.table, this.shape.dim, ids, out);
  }

  gradients(ids: Uint32Array, rowGrads: Float32Array): ParamGradient[] {
    checkIds(ids, this.rows);
    const { rows, grads } = sumDuplicates(ids, rowGrads, this.shape.dim);
    return [{ name: 'table', rows, values: grads }];
  }

  backward(ids: Uint32Array, rowGrads: Float32Array): void {
    const [g] = this.gradients(ids, rowGrads) as [ParamGradient];
    this.optimizer.updateRows(this.slot, g.rows as Uint32Array, g.values, this.table);
  }

  parameters() {
    return [{ name: 'table', data: this.table, rowLength: this.shape.dim }];
  }

  memoryBytes(): number {
    return this.table.byteLength;
  }

  toTable(): CompressedTable {
    return new FullTable(this.shape, this.table.slice());
  }
}

export const full: TrainableMethod<FullParams> = {
  kind: 'trainable',
  id: 'full',
  family: 'row-codec',
  taxonomy: { scope: 'baseline', subClass: 'none' },
  title: 'Uncompressed fp32 table (baseline)',
  paper: 'baseline',
  params,
  estimateBytes: (shape) => totalRows(shape) * shape.dim * 4,
  paperWords: (shape) => totalRows(shape) * shape.dim,
  createTrainable: (shape, _params, options) => new FullTrainable(shape, options),
  loadTable: (content: ArtifactContent) =>
    new FullTable(
      content.shape,
      section(content, 'table', 'f32', totalRows(content.shape) * content.shape.dim),
    ),
};
