// `embpress bench codecs`: in-process lookup throughput of every method on one table shape, with
// two references measured in the same run (so ratios survive a noisy shared machine):
//  - plain gather: the same ids gathered from a plain Float32Array by a tight scalar loop (one
//    element at a time, as a decode loop writes); TypedArray.set per row, the reference before
//    issue #13, is a memcpy per row and flattered every ratio;
//  - sequential copy: copying the same number of output bytes from a contiguous buffer (bandwidth).
// The table: CRITEO's 26 field cardinalities scaled to about `rows` rows, dim 16 by default.
import { cpus } from 'node:os';
import {
  CRITEO_FIELDS,
  registry,
  Rng,
  SparseOptimizer,
  totalRows,
  type CompressedTable,
  type TableShape,
} from '@embpress/compression';

export interface CodecBenchOptions {
  rows: number;
  dim: number;
  batch: number;
  /** Seconds of measurement per method and id distribution. */
  seconds: number;
  /** Method specs or `id@budget` entries; default: every registered method. */
  methods?: string[];
  seed: number;
  log: (line: string) => void;
}

interface Rate {
  rowsPerSec: number;
  ratioToPlainGather: number;
}

export interface CodecBenchResult {
  method: string;
  spec: string;
  kind: string;
  memoryBytes: number;
  bytesPerRow: number;
  buildSeconds: number;
  uniform?: Rate;
  powerLaw?: Rate;
  error?: string;
}

/** Budget used for budget-driven methods unless an entry says `id@budget`. */
const DEFAULT_BUDGET = 0.25;

export function scaledCriteoShape(rows: number, dim: number): TableShape {
  const total = CRITEO_FIELDS.reduce((a, b) => a + b, 0);
  return { fields: CRITEO_FIELDS.map((n) => Math.max(2, Math.round((n * rows) / total))), dim };
}

function idBatches(
  rng: Rng,
  rows: number,
  batch: number,
  count: number,
  powerLaw: boolean,
): Uint32Array[] {
  return Array.from({ length: count }, () => {
    const ids = new Uint32Array(batch);
    for (let i = 0; i < batch; i += 1) {
      // Power law: log-uniform ids, P(id) ∝ 1/(id+1) (Zipf s=1), hot rows at low ids.
      ids[i] = powerLaw ? Math.min(rows - 1, Math.floor(rows ** rng.next()) - 1) : rng.int(0, rows);
    }
    return ids;
  });
}

/** Rows per second of `run(ids)` over the batches, for about `seconds` (at least one batch). */
function measure(batches: Uint32Array[], seconds: number, run: (ids: Uint32Array) => void): number {
  // Warm-up (JIT): up to 3 batches, or 1 when a batch is slow (DHE: seconds per batch).
  const warmStart = process.hrtime.bigint();
  for (let i = 0; i < Math.min(3, batches.length); i += 1) {
    run(batches[i] as Uint32Array);
    if (process.hrtime.bigint() - warmStart > 1_000_000_000n) break;
  }
  let rows = 0;
  let k = 0;
  const start = process.hrtime.bigint();
  const budget = BigInt(Math.round(seconds * 1e9));
  let elapsed = 0n;
  do {
    const ids = batches[k % batches.length] as Uint32Array;
    run(ids);
    rows += ids.length;
    k += 1;
    elapsed = process.hrtime.bigint() - start;
  } while (elapsed < budget);
  return rows / (Number(elapsed) / 1e9);
}

