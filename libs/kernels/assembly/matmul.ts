// Dense matmul: C[m, n] = A[m, k]·B[k, n] (+ bias[n]) (then ReLU), row-major. Every element is
// ((Σ_{kk = 0..k−1} a·b in order, from +0) + bias) then max(0, ·): blocking changes no bits, so
// the scalar twin in src/scalar.ts gives the same bits (README.md, "Results").
//
// Blocking (README.md, "matmul"): rows go 4 at a time, then the m mod 4 rows left as one 3-, 2- or
// 1-row block, so each load of B serves every row of a block (tt's products stack 2-120 rows on
// one core slice: libs/compression/src/methods/tt.ts). Columns go 8 at a time; the last 1-7
// columns are one 8- or 4-column block ending at column n, which recomputes up to 7 columns
// already written. Those come out the same bits (the same terms, summed in the same order), so
// overlapping is harmless and no load reads past B or the bias. Only n < 4 falls to single
// columns. A's values enter by load32_splat (one broadcasting load per row and step).
//
// Loop order: rows in chunks of ~16 KiB of A; per chunk, each column strip of B (k × 8 values)
// runs through every row block of the chunk before the next strip. A strip is read from memory
// once per chunk and then hit in L1: this matters when B is cold, as a TT core read in place from
// its pin is (groupedMatmul), and costs nothing when B is hot.
//
// A block takes its rows of A by four pointers, so groupedMatmul feeds it rows gathered from a
// table with no copy; C's rows are always consecutive (rowB bytes apart).
//
// The register blocks are in matmul-blocks.ts; groupedMatmul (grouped-matmul.ts) runs `product`
// over rows gathered from a table.
import {
  block1x4,
  block1x8,
  block2x4,
  block2x8,
  block3x4,
  block3x8,
  block4x4,
  block4x8,
  columns1,
  columns4,
} from './matmul-blocks';

/** Bytes of A per chunk of rows (half of a 32 KiB L1 data cache). */
const CHUNK_BYTES: i32 = 16384;

export function matmul(
  a: usize,
  b: usize,
  bias: usize,
  c: usize,
  m: i32,
  k: i32,
  n: i32,
  relu: i32,
): void {
  product(a, 0, m, b, bias, c, k, n, relu);
}

/**
 * C[0, count) = A's rows · B: A's row i is row rows[i] of `a` (i32 indices), or row i when `rows`
 * is 0 (a plain matmul).
 */
export function product(
  a: usize,
  rows: usize,
  count: i32,
  b: usize,
  bias: usize,
  c: usize,
  k: i32,
  n: i32,
  relu: i32,
): void {
  const rowB = (<usize>n) << 2;
  // A multiple of 4 rows, at least 4.
  const chunk = max(4, (CHUNK_BYTES / max(1, k << 2)) & ~3);
  for (let i = 0; i < count; i += chunk) {
    const m = min(chunk, count - i);
    const ci = c + <usize>i * rowB;
    if (n < 4) {
      strips(0, a, rows, i, m, b, bias, ci, k, n, relu);
      continue;
    }
    let j = 0;
    for (; j + 8 <= n; j += 8) strips(8, a, rows, i, m, b, bias, ci, k, n, relu, j);
    const left = n - j;
    if (left > 4) {
      if (j > 0) strips(8, a, rows, i, m, b, bias, ci, k, n, relu, n - 8);
      else {
        // 4 < n < 8: two 4-column blocks, the second ending at n.
        strips(4, a, rows, i, m, b, bias, ci, k, n, relu, 0);
        strips(4, a, rows, i, m, b, bias, ci, k, n, relu, n - 4);
      }
    } else if (left > 0) strips(4, a, rows, i, m, b, bias, ci, k, n, relu, n - 4);
  }
}

/**
 * Columns [j, j + width) (width 8 or 4; 0: every column of an n < 4 product) of rows
 * [first, first + m) of the product, 4 rows a block, then one block of the last 1-3; `c` is C's
 * row `first`.
 */
function strips(
  width: i32,
  a: usize,
  rows: usize,
  first: i32,
  m: i32,
  b: usize,
  bias: usize,
  c: usize,
  k: i32,
  n: i32,
  relu: i32,
  j: i32 = 0,
): void {
  const rowA = (<usize>k) << 2;
  const rowB = (<usize>n) << 2;
  for (let i = 0; i < m; i += 4) {
    const r = min(4, m - i);
    const at = first + i;
    // Pointers to rows past the block's last are never read.
    let a0: usize, a1: usize, a2: usize, a3: usize;
    if (rows == 0) {
      a0 = a + <usize>at * rowA;
      a1 = a0 + rowA;
      a2 = a1 + rowA;
      a3 = a2 + rowA;
    } else {
      const rp = rows + ((<usize>at) << 2);
      a0 = a + <usize>load<u32>(rp) * rowA;
      a1 = r > 1 ? a + <usize>load<u32>(rp, 4) * rowA : 0;
      a2 = r > 2 ? a + <usize>load<u32>(rp, 8) * rowA : 0;
      a3 = r > 3 ? a + <usize>load<u32>(rp, 12) * rowA : 0;
    }
    const ci = c + <usize>i * rowB;
    if (width == 8) cols8(r, a0, a1, a2, a3, b, bias, ci, rowB, k, j, relu);
    else if (width == 4) cols4(r, a0, a1, a2, a3, b, bias, ci, rowB, k, j, relu);
    else if (r == 4) columns4(a0, a1, a2, a3, b, bias, ci, rowB, k, n, relu);
    else {
      columns1(a0, b, bias, ci, k, n, relu);
      if (r > 1) columns1(a1, b, bias, ci + rowB, k, n, relu);
      if (r > 2) columns1(a2, b, bias, ci + 2 * rowB, k, n, relu);
    }
  }
}

/** Columns [j, j + 8) of the block's rows. */
function cols8(
  rows: i32,
  a0: usize,
  a1: usize,
  a2: usize,
  a3: usize,
  b: usize,
  bias: usize,
  c: usize,
  rowB: usize,
  k: i32,
  j: i32,
  relu: i32,
): void {
  const o = (<usize>j) << 2;
  const bo: usize = bias == 0 ? 0 : bias + o;
  if (rows == 4) block4x8(a0, a1, a2, a3, b + o, rowB, bo, c + o, k, relu);
  else if (rows == 3) block3x8(a0, a1, a2, b + o, rowB, bo, c + o, k, relu);
  else if (rows == 2) block2x8(a0, a1, b + o, rowB, bo, c + o, k, relu);
  else block1x8(a0, b + o, rowB, bo, c + o, k, relu);
}

/** Columns [j, j + 4) of the block's rows. */
function cols4(
  rows: i32,
  a0: usize,
  a1: usize,
  a2: usize,
  a3: usize,
  b: usize,
  bias: usize,
  c: usize,
  rowB: usize,
  k: i32,
  j: i32,
  relu: i32,
): void {
  const o = (<usize>j) << 2;
  const bo: usize = bias == 0 ? 0 : bias + o;
  if (rows == 4) block4x4(a0, a1, a2, a3, b + o, rowB, bo, c + o, k, relu);
  else if (rows == 3) block3x4(a0, a1, a2, b + o, rowB, bo, c + o, k, relu);
  else if (rows == 2) block2x4(a0, a1, b + o, rowB, bo, c + o, k, relu);
  else block1x4(a0, b + o, rowB, bo, c + o, k, relu);
}
