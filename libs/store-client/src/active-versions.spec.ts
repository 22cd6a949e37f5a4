import { NotFoundError } from '@embpress/service-kit';
import { ActiveVersions } from './active-versions';

describe('ActiveVersions', () => {
  it('reuses the active version for its TTL, then asks the store again', async () => {
    let now = 1000;
    let active = 'v1';
    let asked = 0;
    const versions = new ActiveVersions(
      500,
      async () => {
        asked += 1;
        return [active, active];
      },
      () => now,
    );
    expect(await versions.resolve('m', 0)).toBe('v1');
    active = 'v2';
    now += 499;
    expect(await versions.resolve('m', 0)).toBe('v1');
    now += 1;
    expect(await versions.resolve('m', 0)).toBe('v2');
    expect(asked).toBe(2);
    versions.forget('m');
    expect(versions.lastKnown('m')).toBeUndefined();
  });

  it('shares one question between concurrent requests and refuses a model without a version', async () => {
    let asked = 0;
    const versions = new ActiveVersions(1000, async (model) => {
      asked += 1;
      return model === 'none' ? [] : ['v1'];
    });
    await Promise.all([versions.resolve('m', 0), versions.resolve('m', 0)]);
    expect(asked).toBe(1);
    await expect(versions.resolve('none', 0)).rejects.toBeInstanceOf(NotFoundError);
  });

  it('does not cache while shards disagree (an activation rolling over them)', async () => {
    let asked = 0;
    const versions = new ActiveVersions(1000, async () => {
      asked += 1;
      return ['v1', 'v2'];
    });
    await versions.resolve('m', 0);
    await versions.resolve('m', 0);
    expect(asked).toBe(2);
    expect(versions.lastKnown('m')).toBe('v1');
  });
});
