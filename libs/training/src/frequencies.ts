// Training-split occurrence counts per global id (docs/methods/reference.md#frequencies): what
// frequency-aware methods (mgqe, adapt, autosrh) build from and what every stage of a staged method
// gets in its StageContext. One pass over the TRAINING split only (every row, the last partial
// batch included): validation and test never leak into a table's structure.
import type { PreparedDataset } from '@embpress/data';

export async function countFrequencies(
  ds: PreparedDataset,
  rows: number,
  batchSize: number,
): Promise<Uint32Array> {
  const counts = new Uint32Array(rows);
  for await (const b of ds.batches('train', { batchSize, dropLast: false })) {
    const ids = b.sparse;
    for (let i = 0; i < ids.length; i += 1) {
      const id = ids[i] as number;
      // Encoded ids are in range by construction (the vocabulary built them); a saturating count
      // keeps a pathological id from wrapping to 0.
      if (counts[id] !== 0xffffffff) counts[id] = (counts[id] as number) + 1;
    }
  }
  return counts;
}
