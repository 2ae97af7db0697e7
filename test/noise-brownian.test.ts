import { test } from 'node:test';
import assert from 'node:assert/strict';
import { brownianTreeNoise, extendedBrownianTreeNoise } from '../src/noise/sources.js';
import { keyedNormals } from '../src/noise/ziggurat.js';
import { sample } from '../src/samplers/sample.js';
import { SAMPLERS } from '../src/samplers/registry.js';
import { gaussianMixtureDenoiser } from '../src/denoisers/gaussian-mixture.js';
import { cfg } from '../src/denoisers/cfg.js';
import { torchRandn } from '../src/noise/torch-randn.js';
import type { Tensor } from '../src/tensor/tensor.js';

const like64 = (n: number): Tensor => ({ data: new Float64Array(n), shape: [n] });
const meanVar = (d: ArrayLike<number>): [number, number] => {
  let s = 0, ss = 0;
  for (let i = 0; i < d.length; i++) {
    s += d[i]!;
    ss += d[i]! * d[i]!;
  }
  return [s / d.length, ss / d.length - (s / d.length) ** 2];
};

/** Upper tail of the standard normal, for the binned checks (erfc by series below 2, continued fraction above). */
function normalCdf(x: number): number {
  const z = Math.abs(x) / Math.SQRT2;
  let erfc: number;
  if (z < 2) {
    let s = 0, term = z;
    for (let k = 0; k < 60; k++) {
      s += term / (2 * k + 1);
      term *= (-z * z) / (k + 1);
    }
    erfc = 1 - (2 / Math.sqrt(Math.PI)) * s;
  } else {
    let f = 0;
    for (let k = 60; k >= 1; k--) f = k / 2 / (z + f);
    erfc = Math.exp(-z * z) / Math.sqrt(Math.PI) / (z + f);
  }
  return x >= 0 ? 1 - erfc / 2 : erfc / 2;
}

test('ziggurat normals: standard normal histogram (chi-square over 40 bins), tails and moments', () => {
  const n = 2_000_000;
  const z = keyedNormals(n, 11, 0, 1, 2, 3);
  const bins = new Float64Array(40);
  let tail3 = 0, fourth = 0;
  for (const v of z) {
    const b = Math.floor((v + 4) * 5);
    if (b >= 0 && b < 40) bins[b] = bins[b]! + 1;
    if (Math.abs(v) > 3) tail3++;
    fourth += v ** 4;
  }
  let chi2 = 0;
  for (let b = 0; b < 40; b++) {
    const expected = n * (normalCdf(-4 + (b + 1) / 5) - normalCdf(-4 + b / 5));
    chi2 += (bins[b]! - expected) ** 2 / expected;
  }
  // 39 degrees of freedom: the 99.99th percentile is about 80
  assert.ok(chi2 < 80, `chi-square ${chi2}`);
  const [mean, variance] = meanVar(z);
  assert.ok(Math.abs(mean) < 0.004 && Math.abs(variance - 1) < 0.005, `mean ${mean}, variance ${variance}`);
  assert.ok(Math.abs(tail3 / n - 0.0026998) < 0.0004, `P(|z| > 3) = ${tail3 / n}`);
  assert.ok(Math.abs(fourth / n - 3) < 0.03, `E z^4 = ${fourth / n}`);
  assert.notDeepEqual(keyedNormals(64, 11, 0, 1, 2, 4), keyedNormals(64, 11, 0, 1, 2, 3));
});

