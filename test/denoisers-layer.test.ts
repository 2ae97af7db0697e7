import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelSampling, discreteModelSampling, edmModelSampling, flowModelSampling } from '../src/model-sampling/index.js';
import { guidedModelDenoiser, modelDenoiser, initialLatent } from '../src/denoisers/model.js';
import { torchRandn } from '../src/noise/torch-randn.js';
import { sample } from '../src/samplers/sample.js';
import type { Tensor } from '../src/tensor/tensor.js';

const T = (v: number[], shape = [1, v.length]): Tensor => ({ data: Float64Array.from(v), shape });
const close = (got: ArrayLike<number>, want: number[], what: string) => {
  assert.equal(got.length, want.length, what);
  want.forEach((w, i) => assert.ok(Math.abs(got[i]! - w) <= 1e-15 * Math.max(1, Math.abs(w)), `${what}[${i}]: ${got[i]} vs ${w}`));
};

test('eps (sd15): c_in = 1/sqrt(1 + s^2), x0 = x - s out, KSampler noise scaling, identity inverse', () => {
  const ms = modelSampling('sd15');
  close(ms.calculateInput(2, T([3, 4])).data, [3 / Math.sqrt(5), 4 / Math.sqrt(5)], 'input');
  close(ms.calculateDenoised(2, T([1, -1]), T([3, 4])).data, [1, 6], 'denoised');
  close(ms.noiseScaling(2, T([1, 2]), T([0.5, 0.5]), true).data, [Math.sqrt(5) + 0.5, 2 * Math.sqrt(5) + 0.5], 'max denoise');
  close(ms.noiseScaling(2, T([1, 2]), T([0.5, 0.5]), false).data, [2.5, 4.5], 'partial denoise');
  close(ms.noiseScaling(2, T([1, 2]), null, false).data, [2, 4], 'no latent');
  close(ms.inverseNoiseScaling(2, T([7, -3])).data, [7, -3], 'inverse');
});

test('v (discrete v, sigma_data 1): x0 = x / (s^2 + 1) - out s / sqrt(s^2 + 1)', () => {
  const ms = discreteModelSampling({ prediction: 'v' });
  close(ms.calculateDenoised(1, T([1, 0]), T([2, 2])).data, [1 - Math.SQRT1_2, 1], 'sigma 1');
  close(ms.calculateDenoised(3, T([2]), T([5])).data, [0.5 - 6 / Math.sqrt(10)], 'sigma 3');
  close(ms.calculateInput(3, T([5])).data, [5 / Math.sqrt(10)], 'input');
});

test('edm (sigma_data 0.5): c_in = 1/sqrt(s^2 + sd^2), x0 = c_skip x + c_out out with a plus sign', () => {
  const ms = edmModelSampling({ prediction: 'edm', sigmaData: 0.5 });
  // s = 0.5: s^2 + sd^2 = 0.5, c_skip = 0.25 / 0.5 = 0.5, c_out = 0.25 / sqrt(0.5) = sqrt(0.125)
  close(ms.calculateInput(0.5, T([2])).data, [2 * Math.SQRT2], 'input');
  close(ms.calculateDenoised(0.5, T([1]), T([2])).data, [1 + Math.sqrt(0.125)], 'denoised');
  // svd's v-prediction: same c_skip, minus c_out
  const svd = modelSampling('svd');
  close(svd.calculateDenoised(1, T([1]), T([2])).data, [1 - Math.SQRT1_2], 'svd v');
});

