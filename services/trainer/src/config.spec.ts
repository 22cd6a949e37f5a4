import { loadTrainerConfig } from './config';

describe('loadTrainerConfig', () => {
  it('defaults to one training at a time in var/models', () => {
    const c = loadTrainerConfig({});
    expect(c.registryRoot).toBe('var/models');
    expect(c.maxConcurrentJobs).toBe(1);
  });

  it('reads the registry root and the job limit, and refuses a bad limit', () => {
    const c = loadTrainerConfig({
      EMBPRESS_TRAINER_REGISTRY_ROOT: '/srv/models',
      EMBPRESS_TRAINER_MAX_CONCURRENT_JOBS: '3',
    });
    expect(c).toMatchObject({ registryRoot: '/srv/models', maxConcurrentJobs: 3 });
    expect(() => loadTrainerConfig({ EMBPRESS_TRAINER_MAX_CONCURRENT_JOBS: '0' })).toThrow(
      /EMBPRESS_TRAINER_MAX_CONCURRENT_JOBS/,
    );
  });
});
