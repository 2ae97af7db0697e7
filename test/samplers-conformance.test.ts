import { test } from 'node:test';
import assert from 'node:assert/strict';
import { assertCallbackStream } from './conformance-helpers.js';
import { readFileSync } from 'node:fs';
import { SAMPLERS, samplerNames } from '../src/samplers/registry.js';
import { gaussianMixtureDenoiser } from '../src/denoisers/gaussian-mixture.js';
import { cfg } from '../src/denoisers/cfg.js';
import { replayNoise } from '../src/noise/sources.js';
import type { Tensor } from '../src/tensor/tensor.js';
import type { Denoiser } from '../src/samplers/types.js';

const fixture = new URL('../../test/fixtures/comfyui/samplers_ays10.json', import.meta.url);
const data = JSON.parse(readFileSync(fixture, 'utf8')) as {
  sampler_names: string[];
  distribution: { means: number[][]; stds: number[]; weights_cond: number[]; weights_uncond: number[]; cfg_scale: number };
  runs: Array<{
    sampler: string;
    hyperparameters: Record<string, unknown>;
    sigmas: number[];
    x_init: number[][];
    noise_draws: Array<{ noise: number[][] }>;
    model_calls_sigma: number[];
    nfe: number;
    output: number[][];
    callbacks: Array<{ i: number; sigma?: number; sigma_hat?: number; x: number[][]; denoised: number[][] }>;
  }>;
};

const num = (v: unknown): unknown => (v === 'Infinity' || v === '-Infinity' || v === 'NaN' ? Number(v) : v);
const T = (rows: number[][]): Tensor => ({ data: Float64Array.from(rows.flat()), shape: [rows.length, rows[0]!.length] });

// Tolerances from the issue: 1e-9 relative; deis and er_sde 1e-6 (ComfyUI computes parts of them in float32).
const TOLERANCE: Record<string, number> = { deis: 1e-6, er_sde: 1e-6 };

// Samplers that do not match ComfyUI yet (reported to the lead; see the closing note). They are still run
// and must not match silently: the test asserts the known state so a fix shows up.
const KNOWN_MISMATCH = new Set<string>([]);
const NOT_IMPLEMENTED = new Set<string>([]);

test('the registry covers ComfyUI sampler names (minus the ones not implemented yet)', () => {
  for (const name of data.sampler_names) {
    if (NOT_IMPLEMENTED.has(name)) continue;
    assert.ok(samplerNames.includes(name), `missing sampler ${name}`);
  }
});

for (const run of data.runs) {
  if (NOT_IMPLEMENTED.has(run.sampler)) continue;
  test(`conformance: ${run.sampler} replays ComfyUI's run`, async () => {
    const info = SAMPLERS.find((s) => s.name === run.sampler)!;
    const d = data.distribution;
    const cond = gaussianMixtureDenoiser({ means: d.means, stds: d.stds, weights: d.weights_cond });
    const uncond = gaussianMixtureDenoiser({ means: d.means, stds: d.stds, weights: d.weights_uncond });
    const guided = cfg(cond, uncond, d.cfg_scale);
    const calls: number[] = [];
    const inner: Denoiser = info.needsUncond ? guided : cond;
    const denoiser = Object.assign(async (x: Tensor, s: number) => {
      calls.push(s);
      return inner(x, s);
    }, {}) as Denoiser;
    if (info.needsUncond) Object.defineProperty(denoiser, 'lastUncond', { get: () => guided.lastUncond });
    const draws = run.noise_draws.map((n) => T(n.noise));
    const noise = replayNoise(draws);
    const steps: Array<{ i: number; sigma: number; sigmaHat: number; x: number[]; denoised: number[] }> = [];
    const options: Record<string, unknown> = {
      noise,
      onStep: (s: { i: number; sigma: number; sigmaHat: number; x: Tensor; denoised: Tensor }) =>
        steps.push({ i: s.i, sigma: s.sigma, sigmaHat: s.sigmaHat, x: Array.from(s.x.data), denoised: Array.from(s.denoised.data) }),
    };
    for (const [k, v] of Object.entries(run.hyperparameters)) options[k] = num(v);
    const out = await info.sampler(denoiser, T(run.x_init), run.sigmas, options);
    const ref = run.output.flat();
    let maxDiff = 0, maxRef = 0;
    for (let i = 0; i < ref.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(out.data[i]! - ref[i]!));
      maxRef = Math.max(maxRef, Math.abs(ref[i]!));
    }
    const rel = maxDiff / maxRef;
    const tol = TOLERANCE[run.sampler] ?? 1e-9;
    if (KNOWN_MISMATCH.has(run.sampler)) {
      assert.ok(rel > tol, `${run.sampler} now matches (${rel}); move it out of KNOWN_MISMATCH`);
      return;
    }
    assert.ok(rel <= tol, `${run.sampler}: max relative error ${rel} > ${tol}`);
    assert.equal(calls.length, run.nfe, 'number of model calls');
    run.model_calls_sigma.forEach((s, i) => {
      assert.ok(Math.abs(calls[i]! - s) <= 1e-12 * s, `model call ${i}: sigma ${calls[i]} vs ${s}`);
    });
    assert.equal(noise.used, draws.length, 'every recorded noise draw is consumed');
    // the callback stream: step index, sigma, sigma_hat, x and denoised of every ComfyUI callback
    assertCallbackStream(steps, run.callbacks, tol);
  });
}
