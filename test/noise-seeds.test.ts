import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { torchRandn, TorchGenerator } from '../src/noise/torch-randn.js';
import { comfyDefaultNoise, prepareNoise, replayNoise, brownianTreeNoise } from '../src/noise/sources.js';

const S = JSON.parse(readFileSync(new URL('../../test/fixtures/comfyui/seeds.json', import.meta.url), 'utf8'));

test('torchRandn reproduces ComfyUI seeds bit for bit', () => {
  for (const c of S.cases) {
    const t = torchRandn(BigInt(c.seed), c.shape);
    assert.deepEqual(t.shape, c.shape);
    assert.ok(t.data instanceof Float32Array);
    const head: number[] = c.values ?? c.first_256;
    head.forEach((v: number, i: number) => assert.equal(t.data[i], v, `${c.id} value ${i}`));
    if (c.last_64) c.last_64.forEach((v: number, i: number) => assert.equal(t.data[t.data.length - 64 + i], v, `${c.id} tail ${i}`));
    if (c.every_1021th) c.every_1021th.values.forEach((v: number, i: number) => assert.equal(t.data[i * 1021], v, `${c.id} stride ${i}`));
    let sum = 0;
    for (const v of t.data) sum += v;
    assert.ok(Math.abs(sum - c.sum) < 1e-6 * Math.max(1, Math.abs(c.sum)), `${c.id} sum`);
  }
});

test('generator diagnostics bit for bit: rand and randn (float32 and float64) at small sizes, scalar cache across calls', () => {
  for (const g of S.generator_diagnostics) {
    const gen = new TorchGenerator(BigInt(g.seed));
    const n = Number(/\[(\d+)\]/.exec(g.what)![1]);
    let v: ArrayLike<number>;
    if (g.what.startsWith('rand_float32')) v = gen.randFloat32(n);
    else if (g.what.startsWith('rand_float64')) v = Array.from({ length: n }, () => gen.uniformDouble());
    else if (g.what.startsWith('randn_float64')) v = gen.randnFloat64(n);
    else if (g.what.startsWith('randn_float32_[7]_then')) v = [...gen.randnFloat32(7), ...gen.randnFloat32(16)];
    else continue;
    g.values.forEach((ref: number, i: number) => assert.equal(v[i], ref, `${g.seed} ${g.what} ${i}`));
  }
});

test('batch_index cases follow prepare_noise', () => {
  for (const c of S.batch_index_cases) {
    const t = prepareNoise(BigInt(c.seed), c.latent_shape, c.batch_index);
    const rowSize = t.data.length / c.latent_shape[0];
    c.values.forEach((row: number[], b: number) => row.forEach((v, i) => assert.equal(t.data[b * rowSize + i], v)));
  }
});

test('default ancestral noise: generator seeded seed + 1, randn of x shape per draw', () => {
  for (const c of S.default_noise_sampler) {
    const src = comfyDefaultNoise(BigInt(c.sampler_seed));
    const like = { data: new Float32Array(c.x_shape.reduce((a: number, b: number) => a * b, 1)), shape: c.x_shape };
    for (const draw of c.draws) {
      const n = src.next(like, 1, 0.5);
      draw.forEach((v: number, i: number) => assert.equal(n.data[i], v));
    }
  }
});

test('seeds above 2^53 need a bigint; bad seeds are refused', () => {
  assert.throws(() => torchRandn(2 ** 60, [4]), /bigint/);
  assert.throws(() => torchRandn(-1, [4]), /non-negative/);
  assert.throws(() => torchRandn(2n ** 64n, [4]), /2\^64-1/);
  // only the low 32 bits seed mt19937, as in torch
  assert.deepEqual(torchRandn(2n ** 40n + 5n, [20]).data, torchRandn(5, [20]).data);
});

test('replayNoise hands out draws in order and fails clearly when they run out', () => {
  const like = { data: new Float64Array(2), shape: [2] };
  const src = replayNoise([{ data: new Float64Array([1, 2]), shape: [2] }]);
  assert.deepEqual(Array.from(src.next(like, 2, 1).data), [1, 2]);
  assert.throws(() => src.next(like, 1, 0.5), /used up/);
});

test('Brownian tree noise: deterministic, unit variance, additive over subdivisions', () => {
  const like = { data: new Float64Array(4096), shape: [4096] };
  const a = brownianTreeNoise({ seed: 7, sigmaMin: 0.03, sigmaMax: 14.6 });
  const b = brownianTreeNoise({ seed: 7, sigmaMin: 0.03, sigmaMax: 14.6 });
  const n1 = a.next(like, 10, 5);
  assert.deepEqual(n1.data, b.next(like, 10, 5).data);
  let ss = 0;
  for (const v of n1.data) ss += v * v;
  assert.ok(Math.abs(ss / 4096 - 1) < 0.1, `variance ${ss / 4096}`);
  // W(5) - W(10) = (W(7) - W(10)) + (W(5) - W(7)) after undoing the per-step normalisation
  const p = a.next(like, 10, 7), q = a.next(like, 7, 5);
  for (let i = 0; i < 4096; i += 97) {
    const whole = n1.data[i]! * Math.sqrt(5);
    const parts = p.data[i]! * Math.sqrt(3) + q.data[i]! * Math.sqrt(2);
    assert.ok(Math.abs(whole - parts) < 1e-9, `increment ${i}`);
  }
  const c = brownianTreeNoise({ seed: 8, sigmaMin: 0.03, sigmaMax: 14.6 });
  assert.notDeepEqual(c.next(like, 10, 5).data, n1.data);
});

test('double-precision log, sin and cos used by the float64 path round correctly', async () => {
  const { logCorrect, cosCorrect, sinCorrect } = await import('../src/noise/dd-trig.js');
  // values whose correctly rounded results differ from a plain libm call somewhere on common platforms
  for (const x of [0.1, 0.5, 0.75, 1e-300, 0.9999999999999999]) {
    const y = logCorrect(x);
    assert.ok(Math.abs(y - Math.log(x)) <= 2.3e-16 * Math.abs(Math.log(x)) || y === Math.log(x));
  }
  assert.equal(logCorrect(1), 0);
  for (let k = 0; k <= 64; k++) {
    const t = (k / 64) * 2 * Math.PI;
    assert.ok(Math.abs(cosCorrect(t) - Math.cos(t)) <= 2.3e-16);
    assert.ok(Math.abs(sinCorrect(t) - Math.sin(t)) <= 2.3e-16);
  }
});
