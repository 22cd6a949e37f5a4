// A version's table entry (TableToWrite) built from a compressed table: the manifest fields
// (method, spec, rows, dim, memoryBytes) all come from the table itself, so a writer cannot
// publish a manifest that disagrees with the artifact it ships.
import type { CompressedTable } from '@embpress/compression';
import type { TableToWrite } from './registry-dir';

/**
 * The entry of table `name` for ModelRegistryDir.writeVersion. `bytes`: the artifact to write,
 * `table.encode()` unless given (tests pass rewritten or corrupted bytes to publish a version
 * whose file does not match its table).
 */
export function tableToWrite(
  name: string,
  table: CompressedTable,
  bytes: Uint8Array = table.encode(),
): TableToWrite {
  return {
    name,
    method: table.method,
    spec: table.spec,
    rows: table.rows,
    dim: table.dim,
    memoryBytes: table.memoryBytes(),
    bytes,
  };
}
