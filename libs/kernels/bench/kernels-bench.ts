// Micro-benchmark of the kernels: `npx tsx libs/kernels/bench/kernels-bench.ts [--rounds 3]`.
// Per case: ms per call of the wasm kernels, the scalar fallback and, where one exists, a plain
// JavaScript loop of the kind the kernels replaced (a tight scalar loop for gather + decode and
// for scores; a plain i-k-j loop for matmul; the dot interaction's is the scalar fallback). Each figure is the median of `rounds` rounds, a round being as many calls as fit
// in ~250 ms after a warm-up. Prints one JSON object.
import { createKernels } from '../src/index';
import { HALF_TO_F32 } from '../src/half';

const roundsArg = process.argv.indexOf('--rounds');
const ROUNDS = roundsArg > 0 ? Number(process.argv[roundsArg + 1]) : 3;

const wasm = createKernels('wasm');
const scalar = createKernels('scalar');

let seed = 12345;
function random(): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed / 4294967296;
}
const randomF32 = (n: number) => Float32Array.from({ length: n }, () => random() * 2 - 1);

/** Median over rounds of ms per call. */
function time(run: () => unknown): number {
  for (let i = 0; i < 3; i += 1) run();
  const per: number[] = [];
  for (let r = 0; r < ROUNDS; r += 1) {
    let calls = 0;
    const start = performance.now();
    let now = start;
    while (now - start < 250) {
      run();
      calls += 1;
      now = performance.now();
    }
    per.push((now - start) / calls);
  }
  per.sort((a, b) => a - b);
  return Number((per[Math.floor(per.length / 2)] as number).toFixed(4));
}

type Row = Record<string, number | string>;
const results: Record<string, Row> = {};

function record(name: string, shape: string, timings: Record<string, () => unknown>): void {
  const row: Row = { shape };
  for (const [impl, run] of Object.entries(timings)) row[`${impl}Ms`] = time(run);
  const base = (row['jsMs'] ?? row['scalarMs']) as number;
  row['wasmSpeedup'] = Number((base / (row['wasmMs'] as number)).toFixed(2));
  results[name] = row;
}

// 1. Dot interaction, forward and backward.
for (const B of [1024, 100]) {
  const n = 27;
  const D = 16;
  const z = randomF32(B * n * D);
  const dy = randomF32((B * n * (n - 1)) / 2);
  record(`dotInteraction B=${B}`, `B=${B} n=${n} D=${D}`, {
    wasm: () => wasm.dotInteraction(z, B, n, D),
    scalar: () => scalar.dotInteraction(z, B, n, D),
  });
  record(`dotInteractionBackward B=${B}`, `B=${B} n=${n} D=${D}`, {
    wasm: () => wasm.dotInteractionBackward(z, dy, B, n, D),
    scalar: () => scalar.dotInteractionBackward(z, dy, B, n, D),
  });
}