test('flow (sd3): input unchanged, x0 = x - s v, s noise + (1 - s) latent, inverse divides by 1 - s', () => {
  const ms = modelSampling('sd3');
  close(ms.calculateInput(0.25, T([0.8, -2])).data, [0.8, -2], 'input');
  close(ms.calculateDenoised(0.25, T([0.4, 1]), T([0.8, -2])).data, [0.7, -2.25], 'denoised');
  close(ms.noiseScaling(0.25, T([1, -1]), T([2, 4]), true).data, [1.75, 2.75], 'noise scaling (max)');
  close(ms.noiseScaling(0.25, T([1, -1]), T([2, 4]), false).data, [1.75, 2.75], 'noise scaling (partial)');
  close(ms.inverseNoiseScaling(0.25, T([1.5, -3])).data, [2, -4], 'inverse');
  assert.throws(() => ms.inverseNoiseScaling(1, T([1])), /no data part/);
  assert.throws(() => ms.calculateInput(NaN, T([1])), /calculateInput: sigma must be a finite non-negative number, got NaN/);
  assert.throws(() => ms.calculateDenoised(1, T([1, 2]), T([1])), /the model output has shape \[1, 2\] but x has shape \[1, 1\]/);
});

test('initialLatent is ms.noiseScaling with ComfyUI max_denoise, in the noise dtype', () => {
  const sd = modelSampling('sd15');
  const noise: Tensor = { data: new Float32Array([1, -2]), shape: [1, 2] };
  const a = initialLatent(noise, sd.sigmaMax, sd);
  assert.ok(a.data instanceof Float32Array);
  assert.deepEqual(Array.from(a.data), [1, -2].map((v) => Math.fround(v * Math.sqrt(1 + sd.sigmaMax ** 2))));
  const b = initialLatent(noise, 3, sd, { data: new Float32Array([0.5, 0.5]), shape: [1, 2] });
  assert.deepEqual(Array.from(b.data), [3.5, -5.5]);
  const f = initialLatent(noise, 0.5, flowModelSampling({ shift: 3 }), { data: new Float32Array([2, 2]), shape: [1, 2] });
  assert.deepEqual(Array.from(f.data), [1.5, 0]);
});

// --- the two pipelines' arithmetic, written out as they compute it today, against the layer ---

const B = 2, PER = 48, N = B * PER;
const shape = [B, 3, 4, 4];
const xs = torchRandn(1, [N]).data, rawU = torchRandn(2, [N]).data, rawC = torchRandn(3, [N]).data;

test('float64 precision reproduces the Stable Diffusion pipeline (eps and v, cond+uncond in one call) bit for bit', async () => {
  for (const prediction of ['eps', 'v'] as const) {
    const ms = discreteModelSampling({ prediction });
    for (const [sigma, scale] of [[14.614641189575195, 7.5], [0.6, 3.3], [0.029167519, 1.7]] as const) {
      let fed: Float32Array | null = null, seenT = NaN;
      const guided = guidedModelDenoiser(ms, async (xIn, t) => {
        fed = Float32Array.from(xIn.data); // the pipeline rounds the float64 input into its float32 feed
        seenT = t;
        return { uncond: { data: rawU, shape }, cond: { data: rawC, shape } };
      }, scale);
      const x: Tensor = { data: Float32Array.from(xs), shape };
      const out = await guided(x, sigma);
      // the pipeline's own loop (stable-diffusion.ts before the move)
      const cIn = 1 / Math.sqrt(sigma * sigma + 1);
      const a = prediction === 'v' ? 1 / (sigma * sigma + 1) : 1, b = prediction === 'v' ? sigma * cIn : sigma;
      const wantIn = new Float32Array(N), want = new Float32Array(N), wantU = new Float32Array(N);
      for (let i = 0; i < N; i++) {
        wantIn[i] = x.data[i]! * cIn;
        const ax = a * x.data[i]!;
        const u = ax - b * rawU[i]!, c = ax - b * rawC[i]!;
        wantU[i] = u;
        want[i] = u + (c - u) * scale;
      }
      assert.deepEqual(fed, wantIn, `${prediction} input at ${sigma}`);
      assert.equal(seenT, ms.timestep(sigma));
      assert.ok(out.data instanceof Float32Array);
      assert.deepEqual(out.data, want, `${prediction} x0 at ${sigma}`);
      assert.deepEqual(guided.lastUncond!.data, wantU, `${prediction} uncond at ${sigma}`);
    }
  }
});

