// The complete mutable state of a trainable table (and of the sparse optimizer it updates
// through), captured by walking the object graph rather than through a per-method API.
//
// Why a walk: an exact resume needs everything a method keeps between steps — parameters, integer
// codes (int8, alpt), Adam moments in optimizer slots, the optimizer's global step, the
// stochastic-rounding generator's state, BatchNorm statistics (dhe) — and the methods expose only
// their differentiable parameters (`parameters()`). Every such value is an own field (a typed
// array, a number, a nested object), so a walk over own enumerable fields captures all of it, and
// restoring into a table freshly built from the same spec, shape and seed puts it back. The
// resume test of every trainable method (object-state.spec.ts) proves nothing is missed.
//
// The captured form is a JSON tree (primitives, arrays, objects tagged with their class) whose
// typed arrays are stored as named sections of an artifact-format file (checksummed).
import {
  readArtifact,
  writeArtifact,
  type TableShape,
  type TypedArray,
} from '@embpress/compression';
import { TrainError } from './train-errors';

type Node =
  | { t: 'prim'; v: string | number | boolean | null }
  | { t: 'num'; v: 'NaN' | 'Infinity' | '-Infinity' | '-0' }
  | { t: 'undef' }
  | { t: 'array'; items: Node[] }
  | { t: 'object'; cls: string; fields: Record<string, Node> }
  | { t: 'typed'; section: string }
  /** The same object met again (shared references): restored through its first path. */
  | { t: 'ref'; path: string };

export interface CapturedState {
  tree: Node;
  sections: Map<string, TypedArray>;
}

const TYPED = [
  Float32Array,
  Float64Array,
  Uint8Array,
  Int8Array,
  Uint16Array,
  Int16Array,
  Uint32Array,
  Int32Array,
] as const;

function isTyped(v: unknown): v is TypedArray {
  return TYPED.some((C) => v instanceof C);
}

function className(v: object): string {
  return (
    (Object.getPrototypeOf(v) as { constructor?: { name?: string } } | null)?.constructor?.name ??
    'null'
  );
}

function numberNode(v: number): Node {
  if (Number.isNaN(v)) return { t: 'num', v: 'NaN' };
  if (v === Infinity) return { t: 'num', v: 'Infinity' };
  if (v === -Infinity) return { t: 'num', v: '-Infinity' };
  if (Object.is(v, -0)) return { t: 'num', v: '-0' };
  return { t: 'prim', v };
}

/**
 * Every typed array, number and nested object reachable from `root`'s own fields. Typed arrays
 * are the live ones, not copies (a table's state can be gigabytes): encode the capture before
 * training continues.
 */
export function captureState(root: object): CapturedState {
  const sections = new Map<string, TypedArray>();
  const seen = new Map<object, string>();
  const visit = (v: unknown, path: string): Node => {
    if (v === undefined) return { t: 'undef' };
    if (v === null || typeof v === 'string' || typeof v === 'boolean') return { t: 'prim', v };
    if (typeof v === 'number') return numberNode(v);
    if (typeof v === 'function') return { t: 'undef' };
    if (typeof v !== 'object')
      throw new TrainError('unsupported', `state ${path}: cannot checkpoint a ${typeof v}`);
    const first = seen.get(v);
    if (first !== undefined) return { t: 'ref', path: first };
    seen.set(v, path);
    if (isTyped(v)) {
      sections.set(path, v);
      return { t: 'typed', section: path };
    }
    if (Array.isArray(v)) return { t: 'array', items: v.map((x, i) => visit(x, `${path}[${i}]`)) };
    if (v instanceof Map || v instanceof Set || ArrayBuffer.isView(v) || v instanceof ArrayBuffer)
      throw new TrainError(
        'unsupported',
        `state ${path}: a ${className(v)} cannot be checkpointed (own fields, arrays and typed arrays only)`,
      );
    const fields: Record<string, Node> = {};
    for (const [k, x] of Object.entries(v)) fields[k] = visit(x, `${path}.${k}`);
    return { t: 'object', cls: className(v), fields };
  };
  return { tree: visit(root, '$'), sections };
}

