// The lean AsyncResource#bind: the bound function keeps bind's behaviour (async scope, `this`,
// arguments, length) without the deprecated accessor pair (async-resource-bind.ts).
import { AsyncLocalStorage, AsyncResource, executionAsyncId } from 'node:async_hooks';
import { bindAddsAsyncResourceAccessor, useLeanAsyncResourceBind } from './async-resource-bind';

const nodeAddsAccessor = bindAddsAsyncResourceAccessor();
useLeanAsyncResourceBind();

describe('useLeanAsyncResourceBind', () => {
  it('removes the accessor Node 20 adds to every bound function', () => {
    if (process.versions.node.startsWith('20.')) expect(nodeAddsAccessor).toBe(true);
    const bound = new AsyncResource('t').bind(() => 1);
    expect(Object.getOwnPropertyDescriptor(bound, 'asyncResource')).toBeUndefined();
    expect(bindAddsAsyncResourceAccessor()).toBe(false);
  });

  it("runs the function in the resource's async scope with the caller's this and arguments", () => {
    const storage = new AsyncLocalStorage<string>();
    const resource = storage.run('at creation', () => new AsyncResource('t'));
    const bound = resource.bind(function (this: unknown, a: number, b: number) {
      return { store: storage.getStore(), id: executionAsyncId(), self: this, sum: a + b };
    });
    const self = { name: 'caller' };
    const seen = storage.run('at call', () => bound.call(self, 2, 3));
    expect(seen).toEqual({ store: 'at creation', id: resource.asyncId(), self, sum: 5 });
    expect(bound.length).toBe(2);
  });

  it('binds thisArg when given one (Node accepts it; its types do not say so)', () => {
    const self = { n: 4 };
    const resource = new AsyncResource('t');
    const bind = resource.bind as unknown as (
      fn: (this: { n: number }, k: number) => number,
      thisArg: unknown,
    ) => (k: number) => number;
    const bound = bind.call(
      resource,
      function (this: { n: number }, k: number) {
        return this.n * k;
      },
      self,
    );
    expect(bound(3)).toBe(12);
  });

  it('refuses what is not a function, as Node does', () => {
    expect(() => new AsyncResource('t').bind(1 as unknown as () => void)).toThrow(
      /The "fn" argument must be of type function/,
    );
  });
});
