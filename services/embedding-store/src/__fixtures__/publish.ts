// Test helper: publishes a version of a model with one `full` table (as the trainer's export
// does) and returns the table, so tests can compare served rows with it.
import { registry, SparseOptimizer, type CompressedTable } from '@embpress/compression';
import { ModelRegistryDir, tableToWrite } from '@embpress/model-registry';

export const FIXTURE_SHAPE = { fields: [30, 10], dim: 4 };

export function publishVersion(
  root: string,
  model: string,
  version: string,
  seed: number,
  /** Rewrites the artifact bytes before they are written (and checksummed): corrupt versions. */
  rewrite: (bytes: Uint8Array) => Uint8Array = (bytes) => bytes,
  /** Other files of the version (dense weights, vocabulary...), hashed in its manifest. */
  files?: ReadonlyMap<string, Uint8Array>,
): CompressedTable {
  const { method, params } = registry.resolve('full');
  if (method.kind !== 'trainable') throw new Error('full is expected to be trainable');
  const table = method
    .createTrainable(FIXTURE_SHAPE, params, {
      seed,
      optimizer: new SparseOptimizer({ kind: 'sgd', lr: 0.1 }),
    })
    .toTable();
  new ModelRegistryDir(root).writeVersion({
    model,
    version,
    tables: [tableToWrite('sparse', table, rewrite(table.encode()))],
    ...(files === undefined ? {} : { files }),
  });
  return table;
}

/** The fp32 rows of `ids` as a plain array (for toEqual). */
export function rowsOf(table: CompressedTable, ids: number[]): number[] {
  const out = new Float32Array(ids.length * table.dim);
  table.lookup(Uint32Array.from(ids), out);
  return Array.from(out);
}
