import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Tensor } from '../src/tensor/tensor.js';
import { gaussianMixture, mixtureDenoise, mixtureLogDensity, sampleMixture } from '../src/lab/mixture.js';
import { createRng } from '../src/core/rng.js';
import { solveProbabilityFlow } from '../src/core/ode.js';
import { gaussianSamplerKl, meanNll, rmse, slicedWasserstein2 } from '../src/lab/metrics.js';
import { presentAsModel } from '../src/lab/present.js';
import { testbed, testbedNames, conformanceMixture16 } from '../src/lab/testbeds.js';
import { scheduleFor } from '../src/lab/quality.js';
import { modelSampling } from '../src/model-sampling/presets.js';
import { sample } from '../src/samplers/sample.js';
import { gaussianEulerKl, gaussianStochasticDdimKl } from '../src/optimizer/klub-closed-form.js';
import { edmSchedule } from '../src/optimizer/search.js';

const close = (got: number, want: number, tol: number, what: string): void =>
  assert.ok(Math.abs(got - want) <= tol, `${what}: got ${got}, want ${want} ± ${tol}`);

test('mixture denoiser is Tweedie: D = x + sigma^2 grad log p(x; sigma) (finite differences)', () => {
  const mix = conformanceMixture16;
  const rng = createRng(3);
  for (const sigma of [0.05, 0.7, 4]) {
    const x = sampleMixture(mix, 4, rng);
    for (let i = 0; i < x.data.length; i++) x.data[i] = x.data[i]! + sigma * rng.normal();
    const D = mixtureDenoise(mix, x, sigma);
    for (let r = 0; r < 4; r++) {
      for (const j of [0, 7, 15]) {
        const h = 1e-5 * Math.max(1, sigma);
        const plus = Float64Array.from(x.data.subarray(r * 16, r * 16 + 16));
        const minus = Float64Array.from(plus);
        plus[j] = plus[j]! + h;
        minus[j] = minus[j]! - h;
        const grad = (mixtureLogDensity(mix, plus, 1, sigma)[0]! - mixtureLogDensity(mix, minus, 1, sigma)[0]!) / (2 * h);
        const want = x.data[r * 16 + j]! + sigma * sigma * grad;
        close(D.data[r * 16 + j]!, want, 1e-5 * Math.max(1, sigma * sigma), `sigma ${sigma} row ${r} dim ${j}`);
      }
    }
  }
});

test('per-row sigmas give the same answer as one call per sigma, and the dtype is kept', () => {
  const mix = testbed('gmm2d-8x8').mixture;
  const x: Tensor = { data: Float32Array.from([0.1, 0.2, -0.5, 0.9, 0.3, 0.3]), shape: [3, 2] };
  const rows = mixtureDenoise(mix, x, [0.01, 0.3, 5]);
  assert.ok(rows.data instanceof Float32Array);
  [0.01, 0.3, 5].forEach((s, r) => {
    const one = mixtureDenoise(mix, { data: Float64Array.from(x.data.subarray(r * 2, r * 2 + 2)), shape: [1, 2] }, s);
    close(rows.data[r * 2]!, one.data[0]!, 1e-6, `row ${r}`);
  });
});

test('mixture log density normalises (Gaussian case) and NLL of true samples is the entropy', () => {
  const c = 0.5;
  const d = 3;
  const mix = gaussianMixture([[0, 0, 0]], [c]);
  const want = 0.5 * d * Math.log(2 * Math.PI * Math.E * c * c);
  const xs = sampleMixture(mix, 20000, createRng(11));
  const nll = meanNll(mix, xs);
  assert.ok(Math.abs(nll.value - want) < 4 * nll.stderr, `NLL ${nll.value} vs entropy ${want} (se ${nll.stderr})`);
  close(mixtureLogDensity(mix, [0, 0, 0], 1, 0)[0]!, -0.5 * d * Math.log(2 * Math.PI * c * c), 1e-12, 'log p(0)');
});

test('presented as SD1.5: exact on table sigmas, timestep-quantised off them; eps and v agree on the table', async () => {
  const ms = modelSampling('sd15');
  const exact = (x: Tensor, s: ArrayLike<number>): Tensor => mixtureDenoise(conformanceMixture16, x, s);
  const x = sampleMixture(conformanceMixture16, 3, createRng(2));
  const noise = createRng(9);
  for (let i = 0; i < x.data.length; i++) x.data[i] = x.data[i]! + 2 * noise.normal();
  const onTable = ms.sigma(600);
  const between = Math.sqrt(ms.sigma(600) * ms.sigma(601));
  const truthOn = mixtureDenoise(conformanceMixture16, x, onTable);
  const truthOff = mixtureDenoise(conformanceMixture16, x, between);
  for (const prediction of ['eps', 'v'] as const) {
    const model = presentAsModel(exact, ms, prediction);
    const on = await model.rowDenoiser(x, new Float64Array(3).fill(onTable));
    assert.ok(rmse(on, truthOn) < 1e-9, `${prediction}: a table sigma gives the exact posterior mean (${rmse(on, truthOn)})`);
    const off = await model.denoiser(x, between);
    const err = rmse(off, truthOff);
    assert.ok(err > 1e-7 && err < 0.05, `${prediction}: an off-table sigma sees the integer timestep (error ${err})`);
  }
});

