// Passage vectors (fp32, rows × dim) → a serving table with a post-training codec spec: any
// `codec` method of the registry (fp16, rowwise-int8, pq, prune, svd, ivf, hybrids), `full`/`fp32`
// (the exact table), or `int8`: the int8 method's table (one global scale and offset) built from
// the min and max of the rows with round-to-nearest, since int8 is otherwise trained in place.
import { registry, SpecError, type CompressedTable, type Params } from '@embpress/compression';

export function fullTable(rows: Float32Array, count: number, dim: number): CompressedTable {
  return registry.loadContent({
    method: 'full',
    spec: 'full',
    params: {},
    shape: { fields: [count], dim },
    sections: new Map([['table', rows]]),
  });
}

/** Post-training int8 with the int8 method's global grid: code 0 = min, step (max − min)/255. */
export function globalInt8Table(rows: Float32Array, count: number, dim: number): CompressedTable {
  let min = Infinity;
  let max = -Infinity;
  for (const x of rows) {
    if (x < min) min = x;
    if (x > max) max = x;
  }
  const scale = max > min ? (max - min) / 255 : 1;
  const params: Params = { scale, middle: min + 128 * scale };
  const m0 = (params.middle as number) - 128 * scale;
  const codes = new Uint8Array(rows.length);
  for (let i = 0; i < rows.length; i += 1)
    codes[i] = Math.min(255, Math.max(0, Math.round(((rows[i] as number) - m0) / scale)));
  return registry.loadContent({
    method: 'int8',
    spec: registry.resolve(`int8(scale=${scale},middle=${params.middle as number})`).spec,
    params,
    shape: { fields: [count], dim },
    sections: new Map<string, Uint8Array | Float64Array>([
      ['codes', codes],
      ['qparams', Float64Array.of(scale, m0)],
    ]),
  });
}

export function compressRows(
  spec: string,
  rows: Float32Array,
  count: number,
  dim: number,
  seed: number,
): CompressedTable {
  const trimmed = spec.trim();
  if (trimmed === 'fp32' || trimmed === 'full') return fullTable(rows, count, dim);
  if (trimmed === 'int8') return globalInt8Table(rows, count, dim);
  const { method, params } = registry.resolve(trimmed);
  if (method.kind !== 'codec')
    throw new SpecError(
      `${method.id} is trained in compressed form; ingest takes post-training codecs (fp32, fp16, int8, rowwise-int8, pq, prune, svd, ivf, hybrids)`,
    );
  return method.compress(rows, { fields: [count], dim }, params, { seed });
}
