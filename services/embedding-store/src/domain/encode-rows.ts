// Rows of a table in the requested wire encoding (docs/adr/0001): one bytes blob per table.
import { toHalf, type CompressedTable } from '@embpress/compression';
import { common } from '@embpress/proto';
import { InvalidArgumentError } from '@embpress/service-kit';

const { RowEncoding } = common;

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
