import { test } from 'node:test';
import assert from 'node:assert/strict';
import { modelDenoiser, initialLatent } from '../src/denoisers/model.js';
import { cfg } from '../src/denoisers/cfg.js';
import type { ModelSampling } from '../src/model-sampling/types.js';
import { predictionMaths } from '../src/model-sampling/prediction.js';
import type { Tensor } from '../src/tensor/tensor.js';

const ms = (kind: ModelSampling['kind'], prediction: ModelSampling['prediction']): ModelSampling => ({
  ...predictionMaths(prediction),
  kind, prediction, name: 'test', sigmaMin: 0.03, sigmaMax: 14.6, sigmaData: 1,
  sigma: (t) => t, timestep: (s) => s * 10, percentToSigma: (p) => 1 - p,
});

test('eps model on a discrete sampling sees x / sqrt(1 + sigma^2) and gives x - sigma * eps', async () => {
  let seen: Tensor | null = null, seenT = 0;
  const d = modelDenoiser(ms('discrete', 'eps'), async (xIn, t) => {
    seen = xIn; seenT = t;
    return { data: new Float64Array([1, 1]), shape: [1, 2] };
  });
  const out = await d({ data: new Float64Array([3, 4]), shape: [1, 2] }, 2);
  assert.deepEqual(Array.from(seen!.data), [3 / Math.sqrt(5), 4 / Math.sqrt(5)]);
  assert.equal(seenT, 20);
  assert.deepEqual(Array.from(out.data), [1, 2]);
});

test('v model uses c_skip and c_out; flow model gives x - sigma * v on unscaled input', async () => {
  const v = modelDenoiser(ms('edm', 'v'), async () => ({ data: new Float64Array([1]), shape: [1] }));
  const o = await v({ data: new Float64Array([2]), shape: [1] }, 1);
  assert.ok(Math.abs(o.data[0]! - (0.5 * 2 - Math.SQRT1_2)) < 1e-15);
  let seen = 0;
  const f = modelDenoiser(ms('flow', 'flow'), async (xIn) => { seen = xIn.data[0]!; return { data: new Float64Array([0.5]), shape: [1] }; });
  const fo = await f({ data: new Float64Array([0.8]), shape: [1] }, 0.4);
  assert.equal(seen, 0.8);
  assert.ok(Math.abs(fo.data[0]! - 0.6) < 1e-15);
});

test('initial latent follows ComfyUI eps_noise_scaling', () => {
  const noise = { data: new Float64Array([-0.1467950974849952, 0.7861412987235358, 0.9468216090039564, -1.1143440212610307]), shape: [1, 4] };
  const latent = { data: new Float64Array([1.6907901257942333, -0.8948278791726386, -0.3556250270062136, 1.2323857451651945]), shape: [1, 4] };
  const m = { kind: 'discrete' as const, sigmaMax: 14.614641189575195 };
  const a = initialLatent(noise, 14.614641189575195, m, latent);
  [-0.4595838806904988, 10.621209394293093, 13.514188145659666, -15.091432002538033].forEach((v, i) => assert.ok(Math.abs(a.data[i]! - v) < 1e-12));
  const b = initialLatent(noise, 7.0, m, latent);
  [0.6632244433992669, 4.608161211892112, 6.272126236021481, -6.56802240366202].forEach((v, i) => assert.ok(Math.abs(b.data[i]! - v) < 1e-12));
});

test('cfg combines predictions and exposes the unconditional one', async () => {
  const c = async (t: Tensor) => ({ data: new Float64Array(t.data.length).fill(2), shape: [...t.shape] });
  const u = async (t: Tensor) => ({ data: new Float64Array(t.data.length).fill(1), shape: [...t.shape] });
  const g = cfg(c, u, 3);
  assert.equal(g.lastUncond, null);
  const out = await g({ data: new Float64Array(2), shape: [2] }, 1);
  assert.deepEqual(Array.from(out.data), [4, 4]);
  assert.deepEqual(Array.from(g.lastUncond!.data), [1, 1]);
});
