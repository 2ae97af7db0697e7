// Every ComfyUI sampler on a flow-matching (SD3, CONST) model sampling, replayed against ComfyUI's own runs
// (test/fixtures/comfyui/samplers_flow_sd3.json, copied from ../shared/conformance; see its README section
// "Flow-matching sampler runs"): same start, sigmas and recorded noise; same output, model-call sigmas and
// callback stream as ComfyUI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertCallbackStream } from './conformance-helpers.js';
import { readFileSync } from 'node:fs';
import { SAMPLERS, samplerNames } from '../src/samplers/registry.js';
import { sample } from '../src/samplers/sample.js';
import { cfg } from '../src/denoisers/cfg.js';
import { gaussianMixtureDenoiser } from '../src/denoisers/gaussian-mixture.js';
import { replayNoise } from '../src/noise/sources.js';
import { modelSampling } from '../src/model-sampling/index.js';
import { simpleOrder2Coefficients, stochasticAdamsCoefficients } from '../src/samplers/sa-solver.js';
import type { Tensor } from '../src/tensor/tensor.js';
import type { Denoiser, SamplerOptions, StepInfo } from '../src/samplers/types.js';

const fixture = new URL('../../test/fixtures/comfyui/samplers_flow_sd3.json', import.meta.url);
interface Run {
  sampler: string;
  hyperparameters: Record<string, unknown>;
  sigmas: number[];
  x_init: number[][];
  noise_draws: Array<{ source: string; args: unknown; noise: number[][] }>;
  model_calls_sigma: number[];
  nfe: number;
  output: number[][];
  callbacks: Array<{ i: number; sigma?: number; sigma_hat?: number; x: number[][]; denoised: number[][] }>;
  flow_helpers_called: string[];
  first_sigma_offset_to?: number;
  same_output_with_eps_model_sampling: boolean;
}
const data = JSON.parse(readFileSync(fixture, 'utf8')) as {
  sampler_names: string[];
  sigmas: number[];
  initial_noise: number[][];
  distribution: { means: number[][]; stds: number[]; weights_cond: number[]; weights_uncond: number[]; cfg_scale: number };
  model_sampling: { shift: number; sigma_min: number; sigma_max: number; percent_to_sigma: Record<string, number> };
  runs: Run[];
};

const num = (v: unknown): unknown => (v === 'Infinity' || v === '-Infinity' || v === 'NaN' ? Number(v) : v);
const T = (rows: number[][]): Tensor => ({ data: Float64Array.from(rows.flat()), shape: [rows.length, rows[0]!.length] });

/**
 * The exact posterior mean E[x0 | x] of a mixture of isotropic Gaussians under flow noising
 * x = (1 - s) x0 + s n (the README's formula; stable at s = 1), float64, per batch row.
 */
function flowMixtureDenoiser(means: number[][], stds: number[], weights: number[]): Denoiser {
  const K = means.length, D = means[0]!.length;
  return async (x: Tensor, s: number): Promise<Tensor> => {
    const out = new Float64Array(x.data.length);
    const a = 1 - s;
    const V = stds.map((sd) => sd * sd * a * a + s * s);
    const l = new Float64Array(K);
    for (let row = 0; row < x.data.length; row += D) {
      let lmax = -Infinity;
      for (let k = 0; k < K; k++) {
        let sq = 0;
        for (let j = 0; j < D; j++) sq += (x.data[row + j]! - a * means[k]![j]!) ** 2;
        l[k] = Math.log(weights[k]!) - (D / 2) * Math.log(V[k]!) - sq / (2 * V[k]!);
        lmax = Math.max(lmax, l[k]!);
      }
      let z = 0;
      for (let k = 0; k < K; k++) z += (l[k] = Math.exp(l[k]! - lmax));
      for (let j = 0; j < D; j++) {
        let acc = 0;
        for (let k = 0; k < K; k++) {
          const mu = means[k]![j]!;
          acc += (l[k]! / z) * (mu + (stds[k]! ** 2 * a * (x.data[row + j]! - a * mu)) / V[k]!);
        }
        out[row + j] = acc;
      }
    }
    return { data: out, shape: [...x.shape] };
  };
}

// Tolerances as for the SD1.5 runs: 1e-9 relative; deis and er_sde 1e-6 (ComfyUI computes parts of them in float32).
const TOLERANCE: Record<string, number> = { deis: 1e-6, er_sde: 1e-6 };

const sd3 = modelSampling('sd3');
const d = data.distribution;
const cond = flowMixtureDenoiser(d.means, d.stds, d.weights_cond);
const uncondD = flowMixtureDenoiser(d.means, d.stds, d.weights_uncond);

