// Rows of a table in the requested wire encoding (docs/adr/0001): one bytes blob per table.
import { toHalf, type CompressedTable } from '@embpress/compression';
import { common } from '@embpress/proto';
import { InvalidArgumentError } from '@embpress/service-kit';

const { RowEncoding } = common;

/** The wire decoder's ids as they are; ts-proto's number[] (direct calls in tests) copied once. */
export function uint32Ids(ids: ArrayLike<number>): Uint32Array {
  return ids instanceof Uint32Array ? ids : Uint32Array.from(ids);
}

/**
 * Bytes a lookup of `count` rows holds while it is answered, counted against the server's
 * in-flight byte bound before any row is decoded: the fp32 rows every encoding but CODES decodes
 * into, plus the fp16 copy; CODES is bounded by the fp32 size (codes are never wider).
 */
export function lookupBytes(dim: number, count: number, encoding: common.RowEncoding): number {
  const fp32 = count * dim * 4;
  return encoding === RowEncoding.ROW_ENCODING_FLOAT16_LE ? fp32 * 1.5 : fp32;
}

export function encodeRows(
  table: CompressedTable,
  tableName: string,
  ids: Uint32Array,
  encoding: common.RowEncoding,
): common.VectorBlock {
  const count = ids.length;
  const dim = table.dim;
  if (encoding === RowEncoding.ROW_ENCODING_CODES) {
    if (table.wire === undefined) {
      throw new InvalidArgumentError(
        'encoding',
        `table "${tableName}" (${table.spec}) has no compressed wire codes; ask for ROW_ENCODING_FLOAT32_LE or ROW_ENCODING_FLOAT16_LE`,
      );
    }
    const codes = table.wire.encode(ids);
    return {
      encoding,
      dim,
      count,
      data: Buffer.from(codes.buffer, codes.byteOffset, codes.byteLength),
      codec: table.wire.codec,
    };
  }
  const rows = new Float32Array(count * dim);
  table.lookup(ids, rows);
  if (encoding === RowEncoding.ROW_ENCODING_FLOAT16_LE) {
    const half = new Uint16Array(rows.length);
    for (let i = 0; i < rows.length; i += 1) half[i] = toHalf(rows[i] as number);
    return { encoding, dim, count, data: Buffer.from(half.buffer), codec: '' };
  }
  return {
    encoding: RowEncoding.ROW_ENCODING_FLOAT32_LE,
    dim,
    count,
    data: Buffer.from(rows.buffer),
    codec: '',
  };
}
