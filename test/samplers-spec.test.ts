import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sample } from '../src/samplers/sample.js';
import { SAMPLERS, samplerNames, samplerSpec } from '../src/samplers/registry.js';
import { defaultSamplerNoise } from '../src/samplers/default-noise.js';
import { comfyDefaultNoise } from '../src/noise/sources.js';
import { cfg } from '../src/denoisers/cfg.js';
import { gaussianMixtureDenoiser } from '../src/denoisers/gaussian-mixture.js';
import { getSigmas } from '../src/schedules/index.js';
import type { Tensor } from '../src/tensor/tensor.js';
import type { Denoiser, SamplerOptions } from '../src/samplers/types.js';
import type { Run } from '../src/samplers/common.js';
import type { AncestralParams, Dpmpp2mSdeParams } from '../src/samplers/specs.js';

const mixture = { means: [[-1, 0.5, 2, 0], [1.5, -1, 0, 1]], stds: [0.4, 0.7] };
const cond = gaussianMixtureDenoiser({ ...mixture, weights: [0.7, 0.3] });
const uncond = gaussianMixtureDenoiser({ ...mixture, weights: [0.5, 0.5] });
const guided = cfg(cond, uncond, 3);
const denoiserFor = (name: string): Denoiser => (samplerSpec(name).needsUncond ? guided : cond);
const sigmas = [8, 4.1, 2.2, 1.1, 0.45, 0.12, 0];
const x0 = (): Tensor => ({ data: Float64Array.from([0.3, -1.2, 0.8, 2.1, -0.5, 0.9, 1.4, -2.2].map((v) => v * 8)), shape: [2, 4] });

test('the spec table: one spec per name, ComfyUI order, functions bound, the known facts', () => {
  assert.equal(new Set(samplerNames).size, samplerNames.length);
  assert.equal(SAMPLERS.length, 44);
  assert.equal(samplerNames[0], 'euler');
  for (const s of SAMPLERS) {
    assert.equal(typeof s.sampler, 'function', s.name);
    assert.ok(Object.isFrozen(s.defaults), `${s.name} defaults are frozen`);
    assert.equal(s.needsUncond, s.name.endsWith('_cfg_pp'), `${s.name} needsUncond`);
  }
  assert.deepEqual(SAMPLERS.filter((s) => s.discardsPenultimateSigma).map((s) => s.name), ['dpm_2', 'dpm_2_ancestral', 'uni_pc', 'uni_pc_bh2']);
  assert.deepEqual(
    SAMPLERS.filter((s) => s.noise === 'brownian').map((s) => s.name),
    ['dpmpp_sde', 'dpmpp_sde_gpu', 'dpmpp_2m_sde', 'dpmpp_2m_sde_gpu', 'dpmpp_2m_sde_heun', 'dpmpp_2m_sde_heun_gpu', 'dpmpp_3m_sde', 'dpmpp_3m_sde_gpu'],
  );
  assert.equal(samplerSpec('heunpp2').noise, 'normal');
  assert.equal(samplerSpec('heunpp2').stochastic, false);
  assert.throws(() => samplerSpec('eulr'), /unknown sampler "eulr"; known samplers: euler, /);
});

test('the schedules ask the spec which samplers drop the penultimate sigma', () => {
  const plain = getSigmas({ model: 'sd15', scheduler: 'karras', steps: 5 });
  const five1 = getSigmas({ model: 'sd15', scheduler: 'karras', steps: 6 });
  for (const s of SAMPLERS) {
    const got = getSigmas({ model: 'sd15', scheduler: 'karras', steps: 5, sampler: s.name });
    assert.deepEqual(got, s.discardsPenultimateSigma ? [...five1.slice(0, -2), 0] : plain, s.name);
  }
});

test('spec defaults are what the bodies use: passing every default explicitly changes nothing', async () => {
  for (const s of SAMPLERS) {
    const explicit: SamplerOptions = {};
    for (const [k, v] of Object.entries(s.defaults)) if (v !== null) explicit[k] = v;
    const a = await sample(s.name, denoiserFor(s.name), x0(), sigmas, { seed: 3 });
    const b = await sample(s.name, denoiserFor(s.name), x0(), sigmas, { seed: 3, ...explicit });
    assert.deepEqual(Array.from(b.data), Array.from(a.data), s.name);
  }
});