// 2. One query against many rows (pinned tables), and a tight JS loop of the codecs' kind.
{
  const rows = 20000;
  const dim = 128;
  const x = randomF32(rows * dim);
  const q = randomF32(dim);
  const halves = Uint16Array.from(x, (v) => 0x3c00 | Math.floor(Math.abs(v) * 1023)); // 1..2
  const stride = dim + 4;
  const fused = new Uint8Array(rows * stride).map(() => Math.floor(random() * 256));
  for (let r = 0; r < rows; r += 1) {
    fused[r * stride + dim + 1] = 0x1c; // scale ≈ 0.004
    fused[r * stride + dim + 3] = 0xbc; // bias ≈ −1
  }
  const pins = { wasm: [wasm.pin(x), wasm.pin(halves), wasm.pin(fused)] as const };
  const out = new Float32Array(rows);
  const shape = `${rows} rows × ${dim}`;
  record('score ip fp32', shape, {
    wasm: () => wasm.scoreF32('ip', q, pins.wasm[0], { out }),
    scalar: () => scalar.scoreF32('ip', q, x, { out }),
    js: () => {
      for (let r = 0; r < rows; r += 1) {
        let s = 0;
        for (let d = 0; d < dim; d += 1) s += (q[d] as number) * (x[r * dim + d] as number);
        out[r] = s;
      }
    },
  });
  record('score l2 fp16', shape, {
    wasm: () => wasm.scoreFp16('l2', q, pins.wasm[1], { out }),
    scalar: () => scalar.scoreFp16('l2', q, halves, { out }),
    js: () => {
      for (let r = 0; r < rows; r += 1) {
        let s = 0;
        for (let d = 0; d < dim; d += 1) {
          const diff = (q[d] as number) - (HALF_TO_F32[halves[r * dim + d] as number] as number);
          s += diff * diff;
        }
        out[r] = s;
      }
    },
  });
  record('score ip rowwise-int8', shape, {
    wasm: () => wasm.scoreRowwiseInt8('ip', q, pins.wasm[2], { out }),
    scalar: () => scalar.scoreRowwiseInt8('ip', q, fused, { out }),
    js: () => {
      let qsum = 0;
      for (let d = 0; d < dim; d += 1) qsum += q[d] as number;
      for (let r = 0, src = 0; r < rows; r += 1, src += stride) {
        const p = src + dim;
        const scale = HALF_TO_F32[(fused[p] as number) | ((fused[p + 1] as number) << 8)] as number;
        const bias = HALF_TO_F32[
          (fused[p + 2] as number) | ((fused[p + 3] as number) << 8)
        ] as number;
        let s = 0;
        for (let d = 0; d < dim; d += 1) s += (q[d] as number) * (fused[src + d] as number);
        out[r] = s * scale + bias * qsum;
      }
    },
  });
}

// 3. Gather + decode of 4096 random rows of a 1M-row table (pinned), vs a tight scalar loop.
for (const dim of [16, 64]) {
  const rows = 1_000_000;
  const ids = Uint32Array.from({ length: 4096 }, () => Math.floor(random() * rows));
  const out = new Float32Array(ids.length * dim);
  for (const bits of [8, 4] as const) {
    const codeBytes = bits === 8 ? dim : Math.ceil(dim / 2);
    const stride = codeBytes + 4;
    const fused = new Uint8Array(rows * stride).map(() => Math.floor(random() * 256));
    for (let r = 0; r < rows; r += 1) {
      fused[r * stride + codeBytes + 1] = 0x1c;
      fused[r * stride + codeBytes + 3] = 0xbc;
    }
    const pin = wasm.pin(fused);
    record(`gather rowwise-int${bits} dim=${dim}`, `4096 of ${rows} rows`, {
      wasm: () => wasm.gatherRowwise(pin, dim, bits, ids, out),
      scalar: () => scalar.gatherRowwise(fused, dim, bits, ids, out),
      js: () => {
        // The tight loop of libs/compression/src/codecs/rowwise.ts's decodeRows.
        for (let i = 0; i < ids.length; i += 1) {
          const src = (ids[i] as number) * stride;
          const p = src + codeBytes;
          const scale = HALF_TO_F32[
            (fused[p] as number) | ((fused[p + 1] as number) << 8)
          ] as number;
          const bias = HALF_TO_F32[
            (fused[p + 2] as number) | ((fused[p + 3] as number) << 8)
          ] as number;
          const dst = i * dim;
          if (bits === 8) {
            for (let j = 0; j < dim; j += 1)
              out[dst + j] = (fused[src + j] as number) * scale + bias;
          } else {
            for (let j = 0; j < dim; j += 2) {
              const byte = fused[src + (j >> 1)] as number;
              out[dst + j] = (byte & 15) * scale + bias;
              out[dst + j + 1] = (byte >>> 4) * scale + bias;
            }
          }
        }
      },
    });
    pin.dispose();
  }
  const halves = Uint16Array.from({ length: rows * dim }, () => Math.floor(random() * 0x7800));
  const pin = wasm.pin(halves);
  record(`gather fp16 dim=${dim}`, `4096 of ${rows} rows`, {
    wasm: () => wasm.gatherFp16(pin, dim, ids, out),
    scalar: () => scalar.gatherFp16(halves, dim, ids, out),
    js: () => {
      for (let i = 0; i < ids.length; i += 1) {
        const src = (ids[i] as number) * dim;
        const dst = i * dim;
        for (let j = 0; j < dim; j += 1)
          out[dst + j] = HALF_TO_F32[halves[src + j] as number] as number;
      }
    },
  });
  pin.dispose();
}