test('Brownian tree: W is a fixed function of sigma, whatever was asked before (order, step count, tensor dtype)', () => {
  const n = 512;
  const fresh = brownianTreeNoise({ seed: 5, sigmaMin: 0.0292, sigmaMax: 14.6146 });
  const ref = fresh.next(like64(n), 3.1, 0.7).data;
  const busy = brownianTreeNoise({ seed: 5, sigmaMin: 0.0292, sigmaMax: 14.6146 });
  // a whole schedule first, in both directions, then the same interval
  for (const [s, t] of [[14.6146, 9], [9, 5.5], [5.5, 0.05], [0.05, 0.0292], [0.7, 3.1], [1, 1.0001]] as const) busy.next(like64(n), s, t);
  assert.deepEqual(busy.next(like64(n), 3.1, 0.7).data, ref);
  // reversed order is the negated increment (k-diffusion's sign convention)
  const back = busy.next(like64(n), 0.7, 3.1).data;
  for (let i = 0; i < n; i++) assert.equal(back[i], -ref[i]!);
  // float32 tensors get the same values rounded
  const f32 = brownianTreeNoise({ seed: 5, sigmaMin: 0.0292, sigmaMax: 14.6146 }).next({ data: new Float32Array(n), shape: [n] }, 3.1, 0.7).data;
  assert.ok(f32 instanceof Float32Array);
  for (let i = 0; i < n; i++) assert.equal(f32[i], Math.fround(ref[i]!));
});

test('Brownian tree: increments add up over a fine subdivision (60 steps) and over stage points', () => {
  const n = 256;
  const src = brownianTreeNoise({ seed: 9, sigmaMin: 0.03, sigmaMax: 14.6 });
  const whole = src.next(like64(n), 14.6, 0.03).data;
  const sum = new Float64Array(n);
  const pts: number[] = [];
  for (let k = 0; k <= 60; k++) pts.push(Math.exp(Math.log(14.6) + (k / 60) * (Math.log(0.03) - Math.log(14.6))));
  pts[60] = 0.03;
  for (let k = 0; k < 60; k++) {
    // each step through a stage point, as the two-stage SDE samplers ask
    const s = pts[k]!, t = pts[k + 1]!, m = Math.sqrt(s * t);
    const a = src.next(like64(n), s, m).data, b = src.next(like64(n), m, t).data;
    for (let i = 0; i < n; i++) sum[i] = sum[i]! + a[i]! * Math.sqrt(s - m) + b[i]! * Math.sqrt(m - t);
  }
  const scale = Math.sqrt(14.6 - 0.03);
  for (let i = 0; i < n; i++) assert.ok(Math.abs(whole[i]! * scale - sum[i]!) < 1e-9, `element ${i}: ${whole[i]! * scale} vs ${sum[i]}`);
});

test('Brownian tree: standard normal marginals and uncorrelated disjoint increments, at coarse and fine steps', () => {
  const n = 20000;
  const src = brownianTreeNoise({ seed: 3, sigmaMin: 0.0292, sigmaMax: 14.6146 });
  // a large step, a small step at low sigma, and one of 5e-4 in log sigma (a few leaves of the default tree)
  for (const [s, t] of [[14.6146, 2], [0.05, 0.049], [1.001, 1.0005]] as const) {
    const [mean, variance] = meanVar(src.next(like64(n), s, t).data);
    assert.ok(Math.abs(mean) < 0.03 && Math.abs(variance - 1) < 0.05, `${s} -> ${t}: mean ${mean}, variance ${variance}`);
  }
  // steps finer than the default leaves (1e-5 in log sigma) need a deeper tree, which the depth option gives
  const deep = brownianTreeNoise({ seed: 3, sigmaMin: 0.0292, sigmaMax: 14.6146, depth: 22 });
  for (const [s, t] of [[1.00002, 1.00001], [0.2, 0.199998]] as const) {
    const [mean, variance] = meanVar(deep.next(like64(n), s, t).data);
    assert.ok(Math.abs(mean) < 0.03 && Math.abs(variance - 1) < 0.05, `depth 22, ${s} -> ${t}: mean ${mean}, variance ${variance}`);
  }
  const a = src.next(like64(n), 3, 2).data, b = src.next(like64(n), 2, 1.5).data;
  let dot = 0;
  for (let i = 0; i < n; i++) dot += a[i]! * b[i]!;
  assert.ok(Math.abs(dot / n) < 0.03, `correlation ${dot / n}`);
  // within one step, the element-wise motions are independent: neighbours uncorrelated
  let lag = 0;
  for (let i = 0; i + 1 < n; i++) lag += a[i]! * a[i + 1]!;
  assert.ok(Math.abs(lag / n) < 0.03, `lag-1 correlation ${lag / n}`);
});

