// Reading and updating float32 tensors of the wasm backend in its own memory, without the fresh
// copy of dataSync(): a new multi-megabyte ArrayBuffer per read (allocation, page faults and a
// copy; measured here at 1-4 ms per read of a DLRM's 1.9 MB of gradients). Other backends fall
// back to dataSync() and assign().
//
// The views are taken right before use and never kept: any tfjs allocation may grow the wasm
// memory, which detaches every view of the old buffer.
import * as tf from '@tensorflow/tfjs';

interface WasmBackendInternals {
  wasm?: { HEAPU8?: Uint8Array };
  dataIdMap?: { get(dataId: object): { memoryOffset: number } | undefined };
}

function wasmInternals(): WasmBackendInternals | undefined {
  if (tf.getBackend() !== 'wasm') return undefined;
  const b = tf.backend() as unknown as WasmBackendInternals;
  return b.wasm?.HEAPU8 !== undefined && b.dataIdMap !== undefined ? b : undefined;
}

/** A float32 view of a wasm tensor's values in the backend's memory, else undefined. */
function heapView(t: tf.Tensor): Float32Array | undefined {
  const b = wasmInternals();
  const info = b?.dataIdMap?.get(t.dataId);
  const heap = b?.wasm?.HEAPU8;
  if (info === undefined || heap === undefined || t.dtype !== 'float32') return undefined;
  return new Float32Array(heap.buffer, info.memoryOffset, t.size);
}

/**
 * A float32 tensor's values: a view of wasm memory (valid until the next tfjs call), or
 * dataSync() on other backends (never to be written).
 */
export function valuesOf(t: tf.Tensor): Float32Array {
  return heapView(t) ?? (t.dataSync() as Float32Array);
}

/** Copies a float32 tensor's values into `out` at `offset` (no intermediate copy on wasm). */
export function readInto(t: tf.Tensor, out: Float32Array, offset = 0): void {
  out.set(valuesOf(t), offset);
}

/**
 * Runs `update(values, out)` from `variable`'s values into `scratch` (reused: no allocation per
 * call) and assigns `scratch` as a new tensor. Never in place: the wasm backend caches XNNPACK
 * operators with the weights packed, keyed by the tensor, so a weight changed in place would
 * keep multiplying with its old values. `update` must not call tfjs (the values may be a view
 * of wasm memory).
 */
export function updateVariable(
  variable: tf.Variable,
  scratch: Float32Array,
  update: (values: Float32Array, out: Float32Array) => void,
): void {
  update(valuesOf(variable), scratch);
  assignValues(variable, scratch);
}

/** Makes `values` the variable's new value (a new tensor; the caller may reuse `values`). */
export function assignValues(variable: tf.Variable, values: Float32Array): void {
  // wasm copies into its memory; the cpu backend keeps the array it is given: it gets a copy.
  const own = wasmInternals() === undefined ? values.slice() : values;
  tf.tidy(() => variable.assign(tf.tensor(own, variable.shape, 'float32')));
}