// 4. Matmul with bias and ReLU (a DHE hidden layer over a batch of rows), vs a plain i-k-j loop.
for (const [m, k, n] of [
  [4096, 64, 64],
  [1024, 256, 256],
] as const) {
  const a = randomF32(m * k);
  const b = randomF32(k * n);
  const bias = randomF32(n);
  const out = new Float32Array(m * n);
  const shape = `${m}×${k} · ${k}×${n}`;
  const flops = 2 * m * k * n;
  record(`matmul ${shape}`, shape, {
    wasm: () => wasm.matmul(a, b, m, k, n, { bias, relu: true, out }),
    scalar: () => scalar.matmul(a, b, m, k, n, { bias, relu: true, out }),
    js: () => {
      // Row by row, B streamed in order (i-k-j): the fast order for plain loops.
      for (let i = 0; i < m; i += 1) {
        const c = i * n;
        for (let j = 0; j < n; j += 1) out[c + j] = bias[j] as number;
        for (let kk = 0; kk < k; kk += 1) {
          const x = a[i * k + kk] as number;
          const bk = kk * n;
          for (let j = 0; j < n; j += 1)
            out[c + j] = (out[c + j] as number) + x * (b[bk + j] as number);
        }
        for (let j = 0; j < n; j += 1) if (!((out[c + j] as number) > 0)) out[c + j] = 0;
      }
    },
  });
  const row = results[`matmul ${shape}`] as Row;
  row['wasmGflops'] = Number((flops / ((row['wasmMs'] as number) * 1e6)).toFixed(2));
  row['jsGflops'] = Number((flops / ((row['jsMs'] as number) * 1e6)).toFixed(2));
}

// 4b. TT-Rec's small products (libs/compression's tt.ts at rank 79, dim 16): one matmul per core
// slice (m = 2 and 3 rows fall to the row-tail blocks, n = 158 to the overlapping column block,
// n = 4 to the 4-column blocks), and the grouped call that replaces them, gathering 36 rows of A
// over 34 matrices from a pinned 3.3 MB table of 67 (B read in place, each matrix copied once).
for (const [m, k, n] of [
  [2, 79, 158],
  [3, 79, 158],
  [36, 79, 158],
  [72, 79, 4],
] as const) {
  const a = randomF32(m * k);
  const b = randomF32(k * n);
  const out = new Float32Array(m * n);
  const shape = `${m}×${k} · ${k}×${n}`;
  record(`matmul ${shape}`, shape, {
    wasm: () => wasm.matmul(a, b, m, k, n, { out }),
    scalar: () => scalar.matmul(a, b, m, k, n, { out }),
  });
}
{
  const [k, n, matrices, runs, perRun] = [79, 158, 67, 34, 36];
  const a = randomF32(134 * k);
  const b = randomF32(matrices * k * n);
  const rows = Uint32Array.from({ length: runs * perRun }, () => Math.floor(random() * 134));
  const groups = new Uint32Array(2 * runs);
  for (let g = 0; g < runs; g += 1) {
    groups[2 * g] = Math.floor(random() * matrices);
    groups[2 * g + 1] = perRun;
  }
  const out = new Float32Array(rows.length * n);
  const pins = { a: wasm.pin(a), b: wasm.pin(b) };
  const shape = `${runs}×(${perRun} rows × ${k}) · ${k}×${n}, ${matrices} matrices`;
  record(`groupedMatmul ${shape}`, shape, {
    wasm: () => wasm.groupedMatmul(pins.a, rows, pins.b, groups, k, n, { out }),
    scalar: () => scalar.groupedMatmul(a, rows, b, groups, k, n, { out }),
  });
  pins.a.dispose();
  pins.b.dispose();
}

// 5. Top-k of 1M scores.
{
  const scores = randomF32(1_000_000);
  for (const k of [10, 100]) {
    record(`topK k=${k}`, '1,000,000 scores', {
      wasm: () => wasm.topK(scores, k),
      scalar: () => scalar.topK(scores, k),
    });
  }
}

console.log(JSON.stringify({ node: process.version, rounds: ROUNDS, results }, null, 1));
