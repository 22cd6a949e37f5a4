import { availableCores, ConfigError } from '@embpress/service-kit/config';
import { availableParallelism } from 'node:os';
import { loadRankerConfig } from './config';

describe('ranker configuration', () => {
  it('defaults: the store registry root, UNAVAILABLE on a failed shard, wasm', () => {
    expect(loadRankerConfig({})).toMatchObject({
      registryRoot: 'var/models',
      degradedOnShardFailure: false,
      backend: 'wasm',
      modelCacheSize: 4,
      versionTtlMs: 1000,
      rowCacheBytes: 64 * 1024 * 1024,
    });
  });

  it('reads the hot-row cache size in bytes: 0 turns it off, a bad value is named', () => {
    expect(loadRankerConfig({ EMBPRESS_RANKER_ROW_CACHE_BYTES: '0' }).rowCacheBytes).toBe(0);
    expect(loadRankerConfig({ EMBPRESS_RANKER_ROW_CACHE_BYTES: ' 1048576 ' }).rowCacheBytes).toBe(
      1_048_576,
    );
    expect(loadRankerConfig({ EMBPRESS_RANKER_ROW_CACHE_BYTES: '' }).rowCacheBytes).toBe(
      64 * 1024 * 1024,
    );
    for (const bad of ['-1', '1.5', '64MiB', 'off', String(2 ** 32 + 1)])
      expect(() => loadRankerConfig({ EMBPRESS_RANKER_ROW_CACHE_BYTES: bad })).toThrow(
        /EMBPRESS_RANKER_ROW_CACHE_BYTES.*expected a number of bytes from 0 \(off\) to 4294967296/,
      );
  });

  it('reads the ranker variables and names a bad one', () => {
    expect(
      loadRankerConfig({
        EMBPRESS_RANKER_REGISTRY_ROOT: '/models',
        EMBPRESS_RANKER_DEGRADED_ON_SHARD_FAILURE: 'true',
        EMBPRESS_RANKER_BACKEND: 'cpu',
      }),
    ).toMatchObject({ registryRoot: '/models', degradedOnShardFailure: true, backend: 'cpu' });
    expect(() => loadRankerConfig({ EMBPRESS_RANKER_DEGRADED_ON_SHARD_FAILURE: 'yes' })).toThrow(
      ConfigError,
    );
    expect(() => loadRankerConfig({ EMBPRESS_RANKER_BACKEND: 'gpu' })).toThrow(
      /EMBPRESS_RANKER_BACKEND/,
    );
  });

  it('defaults workers to the cores available, capped by a container CPU limit', () => {
    const files = (entries: Record<string, string>) => (file: string) => {
      const found = entries[file];
      if (found === undefined) throw new Error(`ENOENT ${file}`);
      return found;
    };
    const cores = availableParallelism();
    expect(availableCores(files({ '/sys/fs/cgroup/cpu.max': 'max 100000\n' }))).toBe(cores);
    expect(availableCores(files({ '/sys/fs/cgroup/cpu.max': '50000 100000\n' }))).toBe(1);
    expect(availableCores(files({ '/sys/fs/cgroup/cpu.max': `${cores * 300000} 100000` }))).toBe(
      cores,
    );
    expect(
      availableCores(
        files({
          '/sys/fs/cgroup/cpu/cpu.cfs_quota_us': '100000',
          '/sys/fs/cgroup/cpu/cpu.cfs_period_us': '100000',
        }),
      ),
    ).toBe(1);
    expect(availableCores(files({}))).toBe(cores);
    expect(loadRankerConfig({ EMBPRESS_RANKER_WORKERS: '3' }).workers).toBe(3);
    expect(() => loadRankerConfig({ EMBPRESS_RANKER_WORKERS: '0' })).toThrow(/WORKERS/);
  });
});
