// Frequency grouping of global ids into G groups (docs/methods/autosrh.md#frequency-groups): the
// ids sorted by ascending training count are cut into G consecutive groups of about equal size,
// group 0 the rarest. A cut only falls where the count changes, so ids of equal count never
// straddle two groups (groups may therefore be unequal, or empty when there are fewer distinct
// counts than groups).
import { SpecError } from './errors';

/**
 * Group of every id (length counts.length, values in [0, groups)). Per group g (G − g groups
 * left, R ids remaining from position `start` of the sorted order): the size target is R/(G − g);
 * if the run of ids with the current smallest count is at least that long it is the group,
 * otherwise the cut goes to the boundary (a position where the count changes, or the end) closest
 * to start + R/(G − g), the upper one at equal distance. The last group takes what is left.
 */
export function frequencyGroups(counts: Uint32Array, groups: number): Uint8Array {
  if (!(Number.isInteger(groups) && groups >= 1 && groups <= 255))
    throw new SpecError(`frequency groups: groups = ${groups} must be an integer in [1, 255]`);
  const n = counts.length;
  // Ascending count, ties by id (a deterministic order; ties never straddle a cut anyway).
  const order = Uint32Array.from({ length: n }, (_, i) => i).sort(
    (a, b) => (counts[a] as number) - (counts[b] as number) || a - b,
  );
  const sorted = Uint32Array.from(order, (id) => counts[id] as number);
  const isBoundary = (b: number) => b === n || sorted[b - 1] !== sorted[b];
  const group = new Uint8Array(n);
  let start = 0;
  for (let g = 0; g < groups && start < n; g += 1) {
    const left = groups - g;
    let end = n;
    if (left > 1) {
      const pos = start + (n - start) / left;
      let runEnd = start + 1;
      while (!isBoundary(runEnd)) runEnd += 1;
      if (runEnd - start >= pos - start) {
        end = runEnd;
      } else {
        // runEnd < pos is a boundary: the closest one at or below pos exists.
        let below = runEnd;
        let above = runEnd;
        while (above < pos) {
          above += 1;
          while (!isBoundary(above)) above += 1;
          if (above <= pos) below = above;
        }
        end = pos - below < above - pos ? below : above;
      }
    }
    for (let i = start; i < end; i += 1) group[order[i] as number] = g;
    start = end;
  }
  return group;
}

/** Number of ids in each group. */
export function groupSizes(group: Uint8Array, groups: number): number[] {
  const sizes = new Array<number>(groups).fill(0);
  for (let i = 0; i < group.length; i += 1) {
    const g = group[i] as number;
    sizes[g] = (sizes[g] as number) + 1;
  }
  return sizes;
}
