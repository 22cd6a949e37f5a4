// The register blocks of matmul (matmul.ts): one block of 1-4 rows of A times 8 or 4 columns of
// B, accumulated over k in order (then + bias, then ReLU), and the single-column paths for n < 4.
// matmul.ts's strips choose the block for each piece of C; these only compute it.

// The blocks: a0.. are the block's rows of A, `b` the block's first column in B's row 0, `bias`
// the block's first bias value or 0 (none), `c` the block's first value in C (rows rowB bytes
// apart, as B's). 4×8: 8 accumulators, 2 loads of B and 4 splats per step, the most that fits
// x64's 16 vector registers without spilling.

export function block4x8(
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

export function block3x8(
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

export function block2x8(
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

export function block1x8(
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

export function block4x4(
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

export function block3x4(
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

export function block2x4(
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

export function block1x4(
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
export function columns4(
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
export function columns1(
  a: usize,
  b: usize,
  bias: usize,
  c: usize,
  k: i32,
  n: i32,
  relu: i32,
): void {
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
