import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  modelSampling,
  modelSamplingNames,
  discreteModelSampling,
  edmModelSampling,
  flowModelSampling,
  fluxModelSampling,
  fluxShiftForResolution,
  makeBetas,
  alphasCumprod,
  type DiscreteModelSampling,
} from '../src/model-sampling/index.js';

const dir = process.env.AYS_CONFORMANCE_DIR ?? join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'comfyui');
const data = JSON.parse(readFileSync(join(dir, 'model_sampling.json'), 'utf8')).model_sampling;

test('sd15 discrete tables equal ComfyUI bit for bit (betas, alphas_cumprod, float64 and float32 sigmas, log sigmas)', () => {
  const sd = data.sd15_discrete;
  const ms = modelSampling('sd15') as DiscreteModelSampling;
  const betas = makeBetas('scaled_linear', 1000, 0.00085, 0.012);
  assert.deepEqual(Array.from(betas), sd.betas_float64);
  assert.deepEqual(Array.from(alphasCumprod(betas)), sd.alphas_cumprod_float64);
  assert.deepEqual(Array.from(ms.sigmasFloat64), sd.sigmas_float64);
  assert.deepEqual(Array.from(ms.sigmas), sd.sigmas);
  assert.deepEqual(Array.from(ms.logSigmas), sd.log_sigmas);
  assert.equal(ms.sigmaMin, sd.sigma_min);
  assert.equal(ms.sigmaMax, sd.sigma_max);
  assert.deepEqual(Array.from((modelSampling('sdxl') as DiscreteModelSampling).sigmas), sd.sigmas);
});

test('sd15 conversions: timestep(sigma), sigma(t), sigma at integers, percentToSigma (all exact)', () => {
  const c = data.sd15_discrete.conversions;
  const ms = modelSampling('sd15');
  for (const r of c.timestep_of_sigma) {
    const t = ms.timestep(r.sigma);
    assert.ok(Number.isInteger(t));
    assert.equal(t, r.timestep, `timestep(${r.sigma})`);
  }
  for (const r of c.sigma_of_timestep) assert.equal(ms.sigma(r.timestep), r.sigma, `sigma(${r.timestep})`);
  c.sigma_of_integer_timesteps.timesteps.forEach((t: number, i: number) => assert.equal(ms.sigma(t), c.sigma_of_integer_timesteps.sigmas[i]));
  for (const r of c.percent_to_sigma) assert.equal(ms.percentToSigma(r.percent), r.sigma, `percentToSigma(${r.percent})`);
});

test('svd continuous EDM: table, ends, conversions (all exact)', () => {
  const sv = data.svd_continuous_edm;
  const ms = modelSampling('svd');
  assert.equal(ms.kind, 'edm');
  assert.deepEqual(Array.from(ms.sigmas!), sv.sigmas);
  assert.equal(ms.sigmaMin, sv.sigma_min);
  assert.equal(ms.sigmaMax, sv.sigma_max);
  assert.equal(ms.sigmaData, 1);
  for (const r of sv.conversions.timestep_of_sigma) assert.equal(ms.timestep(r.sigma), r.timestep);
  for (const r of sv.conversions.sigma_of_timestep) assert.equal(ms.sigma(r.timestep), r.sigma);
  for (const r of sv.conversions.percent_to_sigma) assert.equal(ms.percentToSigma(r.percent), r.sigma);
});

test('presets: names, kinds, ranges', () => {
  assert.deepEqual([...modelSamplingNames], ['sd15', 'sdxl', 'svd', 'sd3', 'flux', 'deepfloyd-if']);
  const sd3 = modelSampling('sd3');
  assert.equal(sd3.kind, 'flow');
  assert.equal(sd3.sigmaMax, 1);
  // shift 3: sigma(t) = 3u / (1 + 2u), u = t/1000
  assert.ok(Math.abs(sd3.sigma(500) - 0.75) < 1e-7);
  assert.ok(Math.abs(sd3.sigmaMin - 0.003 / 1.002) < 1e-8);
  assert.equal(sd3.timestep(0.5), 500);
  assert.ok(Math.abs(sd3.percentToSigma(0.5) - 0.75) < 1e-12);
  const flux = modelSampling('flux');
  assert.equal(flux.kind, 'flow');
  assert.ok(Math.abs(flux.sigma(0.5) - Math.exp(1.15) / (Math.exp(1.15) + 1)) < 1e-7);
  assert.equal(flux.sigmas!.length, 10000);
  assert.ok(Math.abs(fluxShiftForResolution(1024, 1024) - 1.15) < 1e-12);
  assert.ok(Math.abs(fluxShiftForResolution(256, 256) - 0.5) < 1e-12);
  const df = modelSampling('deepfloyd-if') as DiscreteModelSampling;
  // the paper's Table 3 values at the AYS timesteps
  assert.equal(df.sigmas[995]!.toFixed(2), '160.41');
  assert.equal(df.sigmas[0]!.toFixed(4), '0.0064');
  assert.throws(() => modelSampling('sd2'), /unknown model "sd2"; valid models: sd15, sdxl, svd, sd3, flux, deepfloyd-if/);
});

test('discrete sampling behaviour: clamping, monotone timesteps, v-prediction, zero terminal SNR, custom betas', () => {
  const ms = modelSampling('sd15');
  assert.equal(ms.sigma(-5), ms.sigma(0));
  assert.equal(ms.sigma(2000), ms.sigma(999));
  assert.equal(ms.timestep(1e6), 999);
  assert.equal(ms.timestep(0), 0);
  let last = -1;
  for (let s = 0.03; s < 14.6; s *= 1.1) {
    const t = ms.timestep(s);
    assert.ok(t >= last);
    last = t;
  }
  const v = discreteModelSampling({ prediction: 'v' });
  assert.equal(v.prediction, 'v');
  assert.deepEqual(v.sigmas, (ms as DiscreteModelSampling).sigmas);
  const z = discreteModelSampling({ zeroTerminalSnr: true });
  assert.ok(z.sigmaMax > 4000 && z.sigmaMax < 5000, `zsnr sigma_max ${z.sigmaMax}`);
  assert.ok(Math.abs(z.sigmaMin - ms.sigmaMin) < 1e-6, 'zsnr keeps the first sigma');
  const lin = discreteModelSampling({ betaSchedule: 'linear', linearStart: 0.0001, linearEnd: 0.02 });
  assert.ok(lin.sigmaMax > 100 && lin.sigmaMax < 200, `DDPM linear sigma_max ${lin.sigmaMax}`);
  assert.throws(() => discreteModelSampling({ betaSchedule: 'quadratic' as never }), /unknown beta schedule "quadratic"/);
  assert.throws(() => discreteModelSampling({ linearStart: -1 }), /linearStart must be in \(0, 1\)/);
  assert.throws(() => ms.sigma(NaN), /NaN/);
  assert.throws(() => ms.timestep(NaN), /sigma must be a non-negative number/);
  assert.throws(() => edmModelSampling({ sigmaMin: 5, sigmaMax: 1 }), /0 < sigmaMin < sigmaMax/);
  assert.throws(() => flowModelSampling({ shift: 0 }), /shift must be a positive number/);
  assert.throws(() => fluxModelSampling({ shift: NaN }), /finite/);
});
