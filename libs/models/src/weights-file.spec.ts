import { initBackend } from './backend';
import type { ModelConfigInput } from './config';
import { WeightsError } from './errors';
import { createModel, type CtrModel } from './model';
import { mulberry32 } from './rng';
import {
  WEIGHTS_MAGIC,
  decodeWeightFile,
  encodeWeightFile,
  loadModel,
  saveModel,
} from './weights-file';

beforeAll(async () => {
  await initBackend('wasm');
});

const CONFIGS: ModelConfigInput[] = [
  { kind: 'dlrm', numDense: 3, numFields: 3, dim: 4, bottom: [8], top: [8, 4] },
  { kind: 'wdl', numDense: 0, numFields: 3, dim: 4, deep: [8] },
  { kind: 'dcn', numDense: 2, numFields: 3, dim: 4, deep: [8, 4] },
  { kind: 'deepfm', numDense: 2, numFields: 3, dim: 4, deep: [8] },
];

function data(model: CtrModel, B: number, seed: number) {
  const { numDense, numFields, dim } = model.config;
  const rand = mulberry32(seed);
  return {
    dense: Float32Array.from({ length: B * numDense }, () => rand()),
    rows: Float32Array.from({ length: B * numFields * dim }, () => rand() - 0.5),
    labels: Float32Array.from({ length: B }, () => (rand() < 0.5 ? 1 : 0)),
  };
}

function bits(a: Float32Array): string {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).toString('hex');
}

describe.each(CONFIGS.map((c) => [c.kind, c] as const))('%s weights', (_kind, config) => {
  it('round-trips through bytes with bit-identical predictions', () => {
    const trained = createModel(config, { seed: 3, optimizer: { kind: 'adam', lr: 1e-2 } });
    const { dense, rows, labels } = data(trained, 16, 1);
    for (let i = 0; i < 5; i += 1) trained.step(dense, rows, labels);
    const bytes = saveModel(trained, { meta: { note: 'test' } });
    const loaded = loadModel(bytes);
    expect(loaded.config).toEqual(trained.config);
    expect(bits(loaded.predict(dense, rows))).toBe(bits(trained.predict(dense, rows)));
    expect(bits(loaded.predictLogits(dense, rows))).toBe(bits(trained.predictLogits(dense, rows)));
    expect(decodeWeightFile(bytes).meta).toEqual({ note: 'test' });

    // exportWeights/importWeights into a model of another seed gives the same predictions too.
    const other = createModel(config, { seed: 99 });
    other.importWeights(trained.exportWeights());
    expect(bits(other.predict(dense, rows))).toBe(bits(trained.predict(dense, rows)));
    [trained, loaded, other].forEach((m) => m.dispose());
  });

  it('resumes training exactly when the optimizer state travels along', () => {
    const a = createModel(config, { seed: 3, optimizer: { kind: 'adam', lr: 1e-2 } });
    const { dense, rows, labels } = data(a, 16, 2);
    for (let i = 0; i < 3; i += 1) a.step(dense, rows, labels);
    const b = loadModel(saveModel(a, { includeOptimizer: true }), {
      optimizer: { kind: 'adam', lr: 1e-2 },
    });
    expect(b.steps).toBe(3);
    a.step(dense, rows, labels);
    b.step(dense, rows, labels);
    expect(b.exportWeights()).toEqual(a.exportWeights());
    [a, b].forEach((m) => m.dispose());
  });
});

function header(bytes: Uint8Array): { tensors: { offset: number }[] } {
  const length = new DataView(bytes.buffer, bytes.byteOffset).getUint32(12, true);
  return JSON.parse(new TextDecoder().decode(bytes.subarray(20, 20 + length))) as {
    tensors: { offset: number }[];
  };
}

describe('weight file integrity', () => {
  it('loads from a view into a larger buffer (a Node Buffer from a file read)', () => {
    const model = createModel(CONFIGS[0] as (typeof CONFIGS)[number], { seed: 3 });
    const bytes = saveModel(model);
    const pool = Buffer.alloc(bytes.length + 24);
    pool.set(bytes, 8);
    const view = pool.subarray(8, 8 + bytes.length);
    expect(() => loadModel(view)).not.toThrow();
  });

  const model = () => createModel(CONFIGS[0] as ModelConfigInput, { seed: 1 });

  it('starts with the magic and refuses other files', () => {
    const m = model();
    const bytes = saveModel(m);
    expect(new TextDecoder().decode(bytes.subarray(0, 8))).toBe(WEIGHTS_MAGIC);
    const bad = bytes.slice();
    bad[0] = 0x58;
    expect(() => decodeWeightFile(bad)).toThrow(expect.objectContaining({ problem: 'bad-magic' }));
    m.dispose();
  });

  it('detects a flipped bit in a tensor, in the header, and truncation', () => {
    const m = model();
    const bytes = saveModel(m);
    // a bit of every tensor in turn
    for (const { offset } of header(bytes).tensors) {
      const tensorFlip = bytes.slice();
      tensorFlip[offset + 1] = (tensorFlip[offset + 1] as number) ^ 0x10;
      expect(() => loadModel(tensorFlip)).toThrow(expect.objectContaining({ problem: 'checksum' }));
    }
    const headerFlip = bytes.slice();
    headerFlip[30] = (headerFlip[30] as number) ^ 0x01;
    expect(() => decodeWeightFile(headerFlip)).toThrow(
      expect.objectContaining({ problem: 'checksum' }),
    );
    expect(() => decodeWeightFile(bytes.subarray(0, bytes.length - 8))).toThrow(
      expect.objectContaining({ problem: 'truncated' }),
    );
    expect(() => decodeWeightFile(bytes.subarray(0, 10))).toThrow(WeightsError);
    const longer = new Uint8Array(bytes.length + 4);
    longer.set(bytes);
    expect(() => decodeWeightFile(longer)).toThrow(
      expect.objectContaining({ problem: 'malformed' }),
    );
    const version = bytes.slice();
    version[8] = 9;
    expect(() => decodeWeightFile(version)).toThrow(
      expect.objectContaining({ problem: 'unsupported-version' }),
    );
    m.dispose();
  });

  it('aligns every tensor to 64 bytes', () => {
    const m = model();
    const bytes = saveModel(m);
    for (const t of header(bytes).tensors) expect(t.offset % 64).toBe(0);
    m.dispose();
  });

  it('refuses weights that do not fit the model, naming them', () => {
    const m = model();
    const w = m.exportWeights();
    expect(() => m.importWeights(w.slice(1))).toThrow(/missing bottom.0.weight/);
    const wrongShape = w.map((x, i) => (i === 0 ? { ...x, shape: [x.values.length] } : x));
    expect(() => m.importWeights(wrongShape)).toThrow(/bottom.0.weight: shape/);
    expect(() =>
      m.importWeights([...w, { name: 'extra', shape: [1], values: new Float32Array(1) }]),
    ).toThrow(/unexpected extra/);
    expect(() =>
      encodeWeightFile({
        config: m.config,
        weights: [{ name: 'x', shape: [2], values: new Float32Array(3) }],
      }),
    ).toThrow(WeightsError);
    m.dispose();
  });
});
