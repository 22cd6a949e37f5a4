// Dense preprocessing of docs/methods/reference.md#data: missing -> 0; v -> ln(v + 1) if v > 0,
// else 0 (negative counts, which Criteo has, become 0).

// Local alias: global lookups (Math.*) are slow inside jest's vm sandbox.
const { log1p } = Math;

export function transformDenseValue(v: number): number {
  // NaN > 0 is false, so a missing value (NaN) lands on 0 too. log1p is ln(1 + v), exact for small v.
  return v > 0 ? log1p(v) : 0;
}

/** Transforms raw dense values (NaN = missing) into `out` (float32, as the models take them). */
export function transformDense(
  raw: ArrayLike<number>,
  out = new Float32Array(raw.length),
): Float32Array {
  for (let i = 0; i < raw.length; i += 1) out[i] = transformDenseValue(raw[i] as number);
  return out;
}
