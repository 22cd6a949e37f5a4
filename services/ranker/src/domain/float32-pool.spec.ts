import { Float32Pool } from './float32-pool';

describe('Float32Pool', () => {
  it('hands back a released array of the same length, and a new one otherwise', () => {
    const pool = new Float32Pool(2);
    const a = pool.acquire(8);
    const b = pool.acquire(8);
    expect(a).not.toBe(b); // both in use: two arrays
    pool.release(a);
    expect(pool.acquire(4)).not.toBe(a); // another length: a new array
    expect(pool.acquire(8)).toBe(a);
    expect(pool.acquire(8)).not.toBe(a); // taken again: not handed out twice
  });

  it('keeps at most `keep` free arrays', () => {
    const pool = new Float32Pool(2);
    const arrays = [pool.acquire(3), pool.acquire(3), pool.acquire(3)];
    arrays.forEach((x) => pool.release(x));
    const again = [pool.acquire(3), pool.acquire(3), pool.acquire(3)];
    expect(again.filter((x) => arrays.includes(x))).toHaveLength(2);
  });
});
