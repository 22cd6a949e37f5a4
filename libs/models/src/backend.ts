// Backend selection for the dense models (DESIGN.md §4, environment.md):
//  - wasm: the default. SIMD, single-threaded in Node; ~30x the cpu backend on matMul. Its .wasm
//    files ship in @tensorflow/tfjs-backend-wasm; we point the loader at them so it works offline.
//  - cpu: pure-JS fallback, always present.
//  - tensorflow: @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node (libtensorflow; the GPU path).
//    Optional: a user with internet installs it. We detect it with require.resolve and never crash
//    when it is absent or fails to load.
// 'auto' picks tensorflow when it loads, else wasm, else cpu, and says which (the trainer logs it).
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { setWasmPaths } from '@tensorflow/tfjs-backend-wasm';
import { BackendUnavailableError } from './errors';
import {
  registerWasmUnsortedSegmentSum,
  useExplicitTransposeMatMulGradient,
  useStockMatMulGradient,
} from './wasm-fixes';

export type BackendName = 'wasm' | 'cpu' | 'tensorflow';
export type BackendChoice = BackendName | 'auto';

export const BACKEND_CHOICES: readonly BackendChoice[] = ['auto', 'wasm', 'cpu', 'tensorflow'];

/** The tfjs-node packages that provide the 'tensorflow' backend, best first. */
export const TENSORFLOW_PACKAGES = ['@tensorflow/tfjs-node-gpu', '@tensorflow/tfjs-node'] as const;

export interface BackendAvailability {
  backend: BackendName;
  available: boolean;
  /** For tensorflow: the package that would provide it. */
  package?: string;
  /** Why it is not available. */
  reason?: string;
}

export interface BackendInfo {
  /** The backend now active in tfjs. */
  name: BackendName;
  /** What was asked for. */
  requested: BackendChoice;
  /** For tensorflow: the package loaded. */
  package?: string;
  /** Backends tried before this one, and why they were passed over ('auto'). */
  skipped: BackendAvailability[];
  /** True when the explicit-transpose BatchMatMul gradient is installed. */
  explicitTransposeGradient: boolean;
}

const TENSORFLOW_UNAVAILABLE =
  "backend 'tensorflow' needs @tensorflow/tfjs-node-gpu or @tensorflow/tfjs-node, and neither can " +
  'be required here (their install downloads libtensorflow; install one where that is possible, ' +
  'e.g. `npm install @tensorflow/tfjs-node@4.22.0`), or use --backend wasm';

/** Which tfjs-node package can be resolved from here, without loading it. */
export function resolveTensorflowPackage(): string | undefined {
  for (const name of TENSORFLOW_PACKAGES) {
    try {
      require.resolve(name);
      return name;
    } catch {
      // not installed: try the next one
    }
  }
  return undefined;
}

/** What each backend would need, without switching anything (tensorflow is only resolved). */
export function backendAvailability(): BackendAvailability[] {
  const pkg = resolveTensorflowPackage();
  return [
    pkg === undefined
      ? { backend: 'tensorflow', available: false, reason: TENSORFLOW_UNAVAILABLE }
      : { backend: 'tensorflow', available: true, package: pkg },
    { backend: 'wasm', available: true },
    { backend: 'cpu', available: true },
  ];
}

let wasmPathsSet = false;

/** Points the wasm loader at the .wasm files inside the installed package (no network). */
function setLocalWasmPaths(): void {
  if (wasmPathsSet) return;
  const file = require.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm');
  setWasmPaths(path.dirname(file) + path.sep);
  wasmPathsSet = true;
}

async function activate(name: BackendName): Promise<{ package?: string }> {
  if (name === 'tensorflow') {
    const pkg = resolveTensorflowPackage();
    if (pkg === undefined) throw new BackendUnavailableError('tensorflow', TENSORFLOW_UNAVAILABLE);
    try {
      // Loading the package registers the 'tensorflow' backend with tfjs-core.
      require(pkg);
    } catch (cause) {
      throw new BackendUnavailableError(
        'tensorflow',
        `backend 'tensorflow': ${pkg} is installed but failed to load: ${(cause as Error).message}`,
        { cause },
      );
    }
    await switchTo('tensorflow');
    // libtensorflow handles transpose flags natively: keep tfjs's own gradient.
    useStockMatMulGradient();
    return { package: pkg };
  }
  if (name === 'wasm') {
    setLocalWasmPaths();
    registerWasmUnsortedSegmentSum();
    await switchTo('wasm');
    useExplicitTransposeMatMulGradient();
    return {};
  }
  await switchTo('cpu');
  // Explicit transposes cost the cpu backend nothing measurable and keep results identical
  // to wasm's code path.
  useExplicitTransposeMatMulGradient();
  return {};
}

async function switchTo(name: BackendName): Promise<void> {
  let ok: boolean;
  try {
    ok = await tf.setBackend(name);
  } catch (cause) {
    throw new BackendUnavailableError(
      name,
      `backend '${name}' failed to start: ${(cause as Error).message}`,
      {
        cause,
      },
    );
  }
  if (!ok || tf.getBackend() !== name)
    throw new BackendUnavailableError(
      name,
      `backend '${name}' failed to start (tf.setBackend returned false)`,
    );
  // The cpu backend otherwise prints a "use tfjs-node" banner on first use in Node.
  tf.env().set('PROD', true);
}

/**
 * Selects and starts a tfjs backend. 'auto': tensorflow if it loads, else wasm, else cpu.
 * Throws BackendUnavailableError when an explicitly requested backend cannot start.
 */
export async function initBackend(choice: BackendChoice = 'auto'): Promise<BackendInfo> {
  if (!BACKEND_CHOICES.includes(choice))
    throw new BackendUnavailableError(
      String(choice),
      `unknown backend '${String(choice)}' (expected one of ${BACKEND_CHOICES.join(', ')})`,
    );
  if (choice !== 'auto') {
    const r = await activate(choice);
    return {
      name: choice,
      requested: choice,
      ...r,
      skipped: [],
      explicitTransposeGradient: usesExplicit(choice),
    };
  }
  const skipped: BackendAvailability[] = [];
  for (const name of ['tensorflow', 'wasm', 'cpu'] as const) {
    try {
      const r = await activate(name);
      return {
        name,
        requested: 'auto',
        ...r,
        skipped,
        explicitTransposeGradient: usesExplicit(name),
      };
    } catch (err) {
      skipped.push({ backend: name, available: false, reason: (err as Error).message });
    }
  }
  throw new BackendUnavailableError(
    'auto',
    `no tfjs backend could start: ${skipped.map((s) => s.reason).join('; ')}`,
  );
}

function usesExplicit(name: BackendName): boolean {
  return name !== 'tensorflow';
}

/** The backend tfjs is using now. */
export function currentBackend(): string {
  return tf.getBackend();
}
