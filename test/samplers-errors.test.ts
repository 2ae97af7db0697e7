import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sample } from '../src/samplers/sample.js';
import { samplerNames } from '../src/samplers/registry.js';
import { replayNoise, comfyDefaultNoise } from '../src/noise/sources.js';
import type { Tensor } from '../src/tensor/tensor.js';
import type { Denoiser } from '../src/samplers/types.js';

const x: Tensor = { data: new Float32Array([0.5, -1, 2, 0.25]), shape: [1, 4] };
const shrink: Denoiser = async (t) => ({ data: t.data.map((v) => v * 0.5) as Float32Array, shape: [...t.shape] });

test('sigmas that are not descending are refused', async () => {
  await assert.rejects(sample('euler', shrink, x, [1, 2, 0]), /strictly descending/);
  await assert.rejects(sample('dpmpp_2m', shrink, x, [3, 3, 0]), /strictly descending/);
});

test('fewer than 2 sigmas are refused', async () => {
  await assert.rejects(sample('euler', shrink, x, [1]), /at least 2 sigmas/);
  await assert.rejects(sample('heun', shrink, x, []), /at least 2 sigmas/);
});

test('a denoiser output of another shape is refused', async () => {
  const bad: Denoiser = async () => ({ data: new Float32Array(3), shape: [1, 3] });
  await assert.rejects(sample('euler', bad, x, [2, 1, 0]), /returned shape \[1, 3\] but x has shape \[1, 4\]/);
});

test('NaN or Infinity from the denoiser stops with the step and sigma', async () => {
  let calls = 0;
  const nanAtSecond: Denoiser = async (t) => {
    calls++;
    const d = new Float32Array(t.data.length);
    if (calls === 2) d[1] = NaN;
    return { data: d, shape: [...t.shape] };
  };
  await assert.rejects(sample('dpmpp_2m', nanAtSecond, x, [3, 2, 1, 0]), /NaN or Infinity at step 1 \(sigma 2\)/);
  const inf: Denoiser = async (t) => ({ data: new Float32Array(t.data.length).fill(Infinity), shape: [...t.shape] });
  await assert.rejects(sample('euler_ancestral', inf, x, [3, 0], { noise: comfyDefaultNoise(0) }), /NaN or Infinity at step 0 \(sigma 3\)/);
});

test('an aborted signal rejects promptly with an AbortError', async () => {
  const pre = new AbortController();
  pre.abort();
  await assert.rejects(sample('euler', shrink, x, [2, 1, 0], { signal: pre.signal }), (e: Error) => e.name === 'AbortError');
  const mid = new AbortController();
  let calls = 0;
  const abortingDenoiser: Denoiser = async (t) => {
    if (++calls === 2) mid.abort();
    return shrink(t, 1);
  };
  await assert.rejects(sample('heun', abortingDenoiser, x, [4, 3, 2, 1, 0], { signal: mid.signal }), (e: Error) => e.name === 'AbortError');
  assert.equal(calls, 2, 'no denoiser call after the abort');
});

test('unknown sampler names and missing noise give clear errors', async () => {
  await assert.rejects(sample('eulr', shrink, x, [1, 0]), /unknown sampler "eulr"/);
  await assert.rejects(sample('euler_ancestral', shrink, x, [2, 1, 0]), /needs options.noise/);
  await assert.rejects(sample('euler_cfg_pp', shrink, x, [2, 1, 0]), /cfg\(cond, uncond, scale\)/);
  await assert.rejects(sample('euler_ancestral', shrink, x, [3, 2, 1, 0], { noise: replayNoise([]) }), /used up/);
});

test('every sampler keeps x untouched and returns x dtype and shape', async () => {
  for (const name of samplerNames) {
    if (name.endsWith('cfg_pp')) continue;
    const before = Array.from(x.data);
    const out = await sample(name, shrink, x, [3, 1.5, 0.7, 0.2, 0], { noise: comfyDefaultNoise(1) });
    assert.deepEqual(Array.from(x.data), before, `${name} changed its input`);
    assert.ok(out.data instanceof Float32Array, `${name} output dtype`);
    assert.deepEqual(out.shape, [1, 4]);
    for (const v of out.data) assert.ok(Number.isFinite(v), `${name} output finite`);
  }
});

test('dpm_fast and dpm_adaptive report their NFE through onInfo', async () => {
  const infos: Array<{ nfe: number; nAccept: number; nReject: number; steps: number }> = [];
  const y: Tensor = { data: new Float64Array([0.5, -1, 2, 0.25]), shape: [1, 4] };
  const den: Denoiser = async (t) => ({ data: t.data.map((v) => v * 0.3) as Float64Array, shape: [...t.shape] });
  await sample('dpm_fast', den, y, [10, 5, 2, 1, 0.5, 0], { onInfo: (i: (typeof infos)[number]) => infos.push(i) });
  assert.equal(infos[0]!.nfe, 5);
  await sample('dpm_adaptive', den, y, [10, 5, 2, 1, 0.5, 0], { onInfo: (i: (typeof infos)[number]) => infos.push(i) });
  assert.equal(infos[1]!.nfe, 3 * infos[1]!.steps);
  assert.equal(infos[1]!.steps, infos[1]!.nAccept + infos[1]!.nReject);
});

test('options.seed gives ComfyUI default noise: seed + 1 stream, Brownian tree for SDE samplers', async () => {
  const y: Tensor = { data: new Float32Array(32).fill(0.3), shape: [2, 16] };
  const den: Denoiser = async (t) => ({ data: t.data.map((v) => v * 0.2) as Float32Array, shape: [...t.shape] });
  const sig = [8, 4, 2, 1, 0.5, 0];
  const a = await sample('euler_ancestral', den, y, sig, { seed: 5 });
  const b = await sample('euler_ancestral', den, y, sig, { noise: comfyDefaultNoise(5) });
  assert.deepEqual(a.data, b.data);
  const c = await sample('dpmpp_2m_sde', den, y, sig, { seed: 5 });
  const d = await sample('dpmpp_2m_sde', den, y, sig, { seed: 5 });
  const e = await sample('dpmpp_2m_sde', den, y, sig, { seed: 6 });
  assert.deepEqual(c.data, d.data);
  assert.notDeepEqual(c.data, e.data);
});
