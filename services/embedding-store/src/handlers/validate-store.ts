// Validation shared by the store's RPCs.
import { common } from '@embpress/proto';
import { requireEnum } from '@embpress/service-kit';

const { RowEncoding } = common;

/** UNSPECIFIED means the proto3 default, FLOAT32_LE. */
export function requireRowEncoding(field: string, value: common.RowEncoding): common.RowEncoding {
  const allowed = [
    RowEncoding.ROW_ENCODING_UNSPECIFIED,
    RowEncoding.ROW_ENCODING_FLOAT32_LE,
    RowEncoding.ROW_ENCODING_FLOAT16_LE,
    RowEncoding.ROW_ENCODING_CODES,
  ];
  const encoding = requireEnum(field, value, allowed, RowEncoding);
  return encoding === RowEncoding.ROW_ENCODING_UNSPECIFIED
    ? RowEncoding.ROW_ENCODING_FLOAT32_LE
    : encoding;
}
