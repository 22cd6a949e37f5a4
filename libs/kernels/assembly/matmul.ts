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
 * Many small products, rows gathered: `groups` holds ngroups [matrix, count] i32 pairs; in order,
 * each group's next `count` rows of C are A[rows[i]]·B[matrix], where A is a table of k-float rows
 * and B a table of k × n matrices. `rows` holds one i32 row index per row of C. Each group runs as
 * matmul over its gathered rows (the same blocks), so every element has matmul's bits.
 *
 * Each group's matrix is first copied to `scratch` (k·n floats): B is typically a large pinned
 * table read in place (TT cores), cold in cache, and the blocks walk it down its columns, n·4
 * bytes a step, which the hardware prefetchers serve badly (2.5× slower per row on the dev
 * machine than copying it sequentially first, even for a group of 2 rows).
 */
export function groupedMatmul(
  a: usize,
  rows: usize,
  b: usize,
  groups: usize,
  ngroups: i32,
  bias: usize,
  c: usize,
  k: i32,
  n: i32,
  relu: i32,
  scratch: usize,
): void {
  const matB = <usize>k * ((<usize>n) << 2);
  let r = rows;
  let cp = c;
  for (let g = 0; g < ngroups; g++) {
    const count = load<i32>(groups + ((<usize>g) << 3), 4);
    if (count == 0) continue;
    memory.copy(scratch, b + <usize>load<u32>(groups + ((<usize>g) << 3)) * matB, matB);
    product(a, r, count, scratch, bias, cp, k, n, relu);
    r += (<usize>count) << 2;
    cp += <usize>count * ((<usize>n) << 2);
  }
}

/**
 * C[0, count) = A's rows · B: A's row i is row rows[i] of `a` (i32 indices), or row i when `rows`
 * is 0 (a plain matmul).
 */
