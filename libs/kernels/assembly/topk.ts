// Top-k: the k largest of `count` scores, best first, equal scores by lower index (the codecs'
// tie rule). The output arrays are the heap (root = worst held) and end sorted by an in-place
// heapsort.

export function topK(scores: usize, count: i32, k: i32, outIdx: usize, outScore: usize): i32 {
  if (k > count) k = count;
  if (k <= 0) return 0;
  for (let i = 0; i < k; i++) siftUp(outIdx, outScore, i, load<f32>(scores + ((<usize>i) << 2)), i);
  let threshold = load<f32>(outScore);
  let i = k;
  // A later index never wins a tie, so only scores strictly above the worst held can enter:
  // four at a time are skipped with one compare.
  for (; i + 4 <= count; i += 4) {
    const v = v128.load(scores + ((<usize>i) << 2));
    if (!v128.any_true(f32x4.gt(v, f32x4.splat(threshold)))) continue;
    for (let l = 0; l < 4; l++) {
      const s = load<f32>(scores + ((<usize>(i + l)) << 2));
      if (s > threshold) {
        siftDown(outIdx, outScore, k, s, i + l);
        threshold = load<f32>(outScore);
      }
    }
  }
  for (; i < count; i++) {
    const s = load<f32>(scores + ((<usize>i) << 2));
    if (s > threshold) {
      siftDown(outIdx, outScore, k, s, i);
      threshold = load<f32>(outScore);
    }
  }
  // Heapsort: the worst goes to the back, so the arrays end best first.
  for (let size = k - 1; size > 0; size--) {
    const lastIdx = load<i32>(outIdx + ((<usize>size) << 2));
    const lastScore = load<f32>(outScore + ((<usize>size) << 2));
    store<i32>(outIdx + ((<usize>size) << 2), load<i32>(outIdx));
    store<f32>(outScore + ((<usize>size) << 2), load<f32>(outScore));
    siftDown(outIdx, outScore, size, lastScore, lastIdx);
  }
  return k;
}

/** a is worse than b: lower score, or equal score and higher index. */
function worse(sa: f32, ia: i32, sb: f32, ib: i32): bool {
  return sa < sb || (sa == sb && ia > ib);
}

function siftUp(idx: usize, score: usize, at: i32, s: f32, id: i32): void {
  let i = at;
  while (i > 0) {
    const parent = (i - 1) >> 1;
    const ps = load<f32>(score + ((<usize>parent) << 2));
    const pi = load<i32>(idx + ((<usize>parent) << 2));
    if (!worse(s, id, ps, pi)) break;
    store<f32>(score + ((<usize>i) << 2), ps);
    store<i32>(idx + ((<usize>i) << 2), pi);
    i = parent;
  }
  store<f32>(score + ((<usize>i) << 2), s);
  store<i32>(idx + ((<usize>i) << 2), id);
}

/** Puts (s, id) at the root of the first `size` entries and restores the heap order. */
function siftDown(idx: usize, score: usize, size: i32, s: f32, id: i32): void {
  let i = 0;
  for (;;) {
    const l = 2 * i + 1;
    if (l >= size) break;
    let w = l;
    let ws = load<f32>(score + ((<usize>l) << 2));
    let wi = load<i32>(idx + ((<usize>l) << 2));
    const r = l + 1;
    if (r < size) {
      const rs = load<f32>(score + ((<usize>r) << 2));
      const ri = load<i32>(idx + ((<usize>r) << 2));
      if (worse(rs, ri, ws, wi)) {
        w = r;
        ws = rs;
        wi = ri;
      }
    }
    if (!worse(ws, wi, s, id)) break;
    store<f32>(score + ((<usize>i) << 2), ws);
    store<i32>(idx + ((<usize>i) << 2), wi);
    i = w;
  }
  store<f32>(score + ((<usize>i) << 2), s);
  store<i32>(idx + ((<usize>i) << 2), id);
}
