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
  it('asks again in the background in the second half of the TTL, so no call waits', async () => {
    let now = 1000;
    let active = 'v1';
    let asked = 0;
    let fail = false;
    const answers: (() => void)[] = [];
    const versions = new ActiveVersions(
      500,
      (): Promise<string[]> => {
        asked += 1;
        // Answers only when the test says so: a call that awaited it would hang.
        return new Promise((resolve, reject) =>
          answers.push(() => (fail ? reject(new Error('store down')) : resolve([active]))),
        );
      },
      () => now,
    );
    const first = versions.resolve('m', 0);
    answers.shift()?.();
    expect(await first).toBe('v1');
    now += 249; // first half: the cached version, nothing asked
    expect(await versions.resolve('m', 0)).toBe('v1');
    expect(asked).toBe(1);
    active = 'v2';
    now += 1; // second half: still v1 at once, one question in the background
    expect(await versions.resolve('m', 0)).toBe('v1');
    expect(await versions.resolve('m', 0)).toBe('v1');
    expect(asked).toBe(2);
    answers.shift()?.();
    await new Promise((r) => setImmediate(r));
    expect(await versions.resolve('m', 0)).toBe('v2'); // renewed for a full TTL from now
    now += 250; // a failed background question leaves the cached version in use
    fail = true;
    expect(await versions.resolve('m', 0)).toBe('v2');
    answers.shift()?.();
    await new Promise((r) => setImmediate(r));
    expect(versions.lastKnown('m')).toBe('v2');
    now += 250; // past the TTL: the call waits for the store again, and sees its error
    const late = versions.resolve('m', 0);
    answers.shift()?.();
    await expect(late).rejects.toThrow('store down');
    expect(asked).toBe(4);
  });
});
