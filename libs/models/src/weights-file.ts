// Dense weights as bytes, for the model directory (the trainer writes them, the ranker loads
// them and predicts exactly what the trainer predicted). Layout, all little-endian:
//   0  magic "EMBPDNSW" (8 bytes)
//   8  u32 format version (1)
//  12  u32 header length H
//  16  u32 CRC-32 of the header bytes
//  20  header: UTF-8 JSON {format, config, tensors: [{name, shape, offset, count, crc32}], ...}
//      then zero padding to a multiple of 64
//      each tensor: `count` float32 values at its 64-aligned `offset`, CRC-32 over those bytes.
// Readers verify every checksum and size before anything is used; nothing is half-loaded.
import { parseModelConfig, type ModelConfig } from './config';
import { crc32 } from '@embpress/compression';
import { ModelConfigError, WeightsError } from './errors';
import { CtrModel, type CreateModelOptions, type WeightTensor } from './model';
import type { DenseOptimizerKind } from './optimizer';

export const WEIGHTS_MAGIC = 'EMBPDNSW';
export const WEIGHTS_FORMAT_VERSION = 1;
const PREFIX = 20;
const ALIGN = 64;

export interface WeightFile {
  config: ModelConfig;
  weights: WeightTensor[];
  /** Present in training checkpoints: the dense optimizer's state. */
  optimizer?: { kind: DenseOptimizerKind; step: number; slots: WeightTensor[] };
  /** Free-form JSON the caller wants to keep beside the weights. */
  meta?: Record<string, unknown>;
}

interface TensorEntry {
  name: string;
  shape: number[];
  offset: number;
  count: number;
  crc32: number;
}

interface Header {
  format: 'embpress-dense-weights';
  config: unknown;
  tensors: TensorEntry[];
  optimizer?: { kind: DenseOptimizerKind; step: number; slots: TensorEntry[] };
  meta?: Record<string, unknown>;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}

function floatBytes(values: Float32Array): Uint8Array {
  if (HOST_LITTLE_ENDIAN)
    return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
  const out = new Uint8Array(values.length * 4);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setFloat32(i * 4, v, true));
  return out;
}

/** Encodes weights (and optionally optimizer state) into one self-describing byte array. */
export function encodeWeightFile(file: WeightFile): Uint8Array {
  const config = parseModelConfig(file.config);
  const all = [...file.weights, ...(file.optimizer?.slots ?? [])];
  for (const t of all) {
    const n = t.shape.reduce((a, b) => a * b, 1);
    if (n !== t.values.length)
      throw new WeightsError(
        'malformed',
        `${t.name}: shape [${t.shape}] holds ${n} values, got ${t.values.length}`,
      );
  }
  // Offsets depend on the header length, which depends on the offsets' digits: settle by iteration.
  let dataStart = align(PREFIX + 2);
  for (;;) {
    let offset = dataStart;
    let end = dataStart;
    const place = (t: WeightTensor): TensorEntry => {
      const e = {
        name: t.name,
        shape: t.shape.slice(),
        offset,
        count: t.values.length,
        crc32: crc32(floatBytes(t.values)),
      };
      end = offset + t.values.length * 4;
      offset = align(end);
      return e;
    };
    const header: Header = {
      format: 'embpress-dense-weights',
      config,
      tensors: file.weights.map(place),
    };
    if (file.optimizer !== undefined)
      header.optimizer = {
        kind: file.optimizer.kind,
        step: file.optimizer.step,
        slots: file.optimizer.slots.map(place),
      };
    if (file.meta !== undefined) header.meta = file.meta;
    const json = new TextEncoder().encode(JSON.stringify(header));
    const needed = align(PREFIX + json.length);
    if (needed > dataStart) {
      dataStart = needed;
      continue;
    }
    // The file ends with the last tensor: every byte after the header is padding or checksummed.
    const out = new Uint8Array(end);
    out.set(new TextEncoder().encode(WEIGHTS_MAGIC), 0);
    const view = new DataView(out.buffer);
    view.setUint32(8, WEIGHTS_FORMAT_VERSION, true);
    view.setUint32(12, json.length, true);
    view.setUint32(16, crc32(json), true);
    out.set(json, PREFIX);
    const entries = [...header.tensors, ...(header.optimizer?.slots ?? [])];
    entries.forEach((e, i) => out.set(floatBytes((all[i] as WeightTensor).values), e.offset));
    return out;
  }
}