function build(entry: string, shape: TableShape, seed: number): CompressedTable {
  const [idOrSpec, budgetText] = entry.split('@') as [string, string | undefined];
  const method = registry.get(idOrSpec.replace(/[(|].*$/, ''));
  let spec = idOrSpec;
  if (method.paramsForBudget !== undefined && !idOrSpec.includes('(')) {
    spec = registry.format(
      method.id,
      method.paramsForBudget(
        shape,
        budgetText === undefined ? DEFAULT_BUDGET : Number(budgetText),
      ) as Record<string, unknown>,
    );
  }
  const resolved = registry.resolve(spec);
  if (resolved.method.kind === 'trainable') {
    return resolved.method
      .createTrainable(shape, resolved.params, {
        seed,
        optimizer: new SparseOptimizer({ kind: 'sgd', lr: 0.01 }),
      })
      .toTable();
  }
  // Codecs compress a trained table; N(0, 0.01²) rows stand in for one (the reference's RAG test data).
  const rng = new Rng(seed);
  const data = new Float32Array(totalRows(shape) * shape.dim);
  for (let i = 0; i < data.length; i += 1) data[i] = 0.01 * rng.normal();
  return resolved.method.compress(data, shape, resolved.params, { seed });
}

export function benchCodecs(options: CodecBenchOptions) {
  const shape = scaledCriteoShape(options.rows, options.dim);
  const rows = totalRows(shape);
  const { dim, batch } = options;
  const rng = new Rng(options.seed);
  const distributions = {
    uniform: idBatches(rng, rows, batch, 32, false),
    powerLaw: idBatches(rng, rows, batch, 32, true),
  };
  const out = new Float32Array(batch * dim);

  // References.
  const plain = new Float32Array(rows * dim).map(() => rng.normal());
  const source = new Float32Array(batch * dim * 64);
  const references = {
    plainGather: { uniform: 0, powerLaw: 0 },
    sequentialCopy: { rowsPerSec: 0 },
  };
  const measureReferences = () => {
    for (const name of ['uniform', 'powerLaw'] as const) {
      const rate = measure(distributions[name], options.seconds, (ids) => {
        for (let i = 0; i < ids.length; i += 1) {
          const src = (ids[i] as number) * dim;
          const dst = i * dim;
          for (let j = 0; j < dim; j += 1) out[dst + j] = plain[src + j] as number;
        }
      });
      references.plainGather[name] = Math.max(references.plainGather[name], rate);
    }
    let offset = 0;
    const copy = measure(distributions.uniform, options.seconds, (ids) => {
      const n = ids.length * dim;
      if (offset + n > source.length) offset = 0;
      out.set(source.subarray(offset, offset + n));
      offset += n;
    });
    references.sequentialCopy.rowsPerSec = Math.max(references.sequentialCopy.rowsPerSec, copy);
  };
  measureReferences();

  const entries = options.methods ?? registry.list().map((m) => m.id);
  const results: CodecBenchResult[] = [];
  for (const entry of entries) {
    const started = process.hrtime.bigint();
    let table: CompressedTable;
    try {
      table = build(entry, shape, options.seed);
    } catch (err) {
      results.push({
        method: entry,
        spec: entry,
        kind: '?',
        memoryBytes: 0,
        bytesPerRow: 0,
        buildSeconds: 0,
        error: (err as Error).message,
      });
      options.log(`${entry}: ${(err as Error).message}`);
      continue;
    }
    const buildSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const result: CodecBenchResult = {
      method: table.method,
      spec: table.spec,
      kind: registry.get(table.method).kind,
      memoryBytes: table.memoryBytes(),
      bytesPerRow: table.memoryBytes() / rows,
      buildSeconds,
    };
    for (const name of ['uniform', 'powerLaw'] as const) {
      const rowsPerSec = measure(distributions[name], options.seconds, (ids) =>
        table.lookup(ids, out),
      );
      result[name] = { rowsPerSec, ratioToPlainGather: rowsPerSec / references.plainGather[name] };
    }
    options.log(
      `${table.spec}: ${Math.round(result.uniform?.rowsPerSec ?? 0)} rows/s uniform (${(result.uniform?.ratioToPlainGather ?? 0).toFixed(2)}x plain), ${result.bytesPerRow.toFixed(2)} B/row`,
    );
    results.push(result);
  }
  // Measure the references again at the end and keep the best: methods are compared with the
  // reference at its best, never flattered by a slow reference run.
  measureReferences();
  for (const r of results) {
    for (const name of ['uniform', 'powerLaw'] as const) {
      const rate = r[name];
      if (rate !== undefined)
        rate.ratioToPlainGather = rate.rowsPerSec / references.plainGather[name];
    }
  }
  return {
    date: new Date().toISOString(),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model ?? 'unknown',
      node: process.version,
    },
    shape: { rows, dim, fields: shape.fields.length },
    batch,
    secondsPerMeasurement: options.seconds,
    references: {
      plainGather: {
        uniformRowsPerSec: references.plainGather.uniform,
        powerLawRowsPerSec: references.plainGather.powerLaw,
      },
      sequentialCopy: { rowsPerSec: references.sequentialCopy.rowsPerSec },
    },
    results,
  };
}
