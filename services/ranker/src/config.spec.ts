import { ConfigError } from '@embpress/service-kit/config';
import { loadRankerConfig } from './config';

describe('ranker configuration', () => {
  it('defaults: the store registry root, UNAVAILABLE on a failed shard, wasm', () => {
    expect(loadRankerConfig({})).toMatchObject({
      registryRoot: 'var/models',
      degradedOnShardFailure: false,
      backend: 'wasm',
      modelCacheSize: 4,
      versionTtlMs: 1000,
    });
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
});
