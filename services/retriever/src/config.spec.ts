import { ConfigError } from '@embpress/service-kit/config';
import { loadRetrieverConfig } from './config';

describe('loadRetrieverConfig', () => {
  it('has defaults for the registry, nprobe, version TTL and corpus cache', () => {
    const c = loadRetrieverConfig({});
    expect(c).toMatchObject({
      registryRoot: 'var/models',
      defaultNprobe: 0,
      versionTtlMs: 1000,
      corpusCacheSize: 4,
      maxK: 1000,
    });
    expect(c.shardMap).toBeUndefined();
  });

  it('reads the variables and refuses bad ones', () => {
    const c = loadRetrieverConfig({
      EMBPRESS_RETRIEVER_REGISTRY_ROOT: '/srv/models',
      EMBPRESS_RETRIEVER_DEFAULT_NPROBE: '16',
    });
    expect(c.registryRoot).toBe('/srv/models');
    expect(c.defaultNprobe).toBe(16);
    expect(() => loadRetrieverConfig({ EMBPRESS_RETRIEVER_DEFAULT_NPROBE: '-1' })).toThrow(
      ConfigError,
    );
    expect(() =>
      loadRetrieverConfig({ EMBPRESS_RETRIEVER_STORE_SHARD_MAP: '/nonexistent/map.json' }),
    ).toThrow();
  });
});
