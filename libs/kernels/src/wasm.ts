// The WebAssembly implementation: src/kernels.wasm (built from assembly/ by `npm run
// kernels:build`, kept equal to a fresh build by wasm-binary.spec.ts), compiled once per process
// and instantiated once per WasmKernels. Its one linear memory is managed from here: a first-fit
// list of blocks above the module's own data; each call copies its inputs into scratch blocks,
// runs, copies the result out and frees them; pinned tables keep their block until disposed.
// Memory grows as needed and never shrinks (WebAssembly cannot), so large tables are pinned,
// not passed per call.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CheckedKernels, type RowRange, type TableArg } from './checked';
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
    this.starts.splice(slot, 0, at);
    this.ends.splice(slot, 0, end);
    return at;
  }

  free(ptr: number): void {
    const slot = this.starts.indexOf(ptr);
    if (slot < 0) throw new Error(`kernels: no block at ${ptr}`);
    this.starts.splice(slot, 1);
    this.ends.splice(slot, 1);
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
    ranges: readonly RowRange[],
    out: Float32Array,
  ): void {
    const e = this.exports;
    // The table's bytes from the first range's row to the last one's end (a pin: in place).
    let first = Infinity;
    let end = 0;
    for (const r of ranges) {
      first = Math.min(first, r.start);
      end = Math.max(end, r.start + r.count);
    }
    const dim = query.length;
    this.withTable(rows, first * rowBytes, (end - first) * rowBytes, (xp) =>
      this.scratch([query], out, ([qp], op) => {
        if (kind === 'int8' && metric === 'ip') {
          // One call for every range: the query is quantized once (assembly/int-dot.ts).
          const pairs = new Int32Array(ranges.length * 2);
          ranges.forEach((r, i) => {
            pairs[2 * i] = r.start - first;
            pairs[2 * i + 1] = r.count;
          });
          const rp = this.copyIn(pairs);
          const qi = this.heap.alloc(dim * 2);
          try {
            e.ipRowwiseInt8(qp as number, xp, rp, ranges.length, dim, op, qi);
          } finally {
            this.heap.free(qi);
            this.heap.free(rp);
          }
          return;
        }
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
        for (const r of ranges) {
          kernel(qp as number, xp + (r.start - first) * rowBytes, r.count, dim, o);
          o += r.count * 4;
        }
      }),
    );
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
    if (table instanceof WasmPin) {
      if (table.owner !== this) throw new Error('kernels: a table pinned by other kernels');
      if (table.disposed) throw new Error('kernels: this pinned table was disposed');
      return run(table.ptr + offset);
    }
    if (!ArrayBuffer.isView(table))
      throw new TypeError(`kernels: a table pinned by the ${table.impl} kernels, used by wasm`);
    const ptr = this.copyIn(new Uint8Array(table.buffer, table.byteOffset + offset, bytes));
    try {
      return run(ptr);
    } finally {
      this.heap.free(ptr);
    }
  }

  /** A new block holding a copy of `data`'s bytes. */
  private copyIn(data: ArrayBufferView): number {
    const ptr = this.heap.alloc(data.byteLength);
    new Uint8Array(this.exports.memory.buffer, ptr, data.byteLength).set(
      new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
    );
    return ptr;
  }
}
