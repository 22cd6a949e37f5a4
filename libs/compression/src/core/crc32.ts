// CRC-32 (IEEE 802.3, the zlib/PNG polynomial). zlib's own (Node 20.15+, ~6x the portable
// loop: 0.86 vs 0.14 GiB/s on the dev machine, which made it most of a table's load time,
// docs/adr/0014) where the runtime has it; else the portable slicing-by-4 loop below.
import * as zlib from 'node:zlib';
const TABLES = (() => {
  const t = new Uint32Array(4 * 256);
  for (let i = 0; i < 256; i += 1) {
    let c = i;
    for (let k = 0; k < 8; k += 1) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[i] = c >>> 0;
  }
  for (let i = 0; i < 256; i += 1) {
    for (let s = 1; s < 4; s += 1) {
      const prev = t[(s - 1) * 256 + i] as number;
      t[s * 256 + i] = ((prev >>> 8) ^ (t[prev & 0xff] as number)) >>> 0;
    }
  }
  return t;
})();

export function crc32Portable(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  let i = 0;
  const n = bytes.length;
  for (; i + 4 <= n; i += 4) {
    crc ^=
      (bytes[i] as number) |
      ((bytes[i + 1] as number) << 8) |
      ((bytes[i + 2] as number) << 16) |
      ((bytes[i + 3] as number) << 24);
    crc =
      (TABLES[768 + (crc & 0xff)] as number) ^
      (TABLES[512 + ((crc >>> 8) & 0xff)] as number) ^
      (TABLES[256 + ((crc >>> 16) & 0xff)] as number) ^
      (TABLES[crc >>> 24] as number);
  }
  for (; i < n; i += 1) crc = (TABLES[(crc ^ (bytes[i] as number)) & 0xff] as number) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

const native = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

export const crc32: (bytes: Uint8Array) => number =
  native === undefined ? crc32Portable : (bytes) => native(bytes) >>> 0;
