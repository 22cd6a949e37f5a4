import { SpecError } from './errors';
import { frequencyGroups, groupSizes } from './frequency-groups';
import { Rng } from './rng';

const groupsOf = (counts: number[], G: number) =>
  Array.from(frequencyGroups(Uint32Array.from(counts), G));

describe('frequencyGroups', () => {
  it('cuts distinct counts into equal groups, group 0 the rarest', () => {
    // ids 0..5 with counts 6..1: sorted ascending by count the ids are 5,4,3,2,1,0.
    expect(groupsOf([6, 5, 4, 3, 2, 1], 3)).toEqual([2, 2, 1, 1, 0, 0]);
    expect(groupsOf([1, 2, 3, 4, 5, 6, 7], 1)).toEqual([0, 0, 0, 0, 0, 0, 0]);
  });

  it('never splits ids of equal count, and cuts at the boundary nearest the target', () => {
    // Sorted counts 1 1 1 2 2 2 2 3 3 3 (10 ids), G = 3. Group 0: target 10/3 = 3.33; the run of
    // 1s (3 ids) is shorter, boundaries 3 and 7: 3 is nearer → {1,1,1}. Group 1: 7 left, target
    // 3.5 → pos 6.5, the 2s run (4 ids, up to 7) is at least 3.5 long → {2,2,2,2}. Group 2: rest.
    const counts = [2, 3, 1, 2, 3, 1, 2, 3, 1, 2];
    const g = groupsOf(counts, 3);
    expect(g).toEqual(counts.map((c) => c - 1));
  });

  it('takes the upper boundary at equal distance', () => {
    // Sorted 1 1 2 2 2 2 3 3 (8 ids), G = 2: target 4 → pos 4; boundaries 2 and 6 are both 2
    // away: the upper one wins → group 0 = {1,1,2,2,2,2}.
    expect(groupsOf([1, 1, 2, 2, 2, 2, 3, 3], 2)).toEqual([0, 0, 0, 0, 0, 0, 1, 1]);
    // A boundary exactly at the target is taken: sorted 1 1 1 2 2 2, G = 2 → 3 | 3.
    expect(groupsOf([2, 1, 2, 1, 2, 1], 2)).toEqual([1, 0, 1, 0, 1, 0]);
  });

  it('a long run of the smallest count is a group of its own; later groups may be empty', () => {
    // 7 zeros and 3 others, G = 3: the zeros (7 ≥ 10/3) form group 0; then 3 ids for 2 groups:
    // target 1.5 → pos 8.5 → boundaries 8 (count 5|6) and 9 (6|7): 8.5 − 8 = 9 − 8.5 → upper (9).
    expect(groupsOf([0, 0, 0, 5, 0, 0, 6, 0, 7, 0], 3)).toEqual([0, 0, 0, 1, 0, 0, 1, 0, 2, 0]);
    // One distinct count: everything in group 0, the other groups empty.
    const g = frequencyGroups(Uint32Array.from([4, 4, 4, 4]), 6);
    expect(groupSizes(g, 6)).toEqual([4, 0, 0, 0, 0, 0]);
  });

  it('on power-law counts: equal counts share a group and groups are ordered by count', () => {
    const rng = new Rng(3);
    const counts = Uint32Array.from({ length: 5000 }, () =>
      Math.floor(1000 / (1 + rng.int(0, 5000))),
    );
    const g = frequencyGroups(counts, 6);
    const byCount = new Map<number, number>();
    let maxOfPrev = -1;
    for (let group = 0; group < 6; group += 1) {
      let min = Infinity;
      let max = -1;
      counts.forEach((c, i) => {
        if (g[i] !== group) return;
        min = Math.min(min, c);
        max = Math.max(max, c);
        const seen = byCount.get(c);
        if (seen !== undefined) expect(seen).toBe(group);
        byCount.set(c, group);
      });
      if (max >= 0) {
        expect(min).toBeGreaterThan(maxOfPrev);
        maxOfPrev = max;
      }
    }
    expect(groupSizes(g, 6).reduce((a, b) => a + b, 0)).toBe(5000);
  });

  it('refuses a group count outside [1, 255]', () => {
    expect(() => frequencyGroups(Uint32Array.of(1), 0)).toThrow(SpecError);
    expect(() => frequencyGroups(Uint32Array.of(1), 256)).toThrow(SpecError);
  });
});
