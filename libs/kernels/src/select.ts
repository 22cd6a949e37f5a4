// Which implementation the process uses: EMBPRESS_KERNELS = auto (default: wasm when this engine
// validates the SIMD module, else scalar), wasm (an error where it is not supported) or scalar.
import { ScalarKernels } from './scalar';
import type { KernelImpl, Kernels } from './types';
import { WasmKernels, wasmModule } from './wasm';

export type KernelSetting = KernelImpl | 'auto';

/** True when this engine accepts the kernels' WebAssembly module (128-bit SIMD). */
export function wasmSimdSupported(): boolean {
  return wasmModule() !== null;
}

/** The implementation a setting resolves to (the environment variable's when not given). */
export function resolveKernelImpl(
  setting: string | undefined = process.env['EMBPRESS_KERNELS'],
): KernelImpl {
  const value = setting === undefined || setting === '' ? 'auto' : setting;
  if (value === 'scalar') return 'scalar';
  if (value === 'wasm') {
    if (!wasmSimdSupported())
      throw new Error('EMBPRESS_KERNELS=wasm, but this engine rejects WebAssembly SIMD');
    return 'wasm';
  }
  if (value === 'auto') return wasmSimdSupported() ? 'wasm' : 'scalar';
  throw new Error(`EMBPRESS_KERNELS must be auto, wasm or scalar, got '${value}'`);
}

/** A new, independent instance (its own wasm memory): for tests and benchmarks. */
export function createKernels(impl: KernelImpl): Kernels {
  if (impl === 'scalar') return new ScalarKernels();
  const module = wasmModule();
  if (module === null) throw new Error('kernels: this engine rejects WebAssembly SIMD');
  return new WasmKernels(module);
}

let active: Kernels | undefined;

/**
 * The process's kernels, chosen on first call from EMBPRESS_KERNELS and kept: every later call
 * returns the same instance (pins made with it stay valid).
 */
export function kernels(): Kernels {
  active ??= createKernels(resolveKernelImpl());
  return active;
}

/** Which implementation kernels() runs. */
export function kernelImpl(): KernelImpl {
  return kernels().impl;
}