function mismatch(path: string, what: string): never {
  throw new TrainError(
    'bad-argument',
    `checkpoint state does not fit this table at ${path}: ${what} (was it written by another method, shape or build?)`,
  );
}

function primitiveOf(node: Node): unknown {
  if (node.t === 'prim') return node.v;
  if (node.t === 'undef') return undefined;
  if (node.t === 'num') return node.v === '-0' ? -0 : Number(node.v);
  return mismatch('?', 'not a primitive');
}

/**
 * Puts captured state back into `root`, an object built like the captured one (same class, spec,
 * shape and seed). Typed arrays of the same type and length are overwritten in place (other
 * fields may hold views of them); scratch arrays that changed size are replaced.
 */
export function restoreState(root: object, state: CapturedState): void {
  const put = (
    holder: Record<string, unknown> | unknown[],
    key: string | number,
    node: Node,
    path: string,
  ): void => {
    const live = (holder as Record<string | number, unknown>)[key];
    const set = (v: unknown) => {
      (holder as Record<string | number, unknown>)[key] = v;
    };
    switch (node.t) {
      case 'ref':
        return; // restored through its first path
      case 'prim':
      case 'num':
      case 'undef':
        if (typeof live === 'function') return;
        // Strings are identity (class kinds, specs, names): they must already agree.
        if (node.t === 'prim' && typeof node.v === 'string' && live !== node.v)
          mismatch(
            path,
            `${JSON.stringify(live)} here, ${JSON.stringify(node.v)} in the checkpoint`,
          );
        set(primitiveOf(node));
        return;
      case 'typed': {
        const saved = state.sections.get(node.section);
        if (saved === undefined) return mismatch(path, `section ${node.section} is missing`);
        if (isTyped(live) && className(live) === className(saved) && live.length === saved.length)
          live.set(saved as never);
        else set(saved.slice());
        return;
      }
      case 'array': {
        if (!Array.isArray(live)) {
          if (live !== undefined && live !== null) mismatch(path, 'an array in the checkpoint');
          set([]);
        }
        const arr = (holder as Record<string | number, unknown>)[key] as unknown[];
        arr.length = node.items.length;
        node.items.forEach((item, i) => put(arr, i, item, `${path}[${i}]`));
        return;
      }
      case 'object': {
        if (live === undefined || live === null) {
          if (node.cls !== 'Object')
            mismatch(path, `a ${node.cls} in the checkpoint, nothing here to restore it into`);
          set({});
        } else if (typeof live !== 'object' || className(live) !== node.cls) {
          mismatch(path, `a ${node.cls} in the checkpoint`);
        }
        const obj = (holder as Record<string | number, unknown>)[key] as Record<string, unknown>;
        for (const [k, child] of Object.entries(node.fields)) put(obj, k, child, `${path}.${k}`);
        return;
      }
    }
  };
  if (state.tree.t !== 'object') mismatch('$', 'the root is not an object');
  if (className(root) !== state.tree.cls) mismatch('$', `a ${state.tree.cls} in the checkpoint`);
  const holder = { $: root };
  put(holder, '$', state.tree, '$');
}

const STATE_METHOD = 'trainer-state';

/** The state as bytes: an artifact (checksummed sections) whose params hold the tree. */
export function encodeState(state: CapturedState, spec: string, shape: TableShape): Uint8Array {
  return writeArtifact({
    method: STATE_METHOD,
    spec,
    params: { tree: state.tree },
    shape,
    sections: state.sections,
  });
}

/** Verifies (every checksum) and decodes encodeState bytes; `spec` must match. */
export function decodeState(bytes: Uint8Array, spec: string): CapturedState {
  const content = readArtifact(bytes);
  if (content.method !== STATE_METHOD)
    throw new TrainError('bad-argument', `not a trainer state file (method "${content.method}")`);
  if (content.spec !== spec)
    throw new TrainError(
      'bad-argument',
      `the table state is of ${content.spec}, this run trains ${spec}`,
    );
  return { tree: content.params.tree as Node, sections: new Map(content.sections) };
}
