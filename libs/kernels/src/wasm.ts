// The WebAssembly implementation: src/kernels.wasm (built from assembly/ by `npm run
// kernels:build`, kept equal to a fresh build by wasm-binary.spec.ts), compiled once per process
// and instantiated once per WasmKernels. Its one linear memory is managed from here: a first-fit
// list of blocks above the module's own data; each call copies its inputs into scratch blocks,
// runs, copies the result out and frees them; pinned tables keep their block until disposed.
// Memory grows as needed and never shrinks (WebAssembly cannot), so large tables are pinned,
// not passed per call.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckedKernels, type TableArg } from './checked';
import type { KernelImpl, Metric, PinnedBytes, TopKResult } from './types';

// The few WebAssembly JS API members used here, typed locally: the repo's lib setting (ES2023,
// no DOM) and @types/node 20 declare no WebAssembly namespace.
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
/** A compiled module (opaque). */
export interface WasmModule {
  readonly __brand?: 'WebAssembly.Module';
}
interface WasmApi {
  validate(bytes: Uint8Array): boolean;
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: object) => { exports: unknown };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

interface Exports {
  memory: WasmMemory;
  heapBase(): number;
  dotInteraction(z: number, out: number, batch: number, n: number, dim: number): void;
  dotInteractionBackward(
    z: number,
    dy: number,
    dz: number,
    batch: number,
    n: number,
    dim: number,
  ): void;
  ipF32: RowsKernel;
  l2F32: RowsKernel;
  ipFp16: RowsKernel;
  l2Fp16: RowsKernel;
  /** Over i32 [start, count] pairs at `ranges`; `qi`: scratch for the query's int16 codes. */
  ipRowwiseInt8(
    q: number,
    x: number,
    ranges: number,
    nranges: number,
    dim: number,
    out: number,
    qi: number,
  ): void;
  l2RowwiseInt8: RowsKernel;
  gatherRowwiseInt8: RowsKernel;
  gatherRowwiseInt4: RowsKernel;
  gatherFp16: RowsKernel;
  matmul(
    a: number,
    b: number,
    bias: number,
    c: number,
    m: number,
    k: number,
    n: number,
    relu: number,
  ): void;
  /**
   * Over i32 row indices at `rows` and i32 [matrix, count] pairs at `groups`; `scratch`: room
   * for one k × n matrix.
   */
  groupedMatmul(
    a: number,
    rows: number,
    b: number,
    groups: number,
    ngroups: number,
    bias: number,
    c: number,
    k: number,
    n: number,
    relu: number,
    scratch: number,
  ): void;
  topK(scores: number, count: number, k: number, outIdx: number, outScore: number): number;
}

/** (q or table, x or ids, count, dim, out): the shape of the score and gather kernels. */
type RowsKernel = (a: number, b: number, count: number, dim: number, out: number) => void;

export const WASM_PATH = join(__dirname, 'kernels.wasm');

let compiled: WasmModule | null | undefined;

/**
 * The compiled module, or null where this engine rejects it (no 128-bit SIMD). Read and compiled
 * synchronously on first use, once per process.
 */
export function wasmModule(): WasmModule | null {
  if (compiled === undefined) {
    const bytes = readFileSync(WASM_PATH);
    compiled = WA.validate(bytes) ? new WA.Module(bytes) : null;
  }
  return compiled;
}

const PAGE = 65536;
const ALIGN = 16;

/** First-fit blocks of the linear memory, as sorted [start, end) pairs. */
class Heap {
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];

  constructor(
    private readonly memory: WasmMemory,
    private readonly base: number,
  ) {}

  alloc(bytes: number): number {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    let at = this.base;
    let slot = 0;
    for (; slot < this.starts.length; slot += 1) {
      if ((this.starts[slot] as number) - at >= size) break;
      at = this.ends[slot] as number;
    }
    const end = at + size;
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    // Shifted by hand: splice returns a new array per call, garbage on every kernel call.
    const { starts, ends } = this;
    starts.push(at);
    ends.push(end);
    for (let i = starts.length - 1; i > slot; i -= 1) {
      starts[i] = starts[i - 1] as number;
      ends[i] = ends[i - 1] as number;
    }
    starts[slot] = at;
    ends[slot] = end;
    return at;
  }

  free(ptr: number): void {
    const { starts, ends } = this;
    const slot = starts.indexOf(ptr);
    if (slot < 0) throw new Error(`kernels: no block at ${ptr}`);
    for (let i = slot + 1; i < starts.length; i += 1) {
      starts[i - 1] = starts[i] as number;
      ends[i - 1] = ends[i] as number;
    }
    starts.pop();
    ends.pop();
  }
}

class WasmPin implements PinnedBytes {
  readonly impl = 'wasm';
  disposed = false;

  constructor(
    readonly owner: WasmKernels,
    readonly ptr: number,
    readonly byteLength: number,
    private readonly release: (pin: WasmPin) => void,
  ) {}

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.release(this);
  }
}

