// Node 20's HTTP/2 client binds a new AsyncResource for every request it opens
// (ClientHttp2Session.request → `reqAsync.bind(...)`), and Node 20's AsyncResource#bind gives
// each bound function a deprecated `asyncResource` getter/setter (DEP0172) made of two new
// `util.deprecate` wrappers. V8 allocates such an own accessor pair in the old generation, so
// every gRPC call puts old objects in front of its young ones: until the next full collection
// each dead pair keeps its call's objects alive through every minor GC, and through the objects
// calls share, the calls after it. A load generator at 200 Ranks/s kept 2.5 MB alive per
// scavenge and paused ~10 ms each time, which its latencies then included (ADR 0021,
// docs/benchmarks.md "seventh round").
//
// `useLeanAsyncResourceBind` replaces AsyncResource#bind with the same function minus that
// deprecated property: the bound function still runs `fn` in the resource's async scope, with the
// same `this` and arguments, and has `fn`'s length. It does nothing on a Node whose bind has no
// such accessor (the property was deprecated in Node 20 for removal).
import { AsyncResource } from 'node:async_hooks';

let checked = false;

/** Whether this Node's AsyncResource#bind adds the deprecated `asyncResource` accessor. */
export function bindAddsAsyncResourceAccessor(): boolean {
  const bound = new AsyncResource('embpress-probe').bind(() => undefined);
  return Object.getOwnPropertyDescriptor(bound, 'asyncResource')?.get !== undefined;
}

type AnyFunction = (this: unknown, ...args: unknown[]) => unknown;

/** `fn` run in `resource`'s async scope with the caller's `this` and arguments. */
function inScope(resource: AsyncResource, fn: AnyFunction): AnyFunction {
  return function (this: unknown, ...args: unknown[]): unknown {
    return resource.runInAsyncScope(fn, this, ...args);
  };
}

/** AsyncResource#bind as Node 20 has it, without the deprecated `asyncResource` accessor. */
function leanBind(this: AsyncResource, fn: AnyFunction, thisArg?: unknown): AnyFunction {
  if (typeof fn !== 'function')
    throw new TypeError(`The "fn" argument must be of type function. Received ${typeof fn}`);
  const bound =
    thisArg === undefined ? inScope(this, fn) : this.runInAsyncScope.bind(this, fn, thisArg);
  Object.defineProperty(bound, 'length', { configurable: true, value: fn.length });
  return bound;
}

/** Installs the lean AsyncResource#bind once per process (idempotent). */
export function useLeanAsyncResourceBind(): void {
  if (checked) return;
  checked = true;
  if (!bindAddsAsyncResourceAccessor()) return;
  AsyncResource.prototype.bind = leanBind as typeof AsyncResource.prototype.bind;
}
