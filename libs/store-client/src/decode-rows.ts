// Client-side decoding of a VectorBlock into fp32 rows, whatever encoding the store sent:
// FLOAT32_LE, FLOAT16_LE, or the table's own codes (rowwise-int8/int4, fp16).
import { decodeHalfRows, decodeRowwise } from '@embpress/compression';
import { common } from '@embpress/proto';

const { RowEncoding } = common;

/**
 * Codecs whose wire codes this module decodes on the client (ask the store for
 * ROW_ENCODING_CODES of these: fewer bytes than fp32, decoded here).
 */
export const CLIENT_DECODED_CODECS: ReadonlySet<string> = new Set([
  'fp16',
  'rowwise-int8',
  'rowwise-int4',
]);

/** The rows of `block` as fp32 (count × dim) in `out` (allocated when not given). */
export function decodeRows(
  block: common.VectorBlock,
  out = new Float32Array(block.count * block.dim),
): Float32Array {
  const { count, dim, data } = block;
  if (out.length < count * dim)
    throw new RangeError(`decodeRows: out holds ${out.length} values, needs ${count * dim}`);
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  switch (block.encoding) {
    case RowEncoding.ROW_ENCODING_FLOAT32_LE: {
      if (bytes.length !== count * dim * 4)
        throw new RangeError(`decodeRows: ${bytes.length} bytes for ${count}×${dim} float32`);
      new Uint8Array(out.buffer, out.byteOffset, count * dim * 4).set(bytes);
      return out;
    }
    case RowEncoding.ROW_ENCODING_FLOAT16_LE:
      decodeHalfRows(bytes, count, dim, out);
      return out;
    case RowEncoding.ROW_ENCODING_CODES:
      return decodeCodes(block.codec, bytes, count, dim, out);
    default:
      throw new RangeError(`decodeRows: unknown encoding ${block.encoding}`);
  }
}

function decodeCodes(
  codec: string,
  bytes: Uint8Array,
  count: number,
  dim: number,
  out: Float32Array,
): Float32Array {
  if (codec === 'fp16') {
    decodeHalfRows(bytes, count, dim, out);
    return out;
  }
  if (codec === 'rowwise-int8' || codec === 'rowwise-int4') {
    decodeRowwise(bytes, count, dim, codec === 'rowwise-int8' ? 8 : 4, out);
    return out;
  }
  throw new RangeError(`decodeRows: no client-side decoder for codec "${codec}"`);
}