test('float32 precision reproduces the class-conditional pipeline (torch float32 ops, per-row sigmas) bit for bit', async () => {
  const ms = modelSampling('sd15');
  const scale = 3.1;
  let fed: Float32Array | null = null, rowT: readonly number[] | undefined;
  const guided = guidedModelDenoiser(ms, async (xIn, _t, ts) => {
    assert.ok(xIn.data instanceof Float32Array);
    fed = xIn.data;
    rowT = ts;
    return { uncond: { data: rawU, shape }, cond: { data: rawC, shape } };
  }, scale, { precision: 'float32' });
  const x: Tensor = { data: Float64Array.from(xs), shape };
  const sigmas = [5.123456789, 0.3];
  const out = await guided.rows(x, sigmas);
  // the pipeline's own loop (class-conditional.ts before the move)
  const f32 = Math.fround;
  const wantIn = new Float32Array(N), want = new Float64Array(N), wantU = new Float64Array(N);
  for (let r = 0; r < B; r++) {
    const sr = f32(sigmas[r]!);
    const cIn = f32(Math.sqrt(f32(f32(sr * sr) + 1)));
    for (let i = r * PER; i < (r + 1) * PER; i++) {
      wantIn[i] = f32(f32(x.data[i]!) / cIn);
      const xi = f32(x.data[i]!);
      const cond = f32(xi - f32(rawC[i]! * sr));
      const u = f32(xi - f32(rawU[i]! * sr));
      wantU[i] = u;
      want[i] = f32(u + f32(f32(cond - u) * scale));
    }
  }
  assert.deepEqual(fed, wantIn);
  assert.deepEqual(rowT, sigmas.map((s) => ms.timestep(f32(s))));
  assert.ok(out.data instanceof Float64Array, 'the result has x dtype');
  assert.deepEqual(out.data, want);
  assert.deepEqual(Array.from(guided.lastUncond!.data), Array.from(wantU));
  assert.equal(guided.calls, 1);
});

test('guidedModelDenoiser: no uncond = the cond prediction and lastUncond null; cfg_pp samplers read lastUncond', async () => {
  const ms = modelSampling('sd15');
  const eps = (x: Tensor): Tensor => ({ data: x.data.map((v) => 0.1 * v), shape: [...x.shape] });
  const single = modelDenoiser(ms, async (xIn) => eps(xIn));
  const pair = guidedModelDenoiser(ms, async (xIn) => ({ cond: eps(xIn), uncond: null }), 5);
  const x: Tensor = { data: Float32Array.from(xs.slice(0, 8)), shape: [1, 8] };
  assert.deepEqual((await pair(x, 2)).data, (await single(x, 2)).data);
  assert.equal(pair.lastUncond, null);
  assert.equal(single.calls, 1);
  const sigmas = [14.6, 5, 2, 0.8, 0.2, 0];
  const guided = guidedModelDenoiser(ms, async (xIn) => ({ cond: eps(xIn), uncond: { data: xIn.data.map((v) => -0.05 * v), shape: [...xIn.shape] } }), 2);
  const withPp = await sample('euler_cfg_pp', guided, x, sigmas);
  const plain = await sample('euler', guided, x, sigmas);
  assert.notDeepEqual(withPp.data, plain.data, 'cfg_pp uses the uncond prediction');
  assert.equal(guided.calls, 10);
  await assert.rejects(sample('euler_cfg_pp', pair, x, sigmas), /needs a guided denoiser that exposes the unconditional prediction/);
  assert.throws(() => guidedModelDenoiser(ms, async (xIn) => ({ cond: xIn, uncond: null }), NaN), /scale must be a finite number/);
  await assert.rejects(single.rows(x, [1, 2]), /2 sigmas for 1 batch rows/);
});
