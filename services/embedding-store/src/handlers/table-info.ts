import type { store } from '@embpress/proto';
import type { LoadedVersion } from '../domain/model-versions';

export function tableInfos(loaded: LoadedVersion, active: boolean): store.TableInfo[] {
  return [...loaded.tables].map(([name, table]) => {
    const d = table.describe();
    return {
      model: loaded.model,
      version: loaded.version,
      table: name,
      method: table.method,
      spec: table.spec,
      rows: table.rows,
      dim: table.dim,
      memoryBytes: d.memoryBytes,
      bytesPerRow: d.bytesPerRow,
      checksum: loaded.checksums.get(name) ?? '',
      active,
    };
  });
}
