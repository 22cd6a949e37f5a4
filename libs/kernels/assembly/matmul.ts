// Dense matmul: C[m, n] = A[m, k]·B[k, n] (+ bias[n]) (then ReLU), row-major. Every element is
// ((Σ_{kk = 0..k−1} a·b in order, from +0) + bias) then max(0, ·): blocking changes no bits, so
// the scalar twin in src/scalar.ts gives the same bits.

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
  const rowA = (<usize>k) << 2;
  const rowB = (<usize>n) << 2;
  let i = 0;
  // 4 rows × 8 columns per block: 8 accumulators, 2 loads of B and 4 splats of A per step.
  for (; i + 4 <= m; i += 4) {
    const a0 = a + <usize>i * rowA;
    const a1 = a0 + rowA;
    const a2 = a1 + rowA;
    const a3 = a2 + rowA;
    const c0 = c + <usize>i * rowB;
    let j = 0;
    for (; j + 8 <= n; j += 8) {
      let s00 = f32x4.splat(0);
      let s01 = f32x4.splat(0);
      let s10 = f32x4.splat(0);
      let s11 = f32x4.splat(0);
      let s20 = f32x4.splat(0);
      let s21 = f32x4.splat(0);
      let s30 = f32x4.splat(0);
      let s31 = f32x4.splat(0);
      let bp = b + ((<usize>j) << 2);
      for (let kk = 0; kk < k; kk++) {
        const b0 = v128.load(bp);
        const b1 = v128.load(bp, 16);
        const ko = (<usize>kk) << 2;
        const x0 = f32x4.splat(load<f32>(a0 + ko));
        const x1 = f32x4.splat(load<f32>(a1 + ko));
        const x2 = f32x4.splat(load<f32>(a2 + ko));
        const x3 = f32x4.splat(load<f32>(a3 + ko));
        s00 = f32x4.add(s00, f32x4.mul(x0, b0));
        s01 = f32x4.add(s01, f32x4.mul(x0, b1));
        s10 = f32x4.add(s10, f32x4.mul(x1, b0));
        s11 = f32x4.add(s11, f32x4.mul(x1, b1));
        s20 = f32x4.add(s20, f32x4.mul(x2, b0));
        s21 = f32x4.add(s21, f32x4.mul(x2, b1));
        s30 = f32x4.add(s30, f32x4.mul(x3, b0));
        s31 = f32x4.add(s31, f32x4.mul(x3, b1));
        bp += rowB;
      }
      const co = c0 + ((<usize>j) << 2);
      const bo: usize = bias == 0 ? 0 : bias + ((<usize>j) << 2);
      finish4(s00, bo, co, relu);
      finish4(s01, bo == 0 ? 0 : bo + 16, co + 16, relu);
      finish4(s10, bo, co + rowB, relu);
      finish4(s11, bo == 0 ? 0 : bo + 16, co + rowB + 16, relu);
      finish4(s20, bo, co + 2 * rowB, relu);
      finish4(s21, bo == 0 ? 0 : bo + 16, co + 2 * rowB + 16, relu);
      finish4(s30, bo, co + 3 * rowB, relu);
      finish4(s31, bo == 0 ? 0 : bo + 16, co + 3 * rowB + 16, relu);
    }
    if (j < n) {
      matmulRow(a0, b, bias, c0, k, n, j, relu);
      matmulRow(a1, b, bias, c0 + rowB, k, n, j, relu);
      matmulRow(a2, b, bias, c0 + 2 * rowB, k, n, j, relu);
      matmulRow(a3, b, bias, c0 + 3 * rowB, k, n, j, relu);
    }
  }
  for (; i < m; i++) matmulRow(a + <usize>i * rowA, b, bias, c + <usize>i * rowB, k, n, 0, relu);
}

/** One row of C from column `from` on: 8-, then 4-column blocks, then single columns. */
function matmulRow(
  aRow: usize,
  b: usize,
  bias: usize,
  cRow: usize,
  k: i32,
  n: i32,
  from: i32,
  relu: i32,
): void {
  const rowB = (<usize>n) << 2;
  let j = from;
  for (; j + 8 <= n; j += 8) {
    let s0 = f32x4.splat(0);
    let s1 = f32x4.splat(0);
    let bp = b + ((<usize>j) << 2);
    for (let kk = 0; kk < k; kk++) {
      const x = f32x4.splat(load<f32>(aRow + ((<usize>kk) << 2)));
      s0 = f32x4.add(s0, f32x4.mul(x, v128.load(bp)));
      s1 = f32x4.add(s1, f32x4.mul(x, v128.load(bp, 16)));
      bp += rowB;
    }
    const bo: usize = bias == 0 ? 0 : bias + ((<usize>j) << 2);
    finish4(s0, bo, cRow + ((<usize>j) << 2), relu);
    finish4(s1, bo == 0 ? 0 : bo + 16, cRow + ((<usize>j) << 2) + 16, relu);
  }
  for (; j + 4 <= n; j += 4) {
    let s0 = f32x4.splat(0);
    let bp = b + ((<usize>j) << 2);
    for (let kk = 0; kk < k; kk++) {
      s0 = f32x4.add(
        s0,
        f32x4.mul(f32x4.splat(load<f32>(aRow + ((<usize>kk) << 2))), v128.load(bp)),
      );
      bp += rowB;
    }
    finish4(s0, bias == 0 ? 0 : bias + ((<usize>j) << 2), cRow + ((<usize>j) << 2), relu);
  }
  for (; j < n; j++) {
    let s: f32 = 0;
    let bp = b + ((<usize>j) << 2);
    for (let kk = 0; kk < k; kk++) {
      s += load<f32>(aRow + ((<usize>kk) << 2)) * load<f32>(bp);
      bp += rowB;
    }
    if (bias != 0) s += load<f32>(bias + ((<usize>j) << 2));
    // max(0, s) written as 0 < s ? s : 0, like f32x4.pmax(0, s): NaN and −0 give +0.
    if (relu != 0) s = <f32>0 < s ? s : <f32>0;
    store<f32>(cRow + ((<usize>j) << 2), s);
  }
}

function finish4(s: v128, bias: usize, out: usize, relu: i32): void {
  let v = s;
  if (bias != 0) v = f32x4.add(v, v128.load(bias));
  if (relu != 0) v = f32x4.pmax(f32x4.splat(0), v);
  v128.store(out, v);
}
