// Request validation helpers: each throws InvalidArgumentError naming the request field, so a
// client learns exactly what to fix (e.g. `tables[1].ids: must not be empty`).
import { common } from '@embpress/proto';
import { InvalidArgumentError } from './errors';

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;

/** A model, table or version name: 1-128 of [A-Za-z0-9_.-], not starting with a symbol. */
export function requireName(field: string, value: string): string {
  if (value === '') throw new InvalidArgumentError(field, 'is required');
  if (!NAME.test(value)) {
    throw new InvalidArgumentError(
      field,
      `must be 1-128 characters of [A-Za-z0-9_.-] starting with a letter or digit, got ${JSON.stringify(value.slice(0, 64))}`,
    );
  }
  return value;
}

/** Same as requireName, but empty means "not given". */
export function optionalName(field: string, value: string): string | undefined {
  return value === '' ? undefined : requireName(field, value);
}

export function requireCount(field: string, count: number, min: number, max: number): void {
  if (count < min)
    throw new InvalidArgumentError(
      field,
      min === 1 ? 'must not be empty' : `needs at least ${min} entries`,
    );
  if (count > max)
    throw new InvalidArgumentError(field, `has ${count} entries, more than the limit of ${max}`);
}

export function requireIntInRange(field: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new InvalidArgumentError(field, `must be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}

export function requireFinite(field: string, value: number): number {
  if (!Number.isFinite(value))
    throw new InvalidArgumentError(field, `must be a finite number, got ${value}`);
  return value;
}

/** An enum value that is one of `allowed` (ts-proto maps unknown wire values to -1). */
export function requireEnum<E extends number>(
  field: string,
  value: E,
  allowed: readonly E[],
  names: Record<number, string>,
): E {
  if (!allowed.includes(value)) {
    const known = allowed.map((v) => names[v] ?? String(v)).join(', ');
    throw new InvalidArgumentError(field, `must be one of ${known}, got ${names[value] ?? value}`);
  }
  return value;
}

export function requireText(field: string, value: string, maxLength: number): string {
  if (value.trim() === '') throw new InvalidArgumentError(field, 'is required');
  if (value.length > maxLength)
    throw new InvalidArgumentError(field, `is ${value.length} characters, more than ${maxLength}`);
  return value;
}

/** A block of float32 vectors: FLOAT32_LE, dim > 0, data exactly count x dim x 4 bytes, finite. */
export function requireFloat32Block(
  field: string,
  block: common.VectorBlock | undefined,
  limits: { maxCount: number; maxDim: number },
): Float32Array {
  if (block === undefined) throw new InvalidArgumentError(field, 'is required');
  if (block.encoding !== common.RowEncoding.ROW_ENCODING_FLOAT32_LE) {
    throw new InvalidArgumentError(
      `${field}.encoding`,
      `must be ROW_ENCODING_FLOAT32_LE, got ${common.rowEncodingToJSON(block.encoding)}`,
    );
  }
  requireIntInRange(`${field}.dim`, block.dim, 1, limits.maxDim);
  requireIntInRange(`${field}.count`, block.count, 1, limits.maxCount);
  const expected = block.count * block.dim * 4;
  if (block.data.length !== expected) {
    throw new InvalidArgumentError(
      `${field}.data`,
      `has ${block.data.length} bytes, expected count x dim x 4 = ${expected}`,
    );
  }
  // Copy into an aligned buffer: the wire bytes may sit at any offset of a larger buffer.
  const values = new Float32Array(block.count * block.dim);
  new Uint8Array(values.buffer).set(block.data);
  if (isBigEndianHost) throw new Error('big-endian hosts are not supported');
  for (let i = 0; i < values.length; i += 1) {
    if (!Number.isFinite(values[i]))
      throw new InvalidArgumentError(`${field}.data`, `value ${i} is not finite`);
  }
  return values;
}

const isBigEndianHost = new Uint8Array(new Uint16Array([1]).buffer)[0] === 0;
