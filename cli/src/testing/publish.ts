// Test helper: publishes version `version` of model `ctr` with one rowwise-int8 table
// `sparse` (100 rows × 8, two fields, values seeded by `seed`), as the trainer's export would.
import { registry } from '@embpress/compression';
import { ModelRegistryDir, tableToWrite } from '@embpress/model-registry';

export function publishRowwiseVersion(
  root: string,
  version: string,
  seed: number,
  extra?: Record<string, unknown>,
): void {
  const { method, params } = registry.resolve('rowwise-int8');
  if (method.kind !== 'codec') throw new Error('rowwise-int8 is expected to be a codec');
  const data = new Float32Array(100 * 8).map((_, i) => Math.cos(i * seed));
  const table = method.compress(data, { fields: [60, 40], dim: 8 }, params, { seed });
  new ModelRegistryDir(root).writeVersion({
    model: 'ctr',
    version,
    tables: [tableToWrite('sparse', table)],
    ...(extra === undefined ? {} : { extra }),
  });
}