test('flow presentation: D_flow(x, s) = D(x / (1 - s); s / (1 - s))', async () => {
  const exact = (x: Tensor, s: ArrayLike<number>): Tensor => mixtureDenoise(conformanceMixture16, x, s);
  const flow = presentAsModel(exact, modelSampling('sd3'), 'flow');
  const x = sampleMixture(conformanceMixture16, 2, createRng(5));
  const s = 0.6;
  const got = await flow.denoiser(x, s);
  const want = mixtureDenoise(conformanceMixture16, { data: Float64Array.from(x.data, (v) => v / (1 - s)), shape: x.shape }, s / (1 - s));
  assert.ok(rmse(got, want) < 1e-12);
});

test('ODE reference: matches the Gaussian closed form and moves little when the tolerance is halved', async () => {
  const c = 0.5;
  const mix = gaussianMixture([[0, 0]], [c]);
  const den = async (x: Tensor, s: number): Promise<Tensor> => mixtureDenoise(mix, x, s);
  const xT: Tensor = { data: Float64Array.from([80, -40, 12, 7]), shape: [2, 2] };
  const ref = await solveProbabilityFlow(den, xT, 80, { rtol: 1e-8 });
  // x(sigma) = x_T sqrt((sigma^2 + c^2)/(80^2 + c^2)); D at sigma_end -> c^2/(sigma^2+c^2) x
  const se = 1e-5;
  for (let i = 0; i < 4; i++) {
    const xEnd = xT.data[i]! * Math.sqrt((se * se + c * c) / (80 * 80 + c * c));
    close(ref.xEnd.data[i]!, xEnd, 1e-7 * Math.abs(xEnd), `x(sigma_end)[${i}]`);
    close(ref.x0.data[i]!, (xEnd * c * c) / (se * se + c * c), 1e-7 * Math.abs(xEnd), `x0[${i}]`);
  }
  const tb = testbed('gmm2d-6x6');
  const x = { data: createRng(1).normals(64 * 2).map((v) => v * 80), shape: [64, 2] };
  const a = await solveProbabilityFlow(tb.denoiser, x, 80, { rtol: 1e-7 });
  const b = await solveProbabilityFlow(tb.denoiser, x, 80, { rtol: 5e-8 });
  assert.ok(rmse(a.x0, b.x0) < 1e-5, `halving the tolerance moved the endpoint by ${rmse(a.x0, b.x0)}`);
});

test('sliced W2: zero for identical sets, |m|/sqrt(d) for a shift by m', () => {
  const xs = sampleMixture(conformanceMixture16, 500, createRng(4));
  close(slicedWasserstein2(xs, xs, 16, 32, createRng(1)), 0, 1e-12, 'identical');
  const shifted = { data: Float64Array.from(xs.data, (v, i) => v + (i % 16 === 3 ? 2 : 0)), shape: xs.shape };
  close(slicedWasserstein2(xs, shifted, 16, 4000, createRng(1)), 2 / 4, 0.02, 'shift of 2 along one axis');
});

test('exact Gaussian KL of any sampler matches the closed forms (Euler; euler_ancestral = stochastic DDIM)', async () => {
  const c = 0.5;
  const asc = edmSchedule(0.002, 80, 10);
  const desc = Array.from(asc).reverse();
  const run = (name: string) => (d: any, x: Tensor, s: ArrayLike<number>, o?: any) => sample(name, d, x, s, o);
  const start = 80 * 80 + c * c;
  close(await gaussianSamplerKl(run('euler'), desc, c, 1, { startVariance: start }), gaussianEulerKl(asc, c), 1e-10, 'euler');
  close(await gaussianSamplerKl(run('euler_ancestral'), desc, c, 1, { startVariance: start }), gaussianStochasticDdimKl(asc, c), 1e-10, 'euler_ancestral');
  close(gaussianEulerKl(asc, c), 0.098, 0.001, 'spec value');
});

test('testbed registry: names, bad names and schedule specs give clear errors', () => {
  for (const n of ['gaussian', 'gmm2d-8x8', 'gmm2d-8x4', 'gmm2d-6x6', 'gmm16', 'gmm16-sd15']) assert.ok(testbedNames.includes(n));
  assert.throws(() => testbed('nope'), /unknown testbed "nope"; valid testbeds: gaussian/);
  assert.equal(testbed('gmm2d-8x4').mixture.stds.length, 32);
  const tb = testbed('gmm2d-8x8');
  assert.throws(() => scheduleFor('custom:/nonexistent.json', tb, 10, 'euler'), /cannot read schedule file/);
  assert.throws(() => scheduleFor('beta', tb, 10, 'euler', 'sigma-min'), /no sigma-min form/);
  const k = scheduleFor('karras', tb, 6, 'euler', 'sigma-min');
  assert.equal(k.length, 7);
  close(k[0]!, 80, 0, 'sigma max');
  close(k[6]!, 0.002, 1e-15, 'sigma min');
});