test('a non-default hyperparameter reaches the body (eta, s_noise, r, solver_type, order ...)', async () => {
  for (const s of SAMPLERS) {
    const keys = Object.entries(s.defaults).filter(([, v]) => typeof v === 'number' && v !== 0 && Number.isFinite(v));
    // s_noise only matters where noise is added: with churn, or with eta > 0 (ComfyUI lists it for res_multistep anyway)
    if (keys.length === 0 || s.name === 'res_multistep' || s.name === 'res_multistep_cfg_pp') continue;
    const base: SamplerOptions = { seed: 3, ...('s_churn' in s.defaults ? { s_churn: 1 } : {}), ...(s.name.startsWith('dpm_') && s.defaults.eta === 0 ? { eta: 0.5 } : {}) };
    const a = await sample(s.name, denoiserFor(s.name), x0(), sigmas, base);
    let changed = false;
    for (const [k, v] of keys) {
      const nudged = k.includes('order') || k === 'max_stage' ? (v as number) - 1 : (v as number) * 0.8;
      const b = await sample(s.name, denoiserFor(s.name), x0(), sigmas, { ...base, [k]: nudged });
      if (Array.from(b.data).some((y, i) => y !== a.data[i])) changed = true;
    }
    assert.ok(changed, `${s.name}: none of ${keys.map(([k]) => k).join(', ')} changes the result`);
  }
});

test('a seed alone works for every sampler that draws noise, and means the default noise rule', async () => {
  const drawing = SAMPLERS.filter((s) => s.noise !== 'none');
  assert.ok(drawing.some((s) => s.name === 'heunpp2'));
  for (const s of drawing) {
    const a = await sample(s.name, denoiserFor(s.name), x0(), sigmas, { seed: 11 });
    const again = await sample(s.name, denoiserFor(s.name), x0(), sigmas, { seed: 11 });
    const viaRule = await s.sampler(denoiserFor(s.name), x0(), sigmas, { noise: defaultSamplerNoise(s, 11, sigmas) });
    assert.deepEqual(Array.from(again.data), Array.from(a.data), `${s.name} deterministic`);
    assert.deepEqual(Array.from(viaRule.data), Array.from(a.data), `${s.name} sample() = the noise rule`);
    for (const v of a.data) assert.ok(Number.isFinite(v), s.name);
    if (s.stochastic) {
      const other = await sample(s.name, denoiserFor(s.name), x0(), sigmas, { seed: 12 });
      assert.notDeepEqual(Array.from(other.data), Array.from(a.data), `${s.name} depends on the seed`);
    }
  }
  // the normal rule is ComfyUI's seed + 1 stream
  const e1 = await sample('euler_ancestral', cond, x0(), sigmas, { seed: 11 });
  const e2 = await sample('euler_ancestral', cond, x0(), sigmas, { noise: comfyDefaultNoise(11) });
  assert.deepEqual(e1.data, e2.data);
  // churn makes the deterministic samplers draw: a seed is enough for them too
  for (const name of ['euler', 'heun', 'dpm_2', 'ddim', 'heunpp2']) {
    const a = await sample(name, cond, x0(), sigmas, { seed: 1, s_churn: 1 });
    const b = await sample(name, cond, x0(), sigmas, { seed: 2, s_churn: 1 });
    assert.notDeepEqual(Array.from(a.data), Array.from(b.data), name);
  }
  await assert.rejects(sample('euler_ancestral', cond, x0(), sigmas), /needs options.noise .* or, through sample\(\), options.seed/);
});

