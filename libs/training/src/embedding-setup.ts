// From a method spec (and an optional memory budget) to the table the loop trains and the serving
// table it exports. Trainable methods train in compressed form. Codecs (fp16, rowwise-int8, pq...)
// are applied to a trained fp32 table: the loop trains `full` and the codec compresses the best
// snapshot at export time.
import {
  fullBytes,
  isStagedMethod,
  parseSpec,
  registry,
  SINGLE_STAGE,
  SparseOptimizer,
  totalRows,
  type CodecMethod,
  type CompressedTable,
  type Accounting,
  type OptimizerKind,
  type StageSpec,
  type TableShape,
  type TrainableEmbedding,
} from '@embpress/compression';
import { TrainError } from './train-errors';

export interface EmbeddingSetup {
  /** Canonical spec of what is exported (budget already turned into parameters). */
  spec: string;
  /** The method's id (e.g. "qr"). */
  method: string;
  kind: 'trainable' | 'codec';
  /** The budget that set the parameters, or null when the spec's parameters were used as given. */
  budgetApplied: number | null;
  trainable: TrainableEmbedding;
  optimizer: SparseOptimizer;
  /** The method's stages ([SINGLE_STAGE] for unstaged methods and codecs). */
  stages: readonly StageSpec[];
  /** A new trainable of the same spec, shape, seed and optimizer (resume rebuilds with it). */
  rebuild(): TrainableEmbedding;
  /** The serving table of a trained snapshot (`trainable.toTable()`): itself, or compressed. */
  finalize(snapshot: CompressedTable): CompressedTable;
}

export interface EmbeddingSetupOptions {
  spec: string;
  budget?: number;
  shape: TableShape;
  seed: number;
  optimizer: OptimizerKind;
  lr: number;
  /** L2 penalty on the touched embedding rows (0: none). */
  sparseL2?: number;
  /** How `budget` is counted (default bytes). */
  accounting?: Accounting;
  /** Training-split counts per global id, for methods that use them (frequencies.ts). */
  frequencies?: Uint32Array;
  log: (line: string) => void;
}

/** Reads every row of a table (fp32, row-major): what a codec compresses. */
function denseRows(table: CompressedTable): Float32Array {
  const n = table.rows;
  const out = new Float32Array(n * table.dim);
  const chunk = 65_536;
  for (let start = 0; start < n; start += chunk) {
    const count = Math.min(chunk, n - start);
    const ids = new Uint32Array(count);
    for (let i = 0; i < count; i += 1) ids[i] = start + i;
    table.lookup(ids, out.subarray(start * table.dim, (start + count) * table.dim));
  }
  return out;
}

export function setupEmbedding(options: EmbeddingSetupOptions): EmbeddingSetup {
  const { shape, seed, log } = options;
  let resolved = registry.resolve(options.spec);
  let budgetApplied: number | null = null;
  if (options.budget !== undefined) {
    const derive = resolved.method.paramsForBudget;
    if (derive === undefined) {
      log(
        `method ${resolved.method.id} is not budget-driven: --budget ${options.budget} ignored (memory follows from ${resolved.spec})`,
      );
    } else {
      const derived = derive.call(
        resolved.method,
        shape,
        options.budget,
        options.accounting ?? 'bytes',
      ) as Record<string, unknown>;
      // The budget sets the size parameters; the spec's other parameters (tt's init, qr's
      // aggregator, ...) are kept. Round-trip through the registry so the exported spec is
      // canonical and validated.
      // A `budget=` inside the spec (hash, robe) is superseded by --budget.
      const { budget: _superseded, ...own } = resolved.params as Record<string, unknown>;
      // Solvers return whole parameter sets; a value they leave at the method's default is not
      // theirs to decide when the spec set it (deeplight(warmupParts=2), qr(aggregator=sum)).
      const given = parseSpec(options.spec)[0]?.params ?? {};
      const defaults = resolved.method.params.safeParse({});
      const decided = Object.fromEntries(
        Object.entries(derived).filter(
          ([k, v]) =>
            !(
              k in given &&
              defaults.success &&
              (defaults.data as Record<string, unknown>)[k] === v
            ),
        ),
      );
      const params = { ...own, ...decided };
      resolved = registry.resolve(registry.format(resolved.method.id, params));
      budgetApplied = options.budget;
    }
  }
  const optimizer = new SparseOptimizer({
    kind: options.optimizer,
    lr: options.lr,
    l2: options.sparseL2 ?? 0,
  });
  const method = resolved.method;
  const trainOptions = {
    seed,
    optimizer,
    ...(options.frequencies === undefined ? {} : { frequencies: options.frequencies }),
  };
  if (method.kind === 'trainable') {
    const params = resolved.params;
    const create = () => method.createTrainable(shape, params, trainOptions);
    return {
      spec: resolved.spec,
      method: method.id,
      kind: 'trainable',
      budgetApplied,
      trainable: create(),
      optimizer,
      stages: isStagedMethod(method) ? method.stages(params) : [SINGLE_STAGE],
      rebuild: create,
      finalize: (snapshot) => snapshot,
    };
  }
  const full = registry.resolve('full');
  if (full.method.kind !== 'trainable')
    throw new TrainError('unsupported', 'the full method is not trainable in this build');
  const fullMethod = full.method;
  const create = () => fullMethod.createTrainable(shape, full.params, trainOptions);
  const codec = method as CodecMethod;
  const params = resolved.params;
  log(
    `${resolved.spec} is a codec: training full (${totalRows(shape)} rows, ${fullBytes(shape)} bytes), compressing the best snapshot at export`,
  );
  return {
    spec: resolved.spec,
    method: method.id,
    kind: 'codec',
    budgetApplied,
    trainable: create(),
    optimizer,
    stages: [SINGLE_STAGE],
    rebuild: create,
    finalize: (snapshot) => codec.compress(denseRows(snapshot), shape, params, { seed }),
  };
}
