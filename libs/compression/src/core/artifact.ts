// Artifact format v2 (docs/adr/0003): bytes in, bytes out; no file system here.
//
//   offset 0   magic "EMBPRESS" (8 bytes)
//          8   u16 format version (2), u16 flags (0: none is defined; any set bit is refused)
//         12   u32 header length H (bytes of UTF-8 JSON)
//         16   u32 CRC-32 of bytes 8..16 (version, flags, H) followed by the header JSON
//              (v1, still read: CRC-32 of the header JSON alone, flags must be 0)
//         20   header JSON: {method, spec, params, shape, sections: [{name, dtype, offset, length, crc32}]}
//              zero padding to a multiple of 64
//              sections, each at a 64-byte aligned offset from the start, little-endian, zero padded
//
// Readers check magic, version, header CRC, that every section lies inside the buffer, and every
// section's CRC before returning anything: no partial table is ever handed out.
import { crc32 } from './crc32';
import { ArtifactError } from './errors';
import type { TableShape } from './shape';

export const MAGIC = 'EMBPRESS';
export const FORMAT_VERSION = 2;
/** Versions this reader reads (v1: the header CRC did not cover version, flags and length). */
const READABLE_VERSIONS = [1, 2];
/** Flag bits a reader understands: none yet. A set bit means a format this reader cannot read. */
const KNOWN_FLAGS = 0;
const ALIGN = 64;
const PREFIX = 20;

export type DType = 'f32' | 'f64' | 'u8' | 'i8' | 'u16' | 'i16' | 'u32' | 'i32';
export type TypedArray =
  | Float32Array
  | Float64Array
  | Uint8Array
  | Int8Array
  | Uint16Array
  | Int16Array
  | Uint32Array
  | Int32Array;

const CTORS = {
  f32: Float32Array,
  f64: Float64Array,
  u8: Uint8Array,
  i8: Int8Array,
  u16: Uint16Array,
  i16: Int16Array,
  u32: Uint32Array,
  i32: Int32Array,
} as const;

export function dtypeOf(array: TypedArray): DType {
  if (array instanceof Float32Array) return 'f32';
  if (array instanceof Float64Array) return 'f64';
  if (array instanceof Uint8Array) return 'u8';
  if (array instanceof Int8Array) return 'i8';
  if (array instanceof Uint16Array) return 'u16';
  if (array instanceof Int16Array) return 'i16';
  if (array instanceof Uint32Array) return 'u32';
  return 'i32';
}

export type Params = Record<string, unknown>;

export interface ArtifactContent {
  /** Method id, e.g. "qr". */
  method: string;
  /** Canonical spec string, e.g. "qr(collisions=4,aggregator=mul)". */
  spec: string;
  /** Resolved parameters (JSON-serialisable). */
  params: Params;
  shape: TableShape;
  /** Named arrays, written in insertion order. */
  sections: ReadonlyMap<string, TypedArray>;
}

interface SectionEntry {
  name: string;
  dtype: DType;
  offset: number;
  length: number;
  crc32: number;
}

interface Header {
  /** Total artifact bytes: catches truncation inside trailing padding, and trailing junk. */
  length: number;
  method: string;
  spec: string;
  params: Params;
  shape: { fields: number[]; dim: number };
  sections: SectionEntry[];
}

const align = (n: number) => Math.ceil(n / ALIGN) * ALIGN;
const isLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function bytesOf(array: TypedArray): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

