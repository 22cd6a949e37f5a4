// The exported kernels: this entry file (asconfig.json) defines what the wasm exports, and the
// TypeScript loader (src/wasm.ts) binds them by name. Every pointer is a byte offset into this
// module's memory, which the TypeScript side lays out; nothing here allocates. The kernels live
// in one module per family; the scalar twins of these functions are in src/scalar.ts and must
// follow the same arithmetic order (README.md).

/** First free byte after the module's own data: the TypeScript heap starts here. */
export function heapBase(): usize {
  return __heap_base;
}

export { dotInteraction, dotInteractionBackward } from './interaction';
export { ipF32, l2F32, ipFp16, l2Fp16, ipRowwiseInt8, l2RowwiseInt8 } from './scores';
export { gatherRowwiseInt8, gatherRowwiseInt4, gatherFp16 } from './gather';
export { matmul } from './matmul';
export { groupedMatmul } from './grouped-matmul';
export { topK } from './topk';