test('Brownian tree: a zero-length step gives zero noise, not NaN; out-of-range and bad options are refused clearly', () => {
  const src = brownianTreeNoise({ seed: 1, sigmaMin: 0.029, sigmaMax: 14.61 });
  const z = src.next(like64(64), 1.27, 1.27).data;
  assert.ok(z.every((v) => v === 0));
  assert.throws(() => src.next(like64(4), 1, 0), /outside the tree's range \[0\.029, 14\.61\]/);
  assert.throws(() => src.next(like64(4), 20, 1), /outside the tree's range/);
  assert.throws(() => src.next(like64(4), NaN, 1), /must be finite/);
  assert.throws(() => brownianTreeNoise({ seed: 1, sigmaMin: 2, sigmaMax: 1 }), /sigmaMin < sigmaMax/);
  assert.throws(() => brownianTreeNoise({ seed: -1, sigmaMin: 0, sigmaMax: 1 }), /seed must be an integer/);
  assert.throws(() => brownianTreeNoise({ seed: 1, sigmaMin: 0, sigmaMax: 1, depth: 0 }), /depth/);
  // sigmaMin = 0 is allowed: the tree then reaches down to zero
  const toZero = brownianTreeNoise({ seed: 1, sigmaMin: 0, sigmaMax: 1 });
  const [, variance] = meanVar(toZero.next(like64(20000), 0.001, 0).data);
  assert.ok(Math.abs(variance - 1) < 0.05, `variance ${variance}`);
});

const mixture = { means: [[1, -1, 0.5, 0], [-1, 1, 0, -0.5]], stds: [0.3, 0.5], weights: [1, 2] };
const cond = gaussianMixtureDenoiser(mixture);
const uncond = gaussianMixtureDenoiser({ ...mixture, means: [[0.5, -0.5, 0, 0], [-0.5, 0.5, 0, 0]] });
const guided = () => cfg(cond, uncond, 3);

function karras(n: number, lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((hi ** (1 / 7) + (i / (n - 1)) * (lo ** (1 / 7) - hi ** (1 / 7))) ** 7);
  return [...out, 0];
}

test('regression: exp_heun_2_x0_sde with Brownian noise stays finite (its r = 1 stage asks for a zero-length step)', async () => {
  const sigmas = [14.61, 1.27, 0.029, 0];
  const x0 = torchRandn(1, [8, 4]);
  const x = { data: x0.data.map((v) => v * 14.61), shape: [8, 4] };
  const out = await sample('exp_heun_2_x0_sde', cond, x, sigmas, { noise: brownianTreeNoise({ seed: 3, sigmaMin: 0.029, sigmaMax: 14.61 }) });
  assert.ok(out.data.every(Number.isFinite));
  // and through sample()'s own seeded default
  const seeded = await sample('exp_heun_2_x0_sde', cond, x, sigmas, { seed: 3 });
  assert.ok(seeded.data.every(Number.isFinite));
});

test('every stochastic sampler runs NaN-free with Brownian-tree noise on schedules that end in 0', async () => {
  const schedules = [[14.61, 1.27, 0.029, 0], karras(8, 0.0292, 14.6146), [1, 0.5, 0], [80, 20, 2, 0.002, 0]];
  const stochastic = SAMPLERS.filter((s) => s.stochastic);
  assert.ok(stochastic.length >= 20, `${stochastic.length} stochastic samplers`);
  for (const info of stochastic) {
    for (const sigmas of schedules) {
      const positive = sigmas.filter((s) => s > 0);
      const noise = brownianTreeNoise({ seed: 42, sigmaMin: Math.min(...positive), sigmaMax: Math.max(...positive) });
      const x0 = torchRandn(7, [6, 4]);
      const x = { data: x0.data.map((v) => v * sigmas[0]!), shape: [6, 4] };
      const out = await sample(info.name, info.needsUncond ? guided() : cond, x, sigmas, { noise });
      assert.ok(out.data.every(Number.isFinite), `${info.name} on [${sigmas.join(', ')}]`);
    }
  }
});

test('extendedBrownianTreeNoise: the same path below sigma_max, one consistent path above it', () => {
  const like = { data: new Float64Array(20000), shape: [20000] };
  const T = 14.6146;
  const plain = brownianTreeNoise({ seed: 11, sigmaMin: 0, sigmaMax: T });
  const ext = extendedBrownianTreeNoise({ seed: 11, sigmaMin: 0, sigmaMax: T });
  for (const [a, b] of [[T, 2.5], [6, 0.03], [0.5, 0]] as const) {
    assert.deepEqual(ext.next(like, a, b).data, plain.next(like, a, b).data, `${a} -> ${b}: unchanged inside the range`);
  }
  // increments add up along the path: W(s2) - W(s0) = (W(s1) - W(s0)) + (W(s2) - W(s1)), across sigma_max too
  const scaled = (a: number, b: number) => Float64Array.from(ext.next(like, a, b).data, (v) => v * Math.sqrt(Math.abs(a - b)));
  for (const [s0, s1, s2] of [[14.615, 10, 2.4], [20, 14.615, 3], [30, 20, 15]] as const) {
    const whole = scaled(s0, s2), first = scaled(s0, s1), second = scaled(s1, s2);
    for (let i = 0; i < like.data.length; i += 997) assert.ok(Math.abs(whole[i]! - first[i]! - second[i]!) < 1e-9, `${s0} -> ${s1} -> ${s2} at ${i}`);
  }
  // a step across sigma_max is standard normal (20000 draws: the variance's standard error is 0.01)
  const z = Array.from(ext.next(like, 14.615, 2.39).data);
  const variance = z.reduce((s, v) => s + v * v, 0) / z.length;
  assert.ok(Math.abs(variance - 1) < 0.04, `variance ${variance}`);
  // and independent of the part below sigma_max alone
  const below = Array.from(plain.next(like, T, 2.39).data);
  const corr = z.reduce((s, v, i) => s + v * below[i]!, 0) / z.length;
  const expected = Math.sqrt((T - 2.39) / (14.615 - 2.39));
  assert.ok(Math.abs(corr - expected) < 0.03, `correlation ${corr} with the part below, expected ${expected}`);
  assert.throws(() => ext.next(like, 1000 * T + 1, 1), /outside the tree's range/);
});

test('regression: the paired noise of stochastic samplers covers schedules that start above the model sigma_max (AYS A1111 14.615)', async () => {
  const { pairedNoise } = await import('../src/optimizer/teacher.js');
  const { getSigmas } = await import('../src/schedules/get-sigmas.js');
  const { modelSampling } = await import('../src/model-sampling/presets.js');
  const ms = modelSampling('sd15');
  const sigmas = getSigmas({ model: ms, scheduler: 'ays_a1111', steps: 10 });
  assert.ok(sigmas[0]! > ms.sigmaMax, 'the published table starts above the model sigma_max');
  const denoiser = gaussianMixtureDenoiser({ means: [[0], [2]], weights: [0.5, 0.5], stds: [0.5, 0.5] });
  for (const sampler of ['dpmpp_2m_sde', 'euler_ancestral']) {
    const noise = pairedNoise(sampler, 5, ms.sigmaMin, ms.sigmaMax);
    const x = { data: Float64Array.from([0.3, -1.2], (v) => v * sigmas[0]!), shape: [2, 1] };
    const out = await sample(sampler, denoiser, x, sigmas, { noise });
    assert.ok(Array.from(out.data).every(Number.isFinite), sampler);
  }
});