export function writeArtifact(content: ArtifactContent): Uint8Array {
  if (!isLittleEndian)
    throw new Error('artifacts are little-endian; big-endian hosts are not supported');
  const entries: SectionEntry[] = [];
  // Offsets depend on the header's length, which depends on the offsets' digits: iterate to a fixpoint.
  let headerJson = '';
  let total = 0;
  const checksums = [...content.sections.values()].map((array) => crc32(bytesOf(array)));
  for (let guess = 0; ; ) {
    entries.length = 0;
    let offset = guess;
    [...content.sections].forEach(([name, array], i) => {
      entries.push({
        name,
        dtype: dtypeOf(array),
        offset,
        length: array.length,
        crc32: checksums[i] as number,
      });
      offset = align(offset + array.byteLength);
    });
    total = offset;
    const header: Header = {
      length: total,
      method: content.method,
      spec: content.spec,
      params: content.params,
      shape: { fields: [...content.shape.fields], dim: content.shape.dim },
      sections: entries,
    };
    headerJson = JSON.stringify(header);
    const dataStart = align(PREFIX + new TextEncoder().encode(headerJson).length);
    if (dataStart === guess) break;
    guess = dataStart;
  }
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  const headerBytes = new TextEncoder().encode(headerJson);
  out.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint16(8, FORMAT_VERSION, true);
  view.setUint16(10, 0, true);
  view.setUint32(12, headerBytes.length, true);
  out.set(headerBytes, PREFIX);
  view.setUint32(16, headerChecksum(out, FORMAT_VERSION, headerBytes), true);
  let i = 0;
  for (const array of content.sections.values()) {
    out.set(bytesOf(array), (entries[i] as SectionEntry).offset);
    i += 1;
  }
  return out;
}

/** v2: CRC-32 of bytes 8..16 then the header JSON; v1: of the header JSON alone. */
function headerChecksum(bytes: Uint8Array, version: number, headerBytes: Uint8Array): number {
  if (version === 1) return crc32(headerBytes);
  const covered = new Uint8Array(8 + headerBytes.length);
  covered.set(bytes.subarray(8, 16), 0);
  covered.set(headerBytes, 8);
  return crc32(covered);
}

export interface ReadOptions {
  /** Skip section CRCs (only for bytes verified moments ago, e.g. a round trip in a test). */
  trustChecksums?: boolean;
}

