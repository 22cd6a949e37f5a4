// The kernels' dense layer (linear-kernels.ts) against the same layer in tfjs ops: values and
// the gradients for x, W and b, with and without bias and ReLU, and a layer that runs twice
// before its backward pass (each call's gradient uses its own input and output).
import * as tf from '@tensorflow/tfjs';
import { initBackend } from './backend';
import { makeKernelLinear, transpose } from './linear-kernels';
import { mulberry32 } from './rng';

beforeAll(async () => {
  await initBackend('wasm');
});

function random(n: number, seed: number): Float32Array {
  const rand = mulberry32(seed);
  return Float32Array.from({ length: n }, () => rand() * 2 - 1);
}

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  expect(a.shape).toEqual(b.shape);
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0] as number);
}

describe('transpose', () => {
  it('swaps rows and columns of sizes that are not multiples of its block', () => {
    const [rows, cols] = [17, 35];
    const a = random(rows * cols, 1);
    const t = transpose(a, rows, cols);
    for (let i = 0; i < rows; i += 1)
      for (let j = 0; j < cols; j += 1) expect(t[j * rows + i]).toBe(a[i * cols + j]);
  });
});

describe('kernel dense layer', () => {
  const [B, IN, OUT] = [6, 9, 5];

  it.each([
    [false, false],
    [false, true],
    [true, false],
    [true, true],
  ])('relu %s, bias %s: value and gradients as tfjs ops give them', (relu, bias) => {
    tf.tidy(() => {
      const x = tf.tensor2d(random(B * IN, 2), [B, IN]);
      const w = tf.tensor2d(random(IN * OUT, 3), [IN, OUT]);
      const b = tf.tensor1d(random(OUT, 4));
      const c = tf.tensor2d(random(B * OUT, 5), [B, OUT]);
      const op = makeKernelLinear(relu, bias);
      const ours = (xa: tf.Tensor, wa: tf.Tensor, ba: tf.Tensor) =>
        bias ? op(xa as tf.Tensor2D, wa, ba) : op(xa as tf.Tensor2D, wa);
      const theirs = (xa: tf.Tensor, wa: tf.Tensor, ba: tf.Tensor) => {
        const z = tf.matMul(xa as tf.Tensor2D, wa as tf.Tensor2D);
        const zb = bias ? tf.add(z, ba) : z;
        return relu ? tf.relu(zb) : zb;
      };
      const value = ours(x, w, b);
      expect(maxAbsDiff(value, theirs(x, w, b))).toBeLessThan(1e-6);
      if (relu) expect(tf.min(value).dataSync()[0]).toBe(0); // some outputs were clipped
      type Layer = (xa: tf.Tensor, wa: tf.Tensor, ba: tf.Tensor) => tf.Tensor;
      const loss =
        (f: Layer) =>
        (...args: tf.Tensor[]) =>
          tf.sum(tf.mul(f(args[0] as tf.Tensor, args[1] as tf.Tensor, args[2] ?? b), c));
      const args = bias ? [x, w, b] : [x, w];
      const got = tf.grads(loss(ours))(args);
      const want = tf.grads(loss(theirs))(args);
      got.forEach((g, i) => expect(maxAbsDiff(g, want[i] as tf.Tensor)).toBeLessThan(1e-5));
    });
  });

  it('gives each of two calls before the backward pass its own gradient', () => {
    tf.tidy(() => {
      const op = makeKernelLinear(true, true);
      const x1 = tf.tensor2d(random(B * IN, 6), [B, IN]);
      const x2 = tf.tensor2d(random(B * IN, 7), [B, IN]);
      const w = tf.tensor2d(random(IN * OUT, 8), [IN, OUT]);
      const b = tf.tensor1d(random(OUT, 9));
      const twice = (layer: (x: tf.Tensor2D) => tf.Tensor) =>
        tf.add(tf.sum(layer(x1)), tf.sum(tf.mul(layer(x2), 2)));
      const [ours] = tf.grads((wa: tf.Tensor) => twice((x) => op(x, wa, b)))([w]);
      const [theirs] = tf.grads((wa: tf.Tensor) =>
        twice((x) => tf.relu(tf.add(tf.matMul(x, wa as tf.Tensor2D), b))),
      )([w]);
      expect(maxAbsDiff(ours as tf.Tensor, theirs as tf.Tensor)).toBeLessThan(1e-5);
    });
  });
});
