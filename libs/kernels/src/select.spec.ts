import { createKernels, kernelImpl, kernels, resolveKernelImpl, wasmSimdSupported } from './index';
import type { WasmKernels } from './wasm';

describe('choosing the implementation', () => {
  it('auto is wasm on this Node (SIMD validates), scalar and wasm can be forced', () => {
    expect(wasmSimdSupported()).toBe(true);
    expect(resolveKernelImpl('auto')).toBe('wasm');
    expect(resolveKernelImpl('')).toBe('wasm');
    expect(resolveKernelImpl(undefined)).toBe(
      process.env['EMBPRESS_KERNELS'] === 'scalar' ? 'scalar' : 'wasm',
    );
    expect(resolveKernelImpl('scalar')).toBe('scalar');
    expect(resolveKernelImpl('wasm')).toBe('wasm');
    expect(() => resolveKernelImpl('simd')).toThrow(/must be auto, wasm or scalar, got 'simd'/);
  });

  it('EMBPRESS_KERNELS=scalar makes kernels() the scalar fallback, once per process', () => {
    const saved = process.env['EMBPRESS_KERNELS'];
    try {
      for (const [setting, impl] of [
        ['scalar', 'scalar'],
        ['wasm', 'wasm'],
        ['auto', 'wasm'],
      ] as const) {
        process.env['EMBPRESS_KERNELS'] = setting;
        jest.isolateModules(() => {
          const fresh = require('./index') as typeof import('./index');
          expect(fresh.kernelImpl()).toBe(impl);
          expect(fresh.kernels()).toBe(fresh.kernels()); // chosen once, kept
        });
      }
    } finally {
      if (saved === undefined) delete process.env['EMBPRESS_KERNELS'];
      else process.env['EMBPRESS_KERNELS'] = saved;
    }
    expect(kernels().impl).toBe(kernelImpl());
  });
});

describe('wasm memory', () => {
  it('grows for a large call, reuses freed blocks, and pins survive growth', () => {
    const k = createKernels('wasm') as WasmKernels;
    const small = Float32Array.of(1, 2, 3, 4);
    const pin = k.pin(small);
    const before = k.memoryBytes;
    const q = new Float32Array(4).fill(1);
    const big = new Float32Array(4 * 1_000_000).fill(0.5); // 16 MB: memory must grow
    expect(k.scoreF32('ip', q, big)[999_999]).toBe(2);
    const after = k.memoryBytes;
    expect(after).toBeGreaterThan(before + 16_000_000);
    expect(Array.from(k.scoreF32('ip', q, pin))).toEqual([10]); // still there after the growth
    k.scoreF32('ip', q, big);
    expect(k.memoryBytes).toBe(after); // the freed blocks were reused
    pin.dispose();
    pin.dispose(); // idempotent
    expect(() => k.scoreF32('ip', q, pin)).toThrow(/disposed/);
    const other = createKernels('wasm');
    const foreign = other.pin(small);
    expect(() => k.scoreF32('ip', q, foreign)).toThrow(/pinned by other kernels/);
  });

  it('a pin is a copy: later writes to the source do not show, in both implementations', () => {
    for (const impl of ['wasm', 'scalar'] as const) {
      const k = createKernels(impl);
      const rows = Float32Array.of(1, 1);
      const pin = k.pin(rows);
      rows[0] = 100;
      expect(Array.from(k.scoreF32('ip', Float32Array.of(1, 1), pin))).toEqual([2]);
    }
  });
});
