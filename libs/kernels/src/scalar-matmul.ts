// The scalar twins of matmul and groupedMatmul (assembly/matmul.ts, assembly/grouped-matmul.ts):
// one row of C at a time, Σ over k in order from +0 with Math.fround on every product, so they give
// the kernels' bits whatever the wasm's blocking (README.md, "Results"). ScalarKernels (scalar.ts)
// resolves the tables (arrays or pins) and calls these.

const fround = Math.fround;

/** matmul's twin: C[m, n] = A[m, k]·B[k, n] (+ bias[n]) (then ReLU), row-major. */
export function scalarMatmul(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  bias: Float32Array | undefined,
  relu: boolean,
  out: Float32Array,
): void {
  for (let i = 0; i < m; i += 1) productRow(a, i * k, b, 0, k, n, bias, relu, out, i * n);
}

/**
 * groupedMatmul's twin: `groups` holds [matrix, count] pairs; in order, each group's next `count`
 * rows of C are A[rows[i]]·B[matrix], B a table of k × n matrices.
 */
export function scalarGroupedMatmul(
  a: Float32Array,
  rows: Uint32Array,
  b: Float32Array,
  groups: Uint32Array,
  k: number,
  n: number,
  bias: Float32Array | undefined,
  relu: boolean,
  out: Float32Array,
): void {
  let i = 0;
  for (let g = 0; g < groups.length; g += 2) {
    const bo = (groups[g] as number) * k * n;
    const end = i + (groups[g + 1] as number);
    for (; i < end; i += 1)
      productRow(a, (rows[i] as number) * k, b, bo, k, n, bias, relu, out, i * n);
  }
}

/**
 * Row `co / n` of a product: out[co + j] = Σ_kk a[ao + kk]·b[bo + kk·n + j] in order from +0
 * (the row of C is the accumulator), then + bias[j], then ReLU (assembly/matmul.ts).
 */
function productRow(
  a: Float32Array,
  ao: number,
  b: Float32Array,
  bo: number,
  k: number,
  n: number,
  bias: Float32Array | undefined,
  relu: boolean,
  out: Float32Array,
  co: number,
): void {
  out.fill(0, co, co + n);
  for (let kk = 0; kk < k; kk += 1) {
    const x = a[ao + kk] as number;
    const bk = bo + kk * n;
    for (let j = 0; j < n; j += 1)
      out[co + j] = (out[co + j] as number) + fround(x * (b[bk + j] as number));
  }
  if (bias !== undefined)
    for (let j = 0; j < n; j += 1) out[co + j] = (out[co + j] as number) + (bias[j] as number);
  if (relu)
    for (let j = 0; j < n; j += 1) {
      const v = out[co + j] as number;
      out[co + j] = 0 < v ? v : 0;
    }
}