function readTensor(bytes: Uint8Array, e: TensorEntry, where: string): WeightTensor {
  const ok =
    typeof e?.name === 'string' &&
    Array.isArray(e.shape) &&
    e.shape.every((d) => Number.isInteger(d) && d >= 0) &&
    Number.isInteger(e.offset) &&
    Number.isInteger(e.count) &&
    e.offset >= 0 &&
    e.offset % 4 === 0 &&
    e.shape.reduce((a, b) => a * b, 1) === e.count;
  if (!ok)
    throw new WeightsError('malformed', `weights file: bad ${where} entry ${JSON.stringify(e)}`);
  const end = e.offset + e.count * 4;
  if (end > bytes.length)
    throw new WeightsError(
      'truncated',
      `weights file: ${e.name} ends at byte ${end}, file has ${bytes.length}`,
    );
  const raw = bytes.subarray(e.offset, end);
  if (crc32(raw) !== e.crc32)
    throw new WeightsError('checksum', `weights file: checksum mismatch in ${e.name}`);
  let values: Float32Array;
  // Copy: `raw` may be a view into a larger buffer (a Node Buffer from a pool, a file read).
  if (HOST_LITTLE_ENDIAN) values = new Float32Array(new Uint8Array(raw).buffer);
  else {
    values = new Float32Array(e.count);
    const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
    for (let i = 0; i < e.count; i += 1) values[i] = view.getFloat32(i * 4, true);
  }
  return { name: e.name, shape: e.shape.slice(), values };
}

/** Decodes and verifies a weight file (magic, version, header and tensor checksums, sizes). */
export function decodeWeightFile(bytes: Uint8Array): WeightFile {
  if (bytes.length < PREFIX)
    throw new WeightsError(
      'truncated',
      `weights file: ${bytes.length} bytes, shorter than its prefix`,
    );
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== WEIGHTS_MAGIC)
    throw new WeightsError(
      'bad-magic',
      'weights file: bad magic (not an embpress dense weights file)',
    );
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== WEIGHTS_FORMAT_VERSION)
    throw new WeightsError(
      'unsupported-version',
      `weights file: format version ${version}, this reader knows ${WEIGHTS_FORMAT_VERSION}`,
    );
  const headerLength = view.getUint32(12, true);
  if (PREFIX + headerLength > bytes.length)
    throw new WeightsError(
      'truncated',
      `weights file: header of ${headerLength} bytes runs past the end`,
    );
  const json = bytes.subarray(PREFIX, PREFIX + headerLength);
  if (crc32(json) !== view.getUint32(16, true))
    throw new WeightsError('checksum', 'weights file: header checksum mismatch');
  let header: Header;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(json)) as Header;
  } catch (cause) {
    throw new WeightsError(
      'malformed',
      `weights file: header is not JSON: ${(cause as Error).message}`,
    );
  }
  if (header?.format !== 'embpress-dense-weights' || !Array.isArray(header.tensors))
    throw new WeightsError('malformed', 'weights file: header lacks format/tensors');
  let config: ModelConfig;
  try {
    config = parseModelConfig(header.config);
  } catch (err) {
    if (err instanceof ModelConfigError)
      throw new WeightsError('malformed', `weights file: ${err.message}`);
    throw err;
  }
  const file: WeightFile = {
    config,
    weights: header.tensors.map((e) => readTensor(bytes, e, 'tensor')),
  };
  if (header.optimizer !== undefined) {
    const o = header.optimizer;
    if (!Array.isArray(o.slots) || !Number.isInteger(o.step))
      throw new WeightsError('malformed', 'weights file: bad optimizer section');
    file.optimizer = {
      kind: o.kind,
      step: o.step,
      slots: o.slots.map((e) => readTensor(bytes, e, 'optimizer slot')),
    };
  }
  if (header.meta !== undefined) file.meta = header.meta;
  const entries = [...header.tensors, ...(header.optimizer?.slots ?? [])];
  const end = entries.reduce(
    (m, e) => Math.max(m, e.offset + e.count * 4),
    align(PREFIX + headerLength),
  );
  if (bytes.length !== end && entries.length > 0)
    throw new WeightsError(
      'malformed',
      `weights file: ${bytes.length} bytes, the header describes ${end}`,
    );
  return file;
}

/** The model's weights (and, for checkpoints, its optimizer state) as bytes. */
export function saveModel(
  model: CtrModel,
  options: { includeOptimizer?: boolean; meta?: Record<string, unknown> } = {},
): Uint8Array {
  const file: WeightFile = { config: model.config, weights: model.exportWeights() };
  if (options.includeOptimizer === true) {
    const state = model.exportOptimizerState();
    file.optimizer = { kind: model.optimizerKind, step: state.step, slots: state.slots };
  }
  if (options.meta !== undefined) file.meta = options.meta;
  return encodeWeightFile(file);
}

/**
 * Rebuilds a model from saveModel bytes: config and weights from the file; optimizer state too
 * when the file has it and `options.optimizer` (or the default) is of the same kind.
 */
export function loadModel(bytes: Uint8Array, options: CreateModelOptions = {}): CtrModel {
  const file = decodeWeightFile(bytes);
  const model = new CtrModel(file.config, options);
  try {
    model.importWeights(file.weights);
    if (file.optimizer !== undefined && file.optimizer.kind === model.optimizerKind)
      model.importOptimizerState(file.optimizer);
  } catch (err) {
    model.dispose();
    throw err;
  }
  return model;
}
