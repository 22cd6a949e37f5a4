import { ModelCache } from './model-cache';
import type { ServedModel } from './served-model';

function fakeLoader() {
  const disposed: string[] = [];
  const loaded: string[] = [];
  const load = (model: string, version: string): ServedModel => {
    loaded.push(`${model}/${version}`);
    return {
      model,
      version,
      net: { dispose: () => disposed.push(`${model}/${version}`) },
    } as unknown as ServedModel;
  };
  return { load, disposed, loaded };
}

describe('ModelCache', () => {
  it('loads a version once and evicts the least recently used beyond its capacity', () => {
    const { load, disposed, loaded } = fakeLoader();
    const cache = new ModelCache(2, load);
    cache.acquire('m', 'v1').release();
    cache.acquire('m', 'v2').release();
    cache.acquire('m', 'v1').release(); // v1 is now the most recent
    cache.acquire('m', 'v3').release();
    expect(loaded).toEqual(['m/v1', 'm/v2', 'm/v3']);
    expect(disposed).toEqual(['m/v2']);
    expect(cache.size).toBe(2);
  });

  it('disposes an evicted version only after its last lease is released', () => {
    const { load, disposed } = fakeLoader();
    const cache = new ModelCache(1, load);
    const held = cache.acquire('m', 'v1');
    cache.acquire('m', 'v2').release();
    expect(disposed).toEqual([]);
    held.release();
    held.release(); // twice is harmless
    expect(disposed).toEqual(['m/v1']);
  });
});