interface Replay {
  out: Tensor;
  calls: number[];
  steps: Array<{ i: number; sigma: number; sigmaHat: number; x: number[]; denoised: number[] }>;
  used: number;
  draws: number;
}

/** Run `run`'s sampler through sample() with its recorded noise; `ms` is the model sampling passed (or none). */
async function replay(run: Run, ms: typeof sd3 | undefined): Promise<Replay> {
  const info = SAMPLERS.find((s) => s.name === run.sampler)!;
  // the model calls are counted on the conditional prediction, which every sampler evaluates once per call
  const calls: number[] = [];
  const counted: Denoiser = (x, s) => {
    calls.push(s);
    return cond(x, s);
  };
  const denoiser = info.needsUncond ? cfg(counted, uncondD, d.cfg_scale) : counted;
  // dpm_fast/dpm_adaptive draw from ComfyUI's own default stream and multiply it by su = 0: skipped (README)
  const draws = run.noise_draws.filter((n) => n.source !== 'default_noise_sampler').map((n) => T(n.noise));
  const noise = replayNoise(draws);
  const steps: Replay['steps'] = [];
  const options: SamplerOptions = {
    noise,
    onStep: (s: StepInfo) =>
      steps.push({ i: s.i, sigma: s.sigma, sigmaHat: s.sigmaHat, x: Array.from(s.x.data), denoised: Array.from(s.denoised.data) }),
  };
  if (ms) options.modelSampling = ms;
  for (const [k, v] of Object.entries(run.hyperparameters)) options[k] = num(v);
  const sigmas = run.sigmas.slice();
  const out = await sample(run.sampler, denoiser, T(run.x_init), sigmas, options);
  assert.deepEqual(sigmas, run.sigmas, 'the caller\'s sigmas are left as they were');
  return { out, calls, steps, used: noise.used, draws: draws.length };
}

function maxRelative(out: Tensor, ref: number[]): number {
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < ref.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(out.data[i]! - ref[i]!));
    maxRef = Math.max(maxRef, Math.abs(ref[i]!));
  }
  return maxDiff / maxRef;
}

test('the flow fixture is the SD3 model sampling ays builds', () => {
  assert.deepEqual(data.sampler_names, samplerNames);
  assert.equal(sd3.kind, 'flow');
  assert.equal(sd3.sigmaMin, data.model_sampling.sigma_min);
  assert.equal(sd3.sigmaMax, data.model_sampling.sigma_max);
  for (const [p, s] of Object.entries(data.model_sampling.percent_to_sigma)) {
    assert.ok(Math.abs(sd3.percentToSigma(Number(p)) - s) <= 1e-15, `percentToSigma(${p})`);
  }
  // x_init = noise_scaling(sigma0 = 1, noise, empty latent) = noise
  for (const run of data.runs) assert.deepEqual(run.x_init, data.initial_noise);
});

const maxErrors: Record<string, number> = {};

for (const run of data.runs) {
  test(`flow conformance: ${run.sampler} replays ComfyUI's SD3 run`, async () => {
    const r = await replay(run, sd3);
    const rel = maxRelative(r.out, run.output.flat());
    maxErrors[run.sampler] = rel;
    const tol = TOLERANCE[run.sampler] ?? 1e-9;
    assert.ok(rel <= tol, `${run.sampler}: max relative error ${rel} > ${tol}`);
    assert.equal(r.calls.length, run.nfe, 'number of model calls');
    run.model_calls_sigma.forEach((s, i) => {
      assert.ok(Math.abs(r.calls[i]! - s) <= 1e-12 * s, `model call ${i}: sigma ${r.calls[i]} vs ${s}`);
    });
    if (run.first_sigma_offset_to !== undefined) assert.equal(r.calls[0], run.first_sigma_offset_to, 'first sigma offset');
    assert.equal(r.used, r.draws, 'every recorded noise draw is consumed');
    assertCallbackStream(r.steps, run.callbacks, tol);
  });

  // The flow path is taken exactly where ComfyUI takes one: without the model sampling the sampler runs its
  // eps/VE rules, which give ComfyUI's output for the samplers that have no flow path and a different one
  // for the 21 that have.
  test(`flow conformance: ${run.sampler} without modelSampling runs the eps rules`, async () => {
    const tol = TOLERANCE[run.sampler] ?? 1e-9;
    let rel: number;
    try {
      rel = maxRelative((await replay(run, undefined)).out, run.output.flat());
    } catch (e) {
      // the eps rules on sigma0 = 1 may ask for a different number of noise draws than were recorded
      assert.equal(run.same_output_with_eps_model_sampling, false, `${run.sampler} failed without modelSampling: ${String(e)}`);
      return;
    }
    if (run.same_output_with_eps_model_sampling) assert.ok(rel <= tol, `${run.sampler}: ${rel} > ${tol} without modelSampling`);
    else assert.ok(!(rel <= 1e-6), `${run.sampler} matches ComfyUI's flow run without its flow path (${rel})`);
  });
}