test('64-bit seeds: all 64 bits key the Brownian tree, the same through sample() and the noise rule', async () => {
  const spec = samplerSpec('dpmpp_2m_sde');
  const run = (seed: number | bigint) => sample(spec.name, cond, x0(), sigmas, { seed }).then((t) => Array.from(t.data));
  const viaRule = (seed: number | bigint) => spec.sampler(cond, x0(), sigmas, { noise: defaultSamplerNoise(spec, seed, sigmas) }).then((t) => Array.from(t.data));
  const big = 2n ** 32n + 5n, max = 2n ** 64n - 1n;
  const [r5, r5n, rBig, rBig2, rMax, rMax2, rMaxLow] = await Promise.all([run(5), run(5n), run(big), run(Number(big)), run(max), run(max), run(max - 2n ** 32n)]);
  assert.deepEqual(r5n, r5, 'a number and a bigint seed agree');
  assert.deepEqual(rBig2, rBig, '2^32 + 5 as a number and as a bigint agree');
  assert.deepEqual(rMax2, rMax, '2^64 - 1 is deterministic');
  assert.notDeepEqual(rBig, r5, '2^32 + 5 is not 5');
  assert.notDeepEqual(rMax, rBig);
  assert.notDeepEqual(rMax, rMaxLow, 'the high 32 bits count');
  assert.deepEqual(await viaRule(big), rBig);
  assert.deepEqual(await viaRule(max), rMax);
  // normal-noise samplers follow torch: the generator takes the low 32 bits of seed + 1 (mod 2^64)
  const ea = (seed: number | bigint) => sample('euler_ancestral', cond, x0(), sigmas, { seed }).then((t) => Array.from(t.data));
  assert.deepEqual(await ea(max), await ea(max));
  assert.deepEqual(await ea(max), await ea(2n ** 32n - 1n), '2^64 - 1 + 1 wraps to 0, whose low 32 bits 2^32 - 1 + 1 also reach');
  await assert.rejects(sample('euler_ancestral', cond, x0(), sigmas, { seed: -1 }), /seed must be an integer in \[0, 2\^64 - 1\], got -1/);
  await assert.rejects(sample('euler_ancestral', cond, x0(), sigmas, { seed: 2n ** 64n }), /seed must be an integer in \[0, 2\^64 - 1\]/);
  await assert.rejects(sample('dpmpp_2m_sde', cond, x0(), sigmas, { seed: 2 ** 60 }), /pass a bigint/);
});

test('a one-step schedule to 0 runs a Brownian sampler with a seed (it never draws)', async () => {
  const out = await sample('dpmpp_2m_sde', cond, x0(), [8, 0], { seed: 1 });
  const ref = await sample('dpmpp_2m', cond, x0(), [8, 0]);
  assert.deepEqual(out.data, ref.data);
});

test('the param keys a body reads are checked by the compiler against its spec', () => {
  // never called: the @ts-expect-error lines fail the build if the keys stopped being checked
  const body = (run: Run<AncestralParams>, sde: Run<Dpmpp2mSdeParams>): number => {
    const ok = run.num('eta') + run.num('s_noise');
    // @ts-expect-error r is not a parameter of the ancestral samplers
    run.num('r');
    // @ts-expect-error solver_type is a choice, not a number
    sde.num('solver_type');
    return ok + sde.choice('solver_type', ['midpoint', 'heun'] as const).length;
  };
  assert.equal(typeof body, 'function');
  assert.deepEqual(samplerSpec('euler_ancestral').defaults, { eta: 1, s_noise: 1 });
});

test('with a literal name, samplerSpec() and sample() options are typed by the spec', async () => {
  const spec = samplerSpec('dpmpp_2m_sde');
  const eta: number = spec.defaults.eta;
  const solver: 'midpoint' | 'heun' = spec.defaults.solver_type;
  assert.deepEqual([eta, solver], [1, 'midpoint']);
  const typeChecks = () => [
    // @ts-expect-error eta is a number
    sample('dpmpp_2m_sde', cond, x0(), sigmas, { eta: 'x' }),
    // @ts-expect-error not one of the solver types
    sample('dpmpp_2m_sde', cond, x0(), sigmas, { solver_type: 'rk4' }),
    sample('dpmpp_2m_sde', cond, x0(), sigmas, { seed: 1, eta: 0.5, solver_type: 'heun', onStep: () => {} }),
  ];
  assert.equal(typeof typeChecks, 'function');
  // a name known only at run time takes any options (checked at run time)
  const name: string = 'dpmpp_2m_sde';
  await assert.rejects(sample(name, cond, x0(), sigmas, { seed: 1, solver_type: 'rk4' }), /option solver_type must be one of midpoint, heun, got rk4/);
});

test('samplers without hyperparameters take the general options (seed, modelSampling, onStep ...)', async () => {
  const a = await sample('dpmpp_2m', cond, x0(), sigmas, { seed: 1, onStep: () => {} });
  const b = await sample('uni_pc_bh2', cond, x0(), sigmas, { seed: 1, signal: new AbortController().signal });
  assert.equal(a.data.length, b.data.length);
});