export class WasmKernels extends CheckedKernels {
  readonly impl: KernelImpl = 'wasm';
  private readonly exports: Exports;
  private readonly heap: Heap;
  /** Frees the block of a pin that was garbage collected without dispose(). */
  private readonly finalizer: FinalizationRegistry<number>;

  constructor(module: WasmModule) {
    super();
    this.exports = new WA.Instance(module, {}).exports as unknown as Exports;
    this.heap = new Heap(this.exports.memory, this.exports.heapBase());
    this.finalizer = new FinalizationRegistry((ptr) => this.heap.free(ptr));
  }

  /** Bytes of linear memory now (grows with the largest call and the pins). */
  get memoryBytes(): number {
    return this.exports.memory.buffer.byteLength;
  }

  pin(data: ArrayBufferView): PinnedBytes {
    const ptr = this.copyIn(data);
    const pin = new WasmPin(this, ptr, data.byteLength, (p) => {
      this.finalizer.unregister(p);
      this.heap.free(p.ptr);
    });
    this.finalizer.register(pin, ptr, pin);
    return pin;
  }

  protected runDotInteraction(
    z: Float32Array,
    batch: number,
    n: number,
    dim: number,
    out: Float32Array,
  ): void {
    this.scratch([z], out, ([zp], op) =>
      this.exports.dotInteraction(zp as number, op, batch, n, dim),
    );
  }

  protected runDotInteractionBackward(
    z: Float32Array,
    dy: Float32Array,
    batch: number,
    n: number,
    dim: number,
    out: Float32Array,
  ): void {
    this.scratch([z, dy], out, ([zp, dyp], op) =>
      this.exports.dotInteractionBackward(zp as number, dyp as number, op, batch, n, dim),
    );
  }

  protected runScore(
    kind: 'f32' | 'fp16' | 'int8',
    metric: Metric,
    query: Float32Array,
    rows: TableArg,
    rowBytes: number,
    ranges: Uint32Array,
    out: Float32Array,
  ): void {
    const e = this.exports;
    const heap = this.heap;
    // The table's bytes from the first range's row to the last one's end (a pin: in place).
    let first = Infinity;
    let end = 0;
    for (let i = 0; i < ranges.length; i += 2) {
      const start = ranges[i] as number;
      first = Math.min(first, start);
      end = Math.max(end, start + (ranges[i + 1] as number));
    }
    const dim = query.length;
    const int8Ip = kind === 'int8' && metric === 'ip';
    // Written out without the closures of withTable/scratch: an IVF search makes two of these
    // calls per query, and their garbage showed in its p99 (docs/benchmarks.md).
    const pinned = this.pinAddress(rows);
    const xp =
      pinned >= 0
        ? pinned + first * rowBytes
        : this.copyIn(rows as ArrayBufferView, first * rowBytes, (end - first) * rowBytes);
    let qp = -1;
    let op = -1;
    let rp = -1;
    let qi = -1;
    try {
      qp = this.copyIn(query, 0, query.byteLength);
      op = heap.alloc(out.byteLength);
      if (int8Ip) {
        rp = heap.alloc(ranges.length * 4);
        qi = heap.alloc(dim * 2);
        // One call for every range: the query is quantized once (assembly/int-dot.ts). The
        // pairs go to wasm as i32 starts relative to the first row.
        const relative = new Int32Array(e.memory.buffer, rp, ranges.length);
        for (let i = 0; i < ranges.length; i += 2) {
          relative[i] = (ranges[i] as number) - first;
          relative[i + 1] = ranges[i + 1] as number;
        }
        e.ipRowwiseInt8(qp, xp, rp, ranges.length / 2, dim, op, qi);
      } else {
        const kernel =
          kind === 'f32'
            ? metric === 'ip'
              ? e.ipF32
              : e.l2F32
            : kind === 'fp16'
              ? metric === 'ip'
                ? e.ipFp16
                : e.l2Fp16
              : e.l2RowwiseInt8;
        let o = op;
        for (let i = 0; i < ranges.length; i += 2) {
          const start = ranges[i] as number;
          const count = ranges[i + 1] as number;
          kernel(qp, xp + (start - first) * rowBytes, count, dim, o);
          o += count * 4;
        }
      }
      out.set(new Float32Array(e.memory.buffer, op, out.length));
    } finally {
      if (qi >= 0) heap.free(qi);
      if (rp >= 0) heap.free(rp);
      if (op >= 0) heap.free(op);
      if (qp >= 0) heap.free(qp);
      if (pinned < 0) heap.free(xp);
    }
  }

