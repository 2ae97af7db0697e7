import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  gaussianEulerKl,
  gaussianKlubPerC4d,
  gaussianStochasticDdimKl,
  importanceInverseCdf,
  importanceMass,
  importanceG,
  klOptimalGaussianSchedule,
  klubNormaliser,
  klubOptimalGaussianSchedule,
} from '../src/optimizer/klub-closed-form.js';
import { estimateKlubInterval, makeKlubDraws } from '../src/optimizer/klub.js';
import { edmSchedule } from '../src/optimizer/search.js';
import { createRng } from '../src/core/rng.js';
import { gaussianMixture, mixtureDenoise, sampleMixture } from '../src/lab/mixture.js';

const close = (got: number, want: number, tol: number, what: string): void =>
  assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, want ${want} ± ${tol}`);

test('Theorem 3.1: KL-optimal Euler schedule on N(0, 0.25) matches spec §7.1 check values', () => {
  const want = [0.002, 0.08072, 0.16354, 0.25535, 0.36319, 0.49888, 0.68509, 0.97365, 1.51713, 3.05353, 80];
  const got = klOptimalGaussianSchedule(0.002, 80, 10, 0.5);
  want.forEach((w, i) => close(got[i]!, w, 6e-6, `t_${i}`));
});

test('Theorem 3.1 schedule is a minimum of the exact Euler output KL', () => {
  const best = klOptimalGaussianSchedule(0.002, 80, 10, 0.5);
  const kl0 = gaussianEulerKl(best, 0.5);
  for (let i = 1; i < 10; i++) {
    for (const f of [0.98, 1.02]) {
      const moved = Float64Array.from(best);
      moved[i] = moved[i]! * f;
      assert.ok(gaussianEulerKl(moved, 0.5) > kl0, `moving t_${i} by ${f} should raise the KL`);
    }
  }
});

test('closed-form normaliser Z agrees with quadrature of sigma^-3 g(sigma; b)', () => {
  for (const [a, b] of [
    [0.002, 0.08],
    [0.3, 0.5],
    [1, 3],
    [30, 80],
    [0.002, 80],
  ] as const) {
    // Simpson in ln sigma, 20000 panels
    const N = 20000;
    const la = Math.log(a);
    const h = (Math.log(b) - la) / N;
    let s = 0;
    for (let k = 0; k <= N; k++) {
      const sig = Math.exp(la + k * h);
      const f = (importanceG(sig, b, 0.5) / sig ** 3) * sig;
      s += f * (k === 0 || k === N ? 1 : k % 2 ? 4 : 2);
    }
    const quad = (s * h) / 3;
    const z = klubNormaliser(a, b, 0.5);
    close(z, quad, 1e-8 * Math.abs(quad) + 1e-300, `Z(${a}, ${b})`);
  }
});

test('inverse CDF inverts the importance mass', () => {
  for (const [a, b] of [
    [0.002, 0.08],
    [2, 80],
    [0.5, 0.51],
  ] as const) {
    const z = klubNormaliser(a, b, 0.5);
    for (const u of [1e-6, 0.1, 0.5, 0.9, 0.999999]) {
      const s = importanceInverseCdf(u, a, b, 0.5, z);
      assert.ok(s > a && s < b, `sample ${s} outside (${a}, ${b})`);
      close(importanceMass(a, s, b, 0.5) / z, u, 1e-9, `F(Finv(${u}))`);
    }
  }
});

test('§7.2 corrected KLUB-optimal schedule: check values, total and EDM comparison', () => {
  const want = [0.002, 0.00347, 0.00603, 0.01048, 0.01822, 0.03169, 0.05526, 0.09719, 0.17565, 0.35204, 80];
  const got = klubOptimalGaussianSchedule(0.002, 80, 10, 0.5);
  want.forEach((w, i) => close(got[i]!, w, 6e-6 + 1e-4 * w, `t_${i}`));
  close(gaussianKlubPerC4d(got, 0.5), 73.023, 0.001, 'KLUB total of the optimum');
  close(gaussianKlubPerC4d(edmSchedule(0.002, 80, 10), 0.5), 745.68, 0.01, 'KLUB total of EDM rho 7');
  // it is a minimum: perturbing any interior point raises the exact KLUB
  const base = gaussianKlubPerC4d(got, 0.5);
  for (let i = 1; i < 10; i++) {
    const moved = Float64Array.from(got);
    moved[i] = moved[i]! * 1.01;
    assert.ok(gaussianKlubPerC4d(moved, 0.5) > base);
  }
  // degenerate: Euler KL worse than EDM's (spec: 0.554 vs 0.098)
  close(gaussianEulerKl(got, 0.5), 0.554, 0.001, 'Euler KL at the KLUB optimum');
  close(gaussianEulerKl(edmSchedule(0.002, 80, 10), 0.5), 0.098, 0.001, 'Euler KL of EDM');
  close(gaussianStochasticDdimKl(edmSchedule(0.002, 80, 10), 0.5), 0.314, 0.001, 'S-DDIM KL of EDM');
});

test('§7.4 estimator is unbiased on Gaussian data: KLUB_hat(a, b) ≈ c^4 d Z(a, b)', async () => {
  const d = 64;
  const c = 0.5;
  const mix = gaussianMixture([new Array<number>(d).fill(0)], [c]);
  const pair = { denoiser: async (x: any, s: number) => mixtureDenoise(mix, x, s), rowDenoiser: async (x: any, s: Float64Array) => mixtureDenoise(mix, x, s) };
  const rng = createRng(1);
  const draws = makeKlubDraws(sampleMixture(mix, 4096, rng), rng);
  for (const [a, b] of [
    [0.002, 0.1],
    [0.3, 1.2],
    [5, 80],
  ] as const) {
    const est = await estimateKlubInterval(pair, draws, a, b, { c });
    const exact = c ** 4 * d * klubNormaliser(a, b, c);
    assert.ok(est.stderr > 0, 'a standard error is reported');
    assert.ok(Math.abs(est.value - exact) <= 4 * est.stderr, `(${a}, ${b}): ${est.value} vs ${exact}, se ${est.stderr}`);
    // unsquared weight: the ratio is near constant on Gaussian data, so the relative error is tiny
    assert.ok(est.stderr / exact < 0.02, `relative standard error ${est.stderr / exact}`);
  }
  // with a mismatched importance width it stays unbiased, only noisier
  const est = await estimateKlubInterval(pair, draws, 0.3, 1.2, { c: 1.5 });
  const exact = c ** 4 * d * klubNormaliser(0.3, 1.2, c);
  assert.ok(Math.abs(est.value - exact) <= 4 * est.stderr, `c_IS = 1.5: ${est.value} vs ${exact}, se ${est.stderr}`);
});

test('eps variant estimates the integral of ||d eps||^2 d ln sigma (Gaussian closed form)', async () => {
  // For N(0, c^2 I): eps(x_s) - eps(x_b) has E||.||^2 = d * [ (c^2+s^2)... ] computed here by quadrature:
  // eps(x; s) = x s/(s^2+c^2); x_b = x_s + sqrt(b^2-s^2) n2, Var(x_s) = c^2+s^2 per dim.
  const d = 16;
  const c = 0.5;
  const mix = gaussianMixture([new Array<number>(d).fill(0)], [c]);
  const pair = { denoiser: async (x: any, s: number) => mixtureDenoise(mix, x, s), rowDenoiser: async (x: any, s: Float64Array) => mixtureDenoise(mix, x, s) };
  const rng = createRng(7);
  const draws = makeKlubDraws(sampleMixture(mix, 4096, rng), rng);
  const a = 0.2;
  const b = 2;
  const integrand = (s: number): number => {
    const ks = s / (s * s + c * c);
    const kb = b / (b * b + c * c);
    const vs = c * c + s * s;
    // E|ks x_s - kb x_b|^2 per dim with x_b = x_s + w n2
    return d * ((ks - kb) ** 2 * vs + kb * kb * (b * b - s * s));
  };
  const N = 4000;
  const la = Math.log(a);
  const h = (Math.log(b) - la) / N;
  let sum = 0;
  for (let k = 0; k <= N; k++) sum += integrand(Math.exp(la + k * h)) * (k === 0 || k === N ? 1 : k % 2 ? 4 : 2);
  const exact = (sum * h) / 3;
  const est = await estimateKlubInterval(pair, draws, a, b, { c, variant: 'eps' });
  assert.ok(Math.abs(est.value - exact) <= 4 * est.stderr, `${est.value} vs ${exact}, se ${est.stderr}`);
});
