// A value → id map looked up by a value's UTF-8 bytes, so that the categorical values of a
// decoded Rank request (wire/rank-request-decoder.ts keeps them as byte ranges of the message)
// are mapped without making a JS string of each. Built once per served version, per field.
//
// Layout: the keys' bytes back to back in one Uint8Array, their [start, end) and ids in typed
// arrays, and an open-addressing table (linear probing, load <= 1/2) of key numbers + 1. A lookup
// hashes the bytes (FNV-1a), then compares length and bytes at each occupied bucket: no
// allocation, a few cache lines per value.
//
// Only well-formed strings are indexed: a decoded string is always well-formed, so a key with a
// lone surrogate (whose UTF-8 encoding is U+FFFD's) can never equal one, and indexing it would
// make bytes that decode to U+FFFD find it.

const encoder = new TextEncoder();
/** A lone surrogate (a paired one is one code point under the u flag). */
const LONE_SURROGATE = /\p{Cs}/u;

function fnv1a(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i += 1) h = Math.imul(h ^ (bytes[i] as number), 0x01000193);
  return h >>> 0;
}

export class Utf8Index {
  private readonly keys: Uint8Array;
  /** Per key: [start, end, id] (one cache line for all three). */
  private readonly records: Uint32Array;
  /** Per bucket: [the key's hash, key number + 1] (0 = empty); the hash spares most compares. */
  private readonly table: Uint32Array;
  private readonly mask: number;

  /** `entries`: (value, id) pairs; a value given twice keeps its first id. */
  constructor(entries: Iterable<readonly [string, number]>) {
    const encoded: Uint8Array[] = [];
    const ids: number[] = [];
    for (const [value, id] of entries) {
      if (LONE_SURROGATE.test(value)) continue;
      encoded.push(encoder.encode(value));
      ids.push(id);
    }
    const total = encoded.reduce((sum, e) => sum + e.length, 0);
    this.keys = new Uint8Array(total);
    this.records = new Uint32Array(encoded.length * 3);
    let size = 16;
    while (size < encoded.length * 2) size *= 2;
    this.table = new Uint32Array(size * 2);
    this.mask = size - 1;
    let at = 0;
    encoded.forEach((bytes, k) => {
      this.keys.set(bytes, at);
      this.records[k * 3] = at;
      this.records[k * 3 + 1] = at + bytes.length;
      this.records[k * 3 + 2] = ids[k] as number;
      at += bytes.length;
      // One hash and one probe per key; a value seen before keeps its first id.
      const h = fnv1a(this.keys, at - bytes.length, at);
      const b = this.bucket(this.keys, at - bytes.length, at, h);
      if (this.table[2 * b + 1] === 0) {
        this.table[2 * b] = h;
        this.table[2 * b + 1] = k + 1;
      }
    });
  }

  /** The id of the value whose UTF-8 bytes are bytes[start, end), or -1. */
  get(bytes: Uint8Array, start: number, end: number): number {
    const entry = this.table[2 * this.bucket(bytes, start, end, fnv1a(bytes, start, end)) + 1];
    return entry === 0 ? -1 : (this.records[((entry as number) - 1) * 3 + 2] as number);
  }

  /** The bucket holding bytes[start, end) (hash `h`), or the empty bucket where it would go. */
  private bucket(bytes: Uint8Array, start: number, end: number, h: number): number {
    const len = end - start;
    const { keys, records, table, mask } = this;
    for (let b = h & mask; ; b = (b + 1) & mask) {
      const entry = table[2 * b + 1] as number;
      if (entry === 0) return b;
      if (table[2 * b] !== h) continue;
      const r = (entry - 1) * 3;
      const ks = records[r] as number;
      if ((records[r + 1] as number) - ks !== len) continue;
      let i = 0;
      while (i < len && keys[ks + i] === bytes[start + i]) i += 1;
      if (i === len) return b;
    }
  }
}
