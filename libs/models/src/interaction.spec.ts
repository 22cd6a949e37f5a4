import * as tf from '@tensorflow/tfjs';
import { initBackend } from './backend';
import {
  DotInteraction,
  inverseTriangleIndices,
  lowerTriangleIndices,
  triangleSize,
} from './interaction';
import { createModel } from './model';
import { DlrmNet } from './networks';
import { mulberry32 } from './rng';

beforeAll(async () => {
  await initBackend('wasm');
});

describe('dot interaction', () => {
  it('keeps the strict lower triangle in row-major order (i > j)', () => {
    expect(Array.from(lowerTriangleIndices(4))).toEqual([
      1 * 4 + 0,
      2 * 4 + 0,
      2 * 4 + 1,
      3 * 4 + 0,
      3 * 4 + 1,
      3 * 4 + 2,
    ]);
    expect(triangleSize(27)).toBe(351);
    const inv = inverseTriangleIndices(3);
    // positions (1,0)=3 → 0, (2,0)=6 → 1, (2,1)=7 → 2, the rest → the zero slot 3
    expect(Array.from(inv)).toEqual([3, 3, 3, 0, 3, 3, 1, 2, 3]);
  });

  it('computes the hand case with and without a bottom vector, in both implementations', () => {
    // bottom b = (1, 2); field vectors e0 = (3, 4), e1 = (5, 6)
    // z = [b, e0, e1]: (1,0) = e0·b = 11, (2,0) = e1·b = 17, (2,1) = e1·e0 = 39
    const withBottom = new DotInteraction(2, true);
    const rowsOnly = new DotInteraction(2, false);
    for (const impl of ['js', 'tensor'] as const) {
      const out = tf.tidy(() =>
        withBottom
          .apply(tf.tensor2d([1, 2], [1, 2]), tf.tensor3d([3, 4, 5, 6], [1, 2, 2]), impl)
          .arraySync(),
      );
      expect(out).toEqual([[11, 17, 39]]);
      const only = tf.tidy(() =>
        rowsOnly.apply(null, tf.tensor3d([3, 4, 5, 6], [1, 2, 2]), impl).arraySync(),
      );
      expect(only).toEqual([[39]]);
    }
    withBottom.dispose();
    rowsOnly.dispose();
  });

  // D = 3: the scalar tail only; 6: four-wide blocks and a tail; 16: the Criteo width.
  it.each([3, 6, 16])('js and tensor implementations agree in value and gradient (D = %i)', (D) => {
    const B = 5;
    const F = 4;
    const rand = mulberry32(3);
    const b = Float32Array.from({ length: B * D }, () => rand() - 0.5);
    const r = Float32Array.from({ length: B * F * D }, () => rand() - 0.5);
    const w = Float32Array.from({ length: B * triangleSize(F + 1) }, () => rand() - 0.5);
    const inter = new DotInteraction(F, true);
    const run = (impl: 'js' | 'tensor'): number[][] =>
      tf.tidy(() => {
        const bt = tf.tensor2d(b, [B, D]);
        const rt = tf.tensor3d(r, [B, F, D]);
        const wt = tf.tensor2d(w, [B, triangleSize(F + 1)]);
        const f = (x: tf.Tensor, y: tf.Tensor): tf.Scalar =>
          tf.sum(tf.mul(inter.apply(x as tf.Tensor2D, y as tf.Tensor3D, impl), wt));
        const { value, grads } = tf.valueAndGrads(f)([bt, rt]);
        return [[value.dataSync()[0] as number], ...grads.map((g) => Array.from(g.dataSync()))];
      });
    const js = run('js');
    const tensor = run('tensor');
    js.forEach((part, k) =>
      part.forEach((v, i) => expect(v).toBeCloseTo((tensor[k] as number[])[i] as number, 5)),
    );
    inter.dispose();
  });

  it('sizes the top MLP input: Criteo D + 27·26/2 = 367, Avazu 22·21/2 = 231', () => {
    const criteo = createModel({ kind: 'dlrm', numDense: 13, numFields: 26, dim: 16 });
    const avazu = createModel({ kind: 'dlrm', numDense: 0, numFields: 22, dim: 16 });
    expect((criteo.net as DlrmNet).topInputSize).toBe(367);
    expect((avazu.net as DlrmNet).topInputSize).toBe(231);
    // reference sizes: bottom 13-512-256-64-16, top 367-512-256-1
    expect(criteo.params.map((p) => `${p.name}:${p.shape.join('x')}`)).toEqual([
      'bottom.0.weight:13x512',
      'bottom.0.bias:512',
      'bottom.1.weight:512x256',
      'bottom.1.bias:256',
      'bottom.2.weight:256x64',
      'bottom.2.bias:64',
      'bottom.3.weight:64x16',
      'bottom.3.bias:16',
      'top.0.weight:367x512',
      'top.0.bias:512',
      'top.1.weight:512x256',
      'top.1.bias:256',
      'top.2.weight:256x1',
      'top.2.bias:1',
    ]);
    expect(criteo.parameterCount()).toBe(475_985);
    expect(avazu.params.some((p) => p.name.startsWith('bottom'))).toBe(false);
    criteo.dispose();
    avazu.dispose();
  });
});