export function readArtifact(bytes: Uint8Array, options: ReadOptions = {}): ArtifactContent {
  if (bytes.length < PREFIX)
    throw new ArtifactError(
      'truncated',
      `${bytes.length} bytes, shorter than the ${PREFIX}-byte prefix`,
    );
  const magic = new TextDecoder().decode(bytes.subarray(0, 8));
  if (magic !== MAGIC)
    throw new ArtifactError('bad-magic', `expected "${MAGIC}", got ${JSON.stringify(magic)}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(8, true);
  if (!READABLE_VERSIONS.includes(version))
    throw new ArtifactError(
      'unsupported-version',
      `format version ${version}; this reader knows ${READABLE_VERSIONS.join(' and ')}`,
    );
  const headerLength = view.getUint32(12, true);
  if (PREFIX + headerLength > bytes.length)
    throw new ArtifactError(
      'truncated',
      `header of ${headerLength} bytes does not fit in ${bytes.length} bytes`,
    );
  const headerBytes = bytes.subarray(PREFIX, PREFIX + headerLength);
  if (headerChecksum(bytes, version, headerBytes) !== view.getUint32(16, true))
    throw new ArtifactError('checksum', 'header checksum mismatch');
  const flags = view.getUint16(10, true);
  if ((flags & ~KNOWN_FLAGS) !== 0)
    throw new ArtifactError(
      'malformed',
      `unknown flag bits 0x${(flags & ~KNOWN_FLAGS).toString(16)} in the header (this reader knows none)`,
    );
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(headerBytes)) as Header;
  } catch (err) {
    throw new ArtifactError('malformed', `header is not JSON: ${(err as Error).message}`);
  }
  validateHeader(header);
  if (header.length > bytes.length)
    throw new ArtifactError(
      'truncated',
      `artifact has ${bytes.length} of its ${header.length} bytes`,
    );
  if (header.length < bytes.length)
    throw new ArtifactError(
      'malformed',
      `${bytes.length - header.length} unexpected bytes after the artifact`,
    );
  const sections = new Map<string, TypedArray>();
  for (const entry of header.sections) {
    const ctor = CTORS[entry.dtype];
    const byteLength = entry.length * ctor.BYTES_PER_ELEMENT;
    if (entry.offset % ALIGN !== 0 || entry.offset < PREFIX + headerLength)
      throw new ArtifactError(
        'malformed',
        `section "${entry.name}" at a bad offset ${entry.offset}`,
      );
    if (entry.offset + byteLength > bytes.length) {
      throw new ArtifactError(
        'truncated',
        `section "${entry.name}" needs bytes up to ${entry.offset + byteLength}, artifact has ${bytes.length}`,
      );
    }
    const raw = bytes.subarray(entry.offset, entry.offset + byteLength);
    if (options.trustChecksums !== true && crc32(raw) !== entry.crc32)
      throw new ArtifactError('checksum', `section "${entry.name}" checksum mismatch`);
    if (sections.has(entry.name))
      throw new ArtifactError('malformed', `section "${entry.name}" appears twice`);
    sections.set(entry.name, viewOrCopy(raw, ctor));
  }
  return {
    method: header.method,
    spec: header.spec,
    params: header.params,
    shape: header.shape,
    sections,
  };
}

/** A typed view on the artifact's bytes when aligned (zero copy), else an aligned copy. */
function viewOrCopy(raw: Uint8Array, ctor: (typeof CTORS)[DType]): TypedArray {
  const length = raw.byteLength / ctor.BYTES_PER_ELEMENT;
  if (raw.byteOffset % ctor.BYTES_PER_ELEMENT === 0)
    return new ctor(raw.buffer as ArrayBuffer, raw.byteOffset, length);
  const copy = new ctor(length);
  new Uint8Array(copy.buffer).set(raw);
  return copy;
}

function validateHeader(header: Header): void {
  const bad = (what: string) => {
    throw new ArtifactError('malformed', what);
  };
  if (typeof header !== 'object' || header === null) bad('header is not an object');
  if (!Number.isInteger(header.length)) bad('header needs the total length');
  if (typeof header.method !== 'string' || typeof header.spec !== 'string')
    bad('header needs method and spec strings');
  if (typeof header.params !== 'object' || header.params === null)
    bad('header needs a params object');
  const shape = header.shape;
  if (
    typeof shape !== 'object' ||
    shape === null ||
    !Array.isArray(shape.fields) ||
    !Number.isInteger(shape.dim)
  )
    bad('header needs shape {fields, dim}');
  if (!shape.fields.every((n) => Number.isInteger(n) && n > 0))
    bad('shape.fields must be positive integers');
  if (!Array.isArray(header.sections)) bad('header needs a sections array');
  for (const s of header.sections) {
    if (
      typeof s.name !== 'string' ||
      !(s.dtype in CTORS) ||
      !Number.isInteger(s.offset) ||
      !Number.isInteger(s.length) ||
      s.length < 0 ||
      !Number.isInteger(s.crc32)
    ) {
      bad(`bad section entry ${JSON.stringify(s).slice(0, 120)}`);
    }
  }
}

/** A named section of the expected type and length, or ArtifactError('malformed'). */
export function section<K extends DType>(
  content: ArtifactContent,
  name: string,
  dtype: K,
  length?: number,
): InstanceType<(typeof CTORS)[K]> {
  const array = content.sections.get(name);
  if (array === undefined)
    throw new ArtifactError('malformed', `${content.method}: missing section "${name}"`);
  if (dtypeOf(array) !== dtype)
    throw new ArtifactError(
      'malformed',
      `${content.method}: section "${name}" is ${dtypeOf(array)}, expected ${dtype}`,
    );
  if (length !== undefined && array.length !== length) {
    throw new ArtifactError(
      'malformed',
      `${content.method}: section "${name}" has ${array.length} values, expected ${length}`,
    );
  }
  return array as InstanceType<(typeof CTORS)[K]>;
}

/**
 * The params of a verified artifact, validated again with the method's schema: a header can pass
 * its checksum and still not be a valid spec of this method (written by a different build).
 */
export function artifactParams<P>(
  content: ArtifactContent,
  schema: { safeParse(v: unknown): { success: true; data: P } | { success: false } },
): P {
  const parsed = schema.safeParse(content.params);
  if (!parsed.success)
    throw new ArtifactError(
      'malformed',
      `${content.method}: bad params ${JSON.stringify(content.params).slice(0, 200)}`,
    );
  return parsed.data;
}
