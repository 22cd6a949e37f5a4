// Typed errors of the data library. A bad input names its file, line and field, so a user can
// open the file at the spot (`train.txt:1234: field I5: "abc" is not an integer`).

export type DataProblem =
  /** The file does not exist or is not a regular file. */
  | 'missing-file'
  /** The file holds no data rows (only a header, blank lines, or nothing). */
  | 'empty-file'
  /** A line that does not parse: wrong field count, bad number, bad label. */
  | 'malformed-line'
  /** A header that lacks a required column, or a CSV schema that is not valid. */
  | 'bad-schema'
  /** A preprocessed cache or dataset directory that is truncated, corrupt or of another format. */
  | 'corrupt-cache'
  /** A vocabulary JSON that does not validate. */
  | 'bad-vocabulary'
  /** A caller argument out of range (rows, batch size, split sizes...). */
  | 'bad-argument'
  /** The output exists and overwriting was not asked for. */
  | 'exists';

export class DataError extends Error {
  override readonly name = 'DataError';
  constructor(
    readonly problem: DataProblem,
    message: string,
    readonly location: { file?: string; line?: number; field?: string } = {},
  ) {
    super(message);
  }
}

/** `file:line: field F: detail`, the error shape of compilers and linters. */
export function malformedLine(
  file: string,
  line: number,
  detail: string,
  field?: string,
): DataError {
  const where = field === undefined ? '' : `field ${field}: `;
  return new DataError('malformed-line', `${file}:${line}: ${where}${detail}`, {
    file,
    line,
    ...(field === undefined ? {} : { field }),
  });
}