test('flow conformance: per-sampler max relative error', () => {
  const names = Object.keys(maxErrors);
  if (process.env.AYS_PRINT_ERRORS) for (const n of names) console.log(`${n}\t${maxErrors[n]!.toExponential(2)}`);
  assert.equal(names.length, data.runs.length);
});

test('an eps model sampling runs the same arithmetic as no model sampling (all 44 samplers on the SD1.5 runs)', async () => {
  const sd = JSON.parse(readFileSync(new URL('../../test/fixtures/comfyui/samplers_ays10.json', import.meta.url), 'utf8')) as typeof data;
  const dd = sd.distribution;
  const mix = (w: number[]) => gaussianMixtureDenoiser({ means: dd.means, stds: dd.stds, weights: w });
  for (const run of sd.runs) {
    const info = SAMPLERS.find((s) => s.name === run.sampler)!;
    const outs: Tensor[] = [];
    for (const ms of [undefined, modelSampling('sd15')]) {
      const den = info.needsUncond ? cfg(mix(dd.weights_cond), mix(dd.weights_uncond), dd.cfg_scale) : mix(dd.weights_cond);
      const options: SamplerOptions = { noise: replayNoise(run.noise_draws.map((n) => T(n.noise))) };
      if (ms) options.modelSampling = ms;
      for (const [k, v] of Object.entries(run.hyperparameters)) options[k] = num(v);
      outs.push(await sample(run.sampler, den, T(run.x_init), run.sigmas, options));
    }
    assert.deepEqual(Array.from(outs[1]!.data), Array.from(outs[0]!.data), run.sampler);
  }
});

test('flow samplers: bad model sampling or sigmas fail in one line before any model call', async () => {
  let calls = 0;
  const den: Denoiser = async (x) => {
    calls++;
    return x;
  };
  const x = T(data.initial_noise);
  await assert.rejects(sample('euler_ancestral', den, x, data.sigmas, { modelSampling: 'sd3' as unknown as typeof sd3 }), /euler_ancestral: option modelSampling must be a model sampling/);
  for (const name of ['dpmpp_2m_sde', 'er_sde', 'seeds_2', 'sa_solver']) {
    await assert.rejects(
      sample(name, den, x, [1.5, 1, 0.5, 0], { modelSampling: sd3, noise: replayNoise([]) }),
      (e: Error) => e instanceof RangeError && /sigmas\[1\] = 1 is not below 1/.test(e.message) && !e.message.includes('\n'),
    );
  }
  assert.equal(calls, 0);
});

test('sa_solver simple_order_2: the paper\'s simplified order-2 weights, on a flow run too', async () => {
  // both weight sets integrate a constant exactly, and they agree to first order in h
  for (const tau of [0, 1]) {
    for (const h of [0.4, 0.01]) {
      const [lOld, lS, lT, alpha] = [-1.3, -1, -1 + h, 0.7];
      const total = -alpha * Math.expm1(-(1 + tau * tau) * h);
      const p = simpleOrder2Coefficients(lOld, lS, lT, tau, alpha, false), pl = stochasticAdamsCoefficients([lOld, lS], lS, lT, tau, alpha);
      const c = simpleOrder2Coefficients(lS, lS, lT, tau, alpha, true), cl = stochasticAdamsCoefficients([lS, lT], lS, lT, tau, alpha);
      for (const b of [p, pl, c, cl]) assert.ok(Math.abs(b[0]! + b[1]! - total) <= 1e-14, `sum ${b} vs ${total}`);
      assert.ok(Math.abs(p[0]! - pl[0]!) <= 2 * h * Math.abs(pl[0]!), `predictor ${p} vs ${pl}`);
      assert.ok(Math.abs(c[1]! - cl[1]!) <= 2 * h * Math.abs(cl[1]!), `corrector ${c} vs ${cl}`);
    }
  }
  const run = data.runs.find((r) => r.sampler === 'sa_solver')!;
  const plain = await replay(run, sd3);
  const simple = await replay({ ...run, hyperparameters: { ...run.hyperparameters, predictor_order: 2, corrector_order: 2, simple_order_2: true } }, sd3);
  const order2 = await replay({ ...run, hyperparameters: { ...run.hyperparameters, predictor_order: 2, corrector_order: 2 } }, sd3);
  assert.equal(simple.calls.length, plain.calls.length);
  assert.ok(simple.out.data.every(Number.isFinite));
  const rel = maxRelative(simple.out, Array.from(order2.out.data));
  assert.ok(rel > 1e-12 && rel < 0.1, `simple_order_2 is a small change to the order-2 solver (${rel})`);
});
