// Index arrays (adapt's remap, dedup's block map) in the narrowest unsigned type that holds their
// values: bytes are the budget (docs/adr/0005), and an index costs 1, 2 or 4 bytes instead of the
// reference's int32 word (docs/methods/adapt.md, docs/methods/dedup.md).
import type { ArtifactContent } from '../core/artifact';
import { section } from '../core/artifact';
import { ArtifactError } from '../core/errors';

export type IndexArray = Uint8Array | Uint16Array | Uint32Array;

/** Bytes per entry of an index array whose values are all < `limit` (limit ≤ 2^32). */
export function indexBytes(limit: number): 1 | 2 | 4 {
  if (limit <= 0x100) return 1;
  if (limit <= 0x10000) return 2;
  return 4;
}

/** A zeroed index array of `length` entries for values < `limit`. */
export function indexArray(length: number, limit: number): IndexArray {
  const width = indexBytes(limit);
  if (width === 1) return new Uint8Array(length);
  if (width === 2) return new Uint16Array(length);
  return new Uint32Array(length);
}

/**
 * The artifact section `name` as an index array of the width `limit` implies, every value checked
 * to be < `limit` (a corrupt map must never read outside the table).
 */
export function indexSection(
  content: ArtifactContent,
  name: string,
  length: number,
  limit: number,
): IndexArray {
  const width = indexBytes(limit);
  const array =
    width === 1
      ? section(content, name, 'u8', length)
      : width === 2
        ? section(content, name, 'u16', length)
        : section(content, name, 'u32', length);
  for (let i = 0; i < array.length; i += 1)
    if ((array[i] as number) >= limit)
      throw new ArtifactError(
        'malformed',
        `${content.method}: ${name}[${i}] = ${array[i]} is not below ${limit}`,
      );
  return array;
}