  protected runGather(
    kind: 'fp16' | 'int8' | 'int4',
    table: TableArg,
    _stride: number,
    dim: number,
    ids: Uint32Array,
    out: Float32Array,
  ): void {
    const e = this.exports;
    const kernel =
      kind === 'fp16' ? e.gatherFp16 : kind === 'int8' ? e.gatherRowwiseInt8 : e.gatherRowwiseInt4;
    this.withTable(table, 0, table.byteLength, (tp) =>
      this.scratch([ids], out, ([ip], op) => kernel(tp, ip as number, ids.length, dim, op)),
    );
  }

  protected runMatmul(
    a: Float32Array,
    b: TableArg,
    m: number,
    k: number,
    n: number,
    bias: TableArg | undefined,
    relu: boolean,
    out: Float32Array,
  ): void {
    // B and the bias are read where they are pinned (a layer's weights, reused by every call).
    this.withTable(b, 0, b.byteLength, (bp) => {
      const run = (biasp: number) =>
        this.scratch([a], out, ([ap], op) =>
          this.exports.matmul(ap as number, bp, biasp, op, m, k, n, relu ? 1 : 0),
        );
      if (bias === undefined) run(0);
      else this.withTable(bias, 0, bias.byteLength, run);
    });
  }

  protected runGroupedMatmul(
    a: TableArg,
    rows: Uint32Array,
    b: TableArg,
    groups: Uint32Array,
    k: number,
    n: number,
    bias: TableArg | undefined,
    relu: boolean,
    out: Float32Array,
  ): void {
    // A and B are read where they are pinned (TT cores: every call gathers from them).
    this.withTable(a, 0, a.byteLength, (ap) =>
      this.withTable(b, 0, b.byteLength, (bp) => {
        const run = (biasp: number) =>
          this.scratch([rows, groups], out, ([rp, gp], op) => {
            const matrix = this.heap.alloc(k * n * 4);
            try {
              this.exports.groupedMatmul(
                ap,
                rp as number,
                bp,
                gp as number,
                groups.length / 2,
                biasp,
                op,
                k,
                n,
                relu ? 1 : 0,
                matrix,
              );
            } finally {
              this.heap.free(matrix);
            }
          });
        if (bias === undefined) run(0);
        else this.withTable(bias, 0, bias.byteLength, run);
      }),
    );
  }

  protected runTopK(scores: Float32Array, k: number, out: TopKResult): void {
    const heap = this.heap;
    const sp = this.copyIn(scores);
    const ip = heap.alloc(k * 4);
    const vp = heap.alloc(k * 4);
    try {
      this.exports.topK(sp, scores.length, k, ip, vp);
      const buffer = this.exports.memory.buffer;
      out.indices.set(new Uint32Array(buffer, ip, k));
      out.scores.set(new Float32Array(buffer, vp, k));
    } finally {
      heap.free(sp);
      heap.free(ip);
      heap.free(vp);
    }
  }

  /**
   * Copies `inputs` into scratch blocks, gives their addresses and an output block of
   * out.length floats to `run`, then copies the output back into `out` and frees everything.
   */
  private scratch(
    inputs: ArrayBufferView[],
    out: Float32Array,
    run: (ptrs: number[], outPtr: number) => void,
  ): void {
    const heap = this.heap;
    const ptrs: number[] = [];
    let outPtr = -1;
    try {
      for (const input of inputs) ptrs.push(this.copyIn(input));
      outPtr = heap.alloc(out.byteLength);
      run(ptrs, outPtr);
      out.set(new Float32Array(this.exports.memory.buffer, outPtr, out.length));
    } finally {
      for (const p of ptrs) heap.free(p);
      if (outPtr >= 0) heap.free(outPtr);
    }
  }

  /** The address of bytes [offset, offset + bytes) of a table: its pin, or a scratch copy. */
  private withTable<R>(table: TableArg, offset: number, bytes: number, run: (ptr: number) => R): R {
    const pinned = this.pinAddress(table);
    if (pinned >= 0) return run(pinned + offset);
    const ptr = this.copyIn(table as ArrayBufferView, offset, bytes);
    try {
      return run(ptr);
    } finally {
      this.heap.free(ptr);
    }
  }

  /** A pinned table's address (checked: ours, not disposed); −1 for a typed array. */
  private pinAddress(table: TableArg): number {
    if (table instanceof WasmPin) {
      if (table.owner !== this) throw new Error('kernels: a table pinned by other kernels');
      if (table.disposed) throw new Error('kernels: this pinned table was disposed');
      return table.ptr;
    }
    if (!ArrayBuffer.isView(table))
      throw new TypeError(`kernels: a table pinned by the ${table.impl} kernels, used by wasm`);
    return -1;
  }

  /** A new block holding a copy of bytes [offset, offset + bytes) of `data` (default: all). */
  private copyIn(data: ArrayBufferView, offset = 0, bytes = data.byteLength - offset): number {
    const ptr = this.heap.alloc(bytes);
    new Uint8Array(this.exports.memory.buffer, ptr, bytes).set(
      new Uint8Array(data.buffer, data.byteOffset + offset, bytes),
    );
    return ptr;
  }
}