function product(
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

// The blocks: a0.. are the block's rows of A, `b` the block's first column in B's row 0, `bias`
// the block's first bias value or 0 (none), `c` the block's first value in C (rows rowB bytes
// apart, as B's). 4×8: 8 accumulators, 2 loads of B and 4 splats per step, the most that fits
// x64's 16 vector registers without spilling.

function block4x8(
  a0: usize,
  a1: usize,
  a2: usize,
  a3: usize,
  b: usize,
  rowB: usize,
  bias: usize,
  c: usize,
  k: i32,
  relu: i32,
): void {
  let s00 = f32x4.splat(0);
  let s01 = f32x4.splat(0);
  let s10 = f32x4.splat(0);
  let s11 = f32x4.splat(0);
  let s20 = f32x4.splat(0);
  let s21 = f32x4.splat(0);
  let s30 = f32x4.splat(0);
  let s31 = f32x4.splat(0);
  let bp = b;
  for (let kk = 0; kk < k; kk++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const x0 = v128.load32_splat(a0);
    const x1 = v128.load32_splat(a1);
    const x2 = v128.load32_splat(a2);
    const x3 = v128.load32_splat(a3);
    s00 = f32x4.add(s00, f32x4.mul(x0, b0));
    s01 = f32x4.add(s01, f32x4.mul(x0, b1));
    s10 = f32x4.add(s10, f32x4.mul(x1, b0));
    s11 = f32x4.add(s11, f32x4.mul(x1, b1));
    s20 = f32x4.add(s20, f32x4.mul(x2, b0));
    s21 = f32x4.add(s21, f32x4.mul(x2, b1));
    s30 = f32x4.add(s30, f32x4.mul(x3, b0));
    s31 = f32x4.add(s31, f32x4.mul(x3, b1));
    a0 += 4;
    a1 += 4;
    a2 += 4;
    a3 += 4;
    bp += rowB;
  }
  const b1: usize = bias == 0 ? 0 : bias + 16;
  finish4(s00, bias, c, relu);
  finish4(s01, b1, c + 16, relu);
  finish4(s10, bias, c + rowB, relu);
  finish4(s11, b1, c + rowB + 16, relu);
  finish4(s20, bias, c + 2 * rowB, relu);
  finish4(s21, b1, c + 2 * rowB + 16, relu);
  finish4(s30, bias, c + 3 * rowB, relu);
  finish4(s31, b1, c + 3 * rowB + 16, relu);
}

function block3x8(
  a0: usize,
  a1: usize,
  a2: usize,
  b: usize,
  rowB: usize,
  bias: usize,
  c: usize,
  k: i32,
  relu: i32,
): void {
  let s00 = f32x4.splat(0);
  let s01 = f32x4.splat(0);
  let s10 = f32x4.splat(0);
  let s11 = f32x4.splat(0);
  let s20 = f32x4.splat(0);
  let s21 = f32x4.splat(0);
  let bp = b;
  for (let kk = 0; kk < k; kk++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const x0 = v128.load32_splat(a0);
    const x1 = v128.load32_splat(a1);
    const x2 = v128.load32_splat(a2);
    s00 = f32x4.add(s00, f32x4.mul(x0, b0));
    s01 = f32x4.add(s01, f32x4.mul(x0, b1));
    s10 = f32x4.add(s10, f32x4.mul(x1, b0));
    s11 = f32x4.add(s11, f32x4.mul(x1, b1));
    s20 = f32x4.add(s20, f32x4.mul(x2, b0));
    s21 = f32x4.add(s21, f32x4.mul(x2, b1));
    a0 += 4;
    a1 += 4;
    a2 += 4;
    bp += rowB;
  }
  const b1: usize = bias == 0 ? 0 : bias + 16;
  finish4(s00, bias, c, relu);
  finish4(s01, b1, c + 16, relu);
  finish4(s10, bias, c + rowB, relu);
  finish4(s11, b1, c + rowB + 16, relu);
  finish4(s20, bias, c + 2 * rowB, relu);
  finish4(s21, b1, c + 2 * rowB + 16, relu);
}

function block2x8(
  a0: usize,
  a1: usize,
  b: usize,
  rowB: usize,
  bias: usize,
  c: usize,
  k: i32,
  relu: i32,
): void {
  let s00 = f32x4.splat(0);
  let s01 = f32x4.splat(0);
  let s10 = f32x4.splat(0);
  let s11 = f32x4.splat(0);
  let bp = b;
  for (let kk = 0; kk < k; kk++) {
    const b0 = v128.load(bp);
    const b1 = v128.load(bp, 16);
    const x0 = v128.load32_splat(a0);
    const x1 = v128.load32_splat(a1);
    s00 = f32x4.add(s00, f32x4.mul(x0, b0));
    s01 = f32x4.add(s01, f32x4.mul(x0, b1));
    s10 = f32x4.add(s10, f32x4.mul(x1, b0));
    s11 = f32x4.add(s11, f32x4.mul(x1, b1));
    a0 += 4;
    a1 += 4;
    bp += rowB;
  }
  const b1: usize = bias == 0 ? 0 : bias + 16;
  finish4(s00, bias, c, relu);
  finish4(s01, b1, c + 16, relu);
  finish4(s10, bias, c + rowB, relu);
  finish4(s11, b1, c + rowB + 16, relu);
}

function block1x8(
  a0: usize,
  b: usize,
  rowB: usize,
  bias: usize,
  c: usize,
  k: i32,
  relu: i32,
): void {
  let s00 = f32x4.splat(0);
  let s01 = f32x4.splat(0);
  let bp = b;
  for (let kk = 0; kk < k; kk++) {
    const x0 = v128.load32_splat(a0);
    s00 = f32x4.add(s00, f32x4.mul(x0, v128.load(bp)));
    s01 = f32x4.add(s01, f32x4.mul(x0, v128.load(bp, 16)));
    a0 += 4;
    bp += rowB;
  }
  finish4(s00, bias, c, relu);
  finish4(s01, bias == 0 ? 0 : bias + 16, c + 16, relu);
}

function block4x4(
  a0: usize,
  a1: usize,
  a2: usize,
  a3: usize,
  b: usize,
  rowB: usize,
  bias: usize,
  c: usize,
  k: i32,
  relu: i32,
): void {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let s2 = f32x4.splat(0);
  let s3 = f32x4.splat(0);
  let bp = b;
  for (let kk = 0; kk < k; kk++) {
    const b0 = v128.load(bp);
    s0 = f32x4.add(s0, f32x4.mul(v128.load32_splat(a0), b0));
    s1 = f32x4.add(s1, f32x4.mul(v128.load32_splat(a1), b0));
    s2 = f32x4.add(s2, f32x4.mul(v128.load32_splat(a2), b0));
    s3 = f32x4.add(s3, f32x4.mul(v128.load32_splat(a3), b0));
    a0 += 4;
    a1 += 4;
    a2 += 4;
    a3 += 4;
    bp += rowB;
  }
  finish4(s0, bias, c, relu);
  finish4(s1, bias, c + rowB, relu);
  finish4(s2, bias, c + 2 * rowB, relu);
  finish4(s3, bias, c + 3 * rowB, relu);
}

function block3x4(
  a0: usize,
  a1: usize,
  a2: usize,
  b: usize,
  rowB: usize,
  bias: usize,
  c: usize,
  k: i32,
  relu: i32,
): void {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let s2 = f32x4.splat(0);
  let bp = b;
  for (let kk = 0; kk < k; kk++) {
    const b0 = v128.load(bp);
    s0 = f32x4.add(s0, f32x4.mul(v128.load32_splat(a0), b0));
    s1 = f32x4.add(s1, f32x4.mul(v128.load32_splat(a1), b0));
    s2 = f32x4.add(s2, f32x4.mul(v128.load32_splat(a2), b0));
    a0 += 4;
    a1 += 4;
    a2 += 4;
    bp += rowB;
  }
  finish4(s0, bias, c, relu);
  finish4(s1, bias, c + rowB, relu);
  finish4(s2, bias, c + 2 * rowB, relu);
}

function block2x4(
  a0: usize,
  a1: usize,
  b: usize,
  rowB: usize,
  bias: usize,
  c: usize,
  k: i32,
  relu: i32,
): void {
  let s0 = f32x4.splat(0);
  let s1 = f32x4.splat(0);
  let bp = b;
  for (let kk = 0; kk < k; kk++) {
    const b0 = v128.load(bp);
    s0 = f32x4.add(s0, f32x4.mul(v128.load32_splat(a0), b0));
    s1 = f32x4.add(s1, f32x4.mul(v128.load32_splat(a1), b0));
    a0 += 4;
    a1 += 4;
    bp += rowB;
  }
  finish4(s0, bias, c, relu);
  finish4(s1, bias, c + rowB, relu);
}

function block1x4(
  a0: usize,
  b: usize,
  rowB: usize,
  bias: usize,
  c: usize,
  k: i32,
  relu: i32,
): void {
  let s0 = f32x4.splat(0);
  let bp = b;
  for (let kk = 0; kk < k; kk++) {
    s0 = f32x4.add(s0, f32x4.mul(v128.load32_splat(a0), v128.load(bp)));
    a0 += 4;
    bp += rowB;
  }
  finish4(s0, bias, c, relu);
}

/** n < 4, four rows: each column's four sums side by side (four independent chains). */
function columns4(
  a0: usize,
  a1: usize,
  a2: usize,
  a3: usize,
  b: usize,
  bias: usize,
  c: usize,
  rowB: usize,
  k: i32,
  n: i32,
  relu: i32,
): void {
  for (let j = 0; j < n; j++) {
    let s0: f32 = 0;
    let s1: f32 = 0;
    let s2: f32 = 0;
    let s3: f32 = 0;
    let bp = b + ((<usize>j) << 2);
    for (let kk = 0; kk < k; kk++) {
      const x = load<f32>(bp);
      const ko = (<usize>kk) << 2;
      s0 += load<f32>(a0 + ko) * x;
      s1 += load<f32>(a1 + ko) * x;
      s2 += load<f32>(a2 + ko) * x;
      s3 += load<f32>(a3 + ko) * x;
      bp += rowB;
    }
    const o = (<usize>j) << 2;
    finish1(s0, bias, c + o, o, relu);
    finish1(s1, bias, c + rowB + o, o, relu);
    finish1(s2, bias, c + 2 * rowB + o, o, relu);
    finish1(s3, bias, c + 3 * rowB + o, o, relu);
  }
}

/** n < 4, one row. */
function columns1(a: usize, b: usize, bias: usize, c: usize, k: i32, n: i32, relu: i32): void {
  const rowB = (<usize>n) << 2;
  for (let j = 0; j < n; j++) {
    let s: f32 = 0;
    let bp = b + ((<usize>j) << 2);
    for (let kk = 0; kk < k; kk++) {
      s += load<f32>(a + ((<usize>kk) << 2)) * load<f32>(bp);
      bp += rowB;
    }
    const o = (<usize>j) << 2;
    finish1(s, bias, c + o, o, relu);
  }
}

function finish4(s: v128, bias: usize, out: usize, relu: i32): void {
  let v = s;
  if (bias != 0) v = f32x4.add(v, v128.load(bias));
  if (relu != 0) v = f32x4.pmax(f32x4.splat(0), v);
  v128.store(out, v);
}

/** One element: + bias[column at byte offset o], then ReLU, stored at `out`. */
function finish1(s: f32, bias: usize, out: usize, o: usize, relu: i32): void {
  let v = s;
  if (bias != 0) v += load<f32>(bias + o);
  // max(0, v) written as 0 < v ? v : 0, like f32x4.pmax(0, v): NaN and −0 give +0.
  if (relu != 0) v = <f32>0 < v ? v : <f32>0;
  store<f32>(out, v);
}
