import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFixtureModels, writeTinyModel } from '../src/fixtures/stable-diffusion-tiny.js';
import { loadPipeline } from '../src/pipelines/load.js';
import { loadStableDiffusionPipeline, type StableDiffusionPipeline } from '../src/pipelines/stable-diffusion.js';
import { initialLatents } from '../src/pipelines/sampling.js';
import { openSession, ort, readFloat, floatTensor } from '../src/runtime/session.js';
import { loadClipTokenizer } from '../src/pipelines/tokenizer.js';
import { decodeImage, encodePng, readPngParameters } from '../src/image/png.js';
import { prepareNoise } from '../src/noise/sources.js';
import { getSigmas } from '../src/schedules/index.js';
import { samplerNames } from '../src/samplers/registry.js';
import type { GenerateOptions } from '../src/pipelines/types.js';
import type { Tensor } from '../src/tensor/tensor.js';

const tmp = mkdtempSync(join(tmpdir(), 'ays-sd-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const [sd15, sd15fp16, sdxl] = writeFixtureModels(join(tmp, 'models'));

const base: GenerateOptions = { prompt: 'a photo of a cat', negativePrompt: 'blurry', width: 128, height: 64, seed: 42, scheduler: 'karras', sampler: 'euler', steps: 4, cfg: 7 };

function meanAbsDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += Math.abs(a.data[i]! - b.data[i]!);
  return s / a.data.length;
}

async function withPipeline<T>(dir: string, fn: (p: StableDiffusionPipeline) => Promise<T>): Promise<T> {
  const p = await loadStableDiffusionPipeline(dir, { threads: 1 });
  try {
    return await fn(p);
  } finally {
    await p.dispose();
  }
}

test('SD1.5 text-to-image: shapes, PNG parameters read back, deterministic for a seed', async () => {
  await withPipeline(sd15!, async (p) => {
    assert.equal(p.kind, 'stable-diffusion');
    assert.equal(p.modelSampling.name, 'sd15');
    const a = await p.generate(base);
    assert.deepEqual(a.images.shape, [1, 3, 64, 128]);
    assert.equal(a.pngs.length, 1);
    assert.equal(a.nfe, 4);
    assert.deepEqual(a.sigmas, getSigmas({ model: p.modelSampling, scheduler: 'karras', steps: 4, sampler: 'euler' }));
    assert.ok(a.images.data.every((v) => v >= 0 && v <= 1));
    const params = readPngParameters(a.pngs[0]!);
    assert.deepEqual(params, {
      prompt: 'a photo of a cat',
      negativePrompt: 'blurry',
      settings: { Steps: '4', Sampler: 'euler', 'Schedule type': 'karras', 'CFG scale': '7', Seed: '42', Size: '128x64', Model: 'sd15-tiny' },
    });
    const decoded = decodeImage(a.pngs[0]!);
    assert.deepEqual(decoded.shape, [1, 3, 64, 128]);
    const b = await p.generate(base);
    assert.deepEqual(b.pngs[0], a.pngs[0], 'same seed, same bytes');
    assert.deepEqual(b.images.data, a.images.data);
    const c = await p.generate({ ...base, seed: 43 });
    assert.ok(meanAbsDiff(a.images, c.images) > 1e-3, 'another seed, another image');
    const d = await p.generate({ ...base, prompt: 'a red house' });
    assert.ok(meanAbsDiff(a.images, d.images) > 1e-4, 'the prompt reaches the UNet');
  });
});

test('starting latents follow ComfyUI: randn(seed) * sqrt(1 + sigma0^2) at full denoise, latent + randn * sigma0 otherwise', async () => {
  await withPipeline(sd15!, async (p) => {
    const ms = p.modelSampling;
    const shape = [2, 4, 3, 5];
    const noise = prepareNoise(7, shape);
    const full = initialLatents(ms, 7, shape, [ms.sigmaMax, 1, 0], null);
    const k = Math.sqrt(1 + ms.sigmaMax ** 2);
    full.data.forEach((v, i) => assert.ok(Math.abs(v - noise.data[i]! * k) <= Math.abs(v) * 2 ** -23, `${v} vs ${noise.data[i]! * k}`));
    const latent = Float32Array.from({ length: noise.data.length }, (_, i) => (i % 7) / 7);
    const part = initialLatents(ms, 7, shape, [3, 1, 0], latent);
    part.data.forEach((v, i) => assert.equal(v, Math.fround(noise.data[i]! * 3 + latent[i]!)));
    const none = initialLatents(ms, 7, shape, [], latent);
    assert.deepEqual(none.data, latent);
  });
});

/** Run the fixture's own sessions by hand for one Euler step to 0 (x1 = x0 = D(x; sigma)) and decode: an independent wiring check. */
async function byHand(dir: string, prompt: string, negative: string, cfgScale: number, sigma: number, v: boolean): Promise<Float32Array> {
  const te = await openSession(join(dir, 'text_encoder/model.onnx'));
  const unet = await openSession(join(dir, 'unet/model.onnx'));
  const dec = await openSession(join(dir, 'vae_decoder/model.onnx'));
  const tok = loadClipTokenizer(join(dir, 'tokenizer'));
  const ids = [...tok.encode(negative), ...tok.encode(prompt)];
  const states = readFloat((await te.run({ input_ids: new ort.Tensor('int32', Int32Array.from(ids), [2, 77]) })).last_hidden_state!);
  const shape = [1, 4, 8, 16];
  const n = 4 * 8 * 16;
  const noise = prepareNoise(42, shape).data;
  const ms = (await import('../src/model-sampling/discrete.js')).discreteModelSampling({ prediction: v ? 'v' : 'eps' });
  const x = Float32Array.from(noise, (e) => e * (sigma === ms.sigmaMax ? Math.sqrt(1 + sigma * sigma) : sigma));
  const cIn = 1 / Math.sqrt(sigma * sigma + 1);
  const inp = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) inp[i] = inp[n + i] = x[i]! * cIn;
  const out = readFloat(
    (await unet.run({ sample: floatTensor('float32', inp, [2, 4, 8, 16]), timestep: floatTensor('float32', [ms.timestep(sigma), ms.timestep(sigma)], [2]), encoder_hidden_states: floatTensor('float32', states, [2, 77, 32]) })).out_sample!,
  );
  const x0 = (row: number, i: number) => (v ? x[i]! / (sigma * sigma + 1) - out[row * n + i]! * sigma * cIn : x[i]! - sigma * out[row * n + i]!);
  const z = new Float32Array(n);
  for (let i = 0; i < n; i++) z[i] = (x0(0, i) + (x0(1, i) - x0(0, i)) * cfgScale) / 0.18215;
  const img = readFloat((await dec.run({ latent_sample: floatTensor('float32', z, shape) })).sample!);
  await Promise.all([te.release(), unet.release(), dec.release()]);
  return Float32Array.from(img, (p) => Math.min(1, Math.max(0, p * 0.5 + 0.5)));
}

test('pipeline = hand-wired sessions: c_in scaling, timestep, [uncond, cond] CFG rows, VAE scaling (eps)', async () => {
  await withPipeline(sd15!, async (p) => {
    const sigma = p.modelSampling.sigmaMax;
    const r = await p.generate({ ...base, sigmas: [sigma, 0], cfg: 3 });
    const expected = await byHand(sd15!, base.prompt!, base.negativePrompt!, 3, sigma, false);
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(expected[i]! - r.images.data[i]!));
    assert.ok(worst < 1e-5, `max difference ${worst}`);
  });
});

test('v-prediction models (prediction_type v_prediction) use the v -> x0 conversion', async () => {
  const dir = join(tmp, 'sd15-v');
  writeTinyModel(dir, { kind: 'sd15', predictionType: 'v_prediction' });
  await withPipeline(dir, async (p) => {
    assert.equal(p.modelSampling.prediction, 'v');
    const r = await p.generate({ ...base, sigmas: [5, 0], cfg: 2 });
    const expected = await byHand(dir, base.prompt!, base.negativePrompt!, 2, 5, true);
    let worst = 0;
    for (let i = 0; i < expected.length; i++) worst = Math.max(worst, Math.abs(expected[i]! - r.images.data[i]!));
    assert.ok(worst < 1e-5, `max difference ${worst}`);
  });
});

test('image-to-image: VAE-encoded init, denoise keeps the last steps+1 sigmas, denoise 0 returns the encoded image', async () => {
  await withPipeline(sd15!, async (p) => {
    const init = decodeImage((await p.generate({ ...base, seed: 5 })).pngs[0]!);
    const full = await p.generate({ ...base, init, denoise: 1 });
    const half = await p.generate({ ...base, init, denoise: 0.5, steps: 4 });
    assert.equal(half.sigmas.length, 5);
    assert.deepEqual(half.sigmas, getSigmas({ model: p.modelSampling, scheduler: 'karras', steps: 4, denoise: 0.5, sampler: 'euler' }));
    assert.ok(half.sigmas[0]! < p.modelSampling.sigmaMax);
    assert.equal(half.nfe, 4);
    assert.ok(meanAbsDiff(full.images, half.images) > 1e-4);
    assert.match(half.parameters[0]!, /Denoising strength: 0\.5/);
    // denoise 0 would run no step: an error naming why, not an image with "-1 steps" (issue 13)
    await assert.rejects(p.generate({ ...base, init, denoise: 0 }), /denoise 0 runs no step/);
    const slight = await p.generate({ ...base, init, denoise: 0.05 });
    assert.equal(slight.steps, 4);
    // lower denoise stays closer to the init image
    assert.ok(meanAbsDiff(slight.images, half.images) < meanAbsDiff(slight.images, full.images));
    // no width/height given: the init image's size is used
    assert.deepEqual(half.images.shape, [1, 3, 64, 128]);
    await assert.rejects(p.generate({ ...base, width: 64, init, denoise: 0.5 }), /width 64 differs from the init image's width 128/);
  });
});

test('SDXL: two encoders, pooled text_embeds and time_ids, batch, and the zero-uncond rule for an absent negative prompt', async () => {
  await withPipeline(sdxl!, async (p) => {
    assert.equal(p.kind, 'stable-diffusion-xl');
    assert.equal(p.modelSampling.name, 'sdxl');
    const r = await p.generate({ ...base, batchSize: 2, sampler: 'dpmpp_2m', scheduler: 'ays' });
    assert.deepEqual(r.images.shape, [2, 3, 64, 128]);
    assert.equal(r.pngs.length, 2);
    assert.equal(r.sigmas.length, 5);
    assert.equal(readPngParameters(r.pngs[1]!)!.settings['Batch pos'], '1');
    // one noise tensor for the batch: the two images differ
    const one = r.images.data.length / 2;
    let diff = 0;
    for (let i = 0; i < one; i++) diff += Math.abs(r.images.data[i]! - r.images.data[one + i]!);
    assert.ok(diff / one > 1e-3);
    const noNegative = await p.generate({ ...base, negativePrompt: undefined });
    const emptyNegative = await p.generate({ ...base, negativePrompt: '' });
    assert.ok(meanAbsDiff(noNegative.images, emptyNegative.images) > 1e-5, 'zeroed uncond differs from encoding ""');
    const sizeChanged = await p.generate({ ...base, width: 96 });
    assert.deepEqual(sizeChanged.images.shape, [1, 3, 64, 96]);
  });
});

test('SDXL pipeline = hand-wired sessions: penultimate states of both encoders side by side, pooled text_embeds, time_ids', async () => {
  const te1 = await openSession(join(sdxl!, 'text_encoder/model.onnx'));
  const te2 = await openSession(join(sdxl!, 'text_encoder_2/model.onnx'));
  const unet = await openSession(join(sdxl!, 'unet/model.onnx'));
  const dec = await openSession(join(sdxl!, 'vae_decoder/model.onnx'));
  const ids1 = [...loadClipTokenizer(join(sdxl!, 'tokenizer')).encode('a dog'), ...loadClipTokenizer(join(sdxl!, 'tokenizer')).encode('a cat')];
  const ids2 = [...loadClipTokenizer(join(sdxl!, 'tokenizer_2')).encode('a dog'), ...loadClipTokenizer(join(sdxl!, 'tokenizer_2')).encode('a cat')];
  const big = (ids: number[]) => new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [2, 77]);
  const o1 = await te1.run({ input_ids: big(ids1) });
  const o2 = await te2.run({ input_ids: big(ids2) });
  const h1 = readFloat(o1['hidden_states.1']!); // layers 0..2: the penultimate is 1
  const h2 = readFloat(o2['hidden_states.2']!); // layers 0..3: the penultimate is 2
  const pooled = readFloat(o2.text_embeds!);
  const ctx = new Float32Array(2 * 77 * 40);
  for (let r = 0; r < 2 * 77; r++) {
    ctx.set(h1.subarray(r * 16, r * 16 + 16), r * 40);
    ctx.set(h2.subarray(r * 24, r * 24 + 24), r * 40 + 16);
  }
  const ms = (await import('../src/model-sampling/discrete.js')).discreteModelSampling({});
  const sigma = 6;
  const n = 4 * 8 * 12;
  const noise = prepareNoise(9, [1, 4, 8, 12]).data;
  const x = Float32Array.from(noise, (e) => e * sigma);
  const cIn = 1 / Math.sqrt(sigma * sigma + 1);
  const inp = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) inp[i] = inp[n + i] = x[i]! * cIn;
  const out = readFloat(
    (
      await unet.run({
        sample: floatTensor('float32', inp, [2, 4, 8, 12]),
        timestep: floatTensor('float32', [ms.timestep(sigma)], []),
        encoder_hidden_states: floatTensor('float32', ctx, [2, 77, 40]),
        text_embeds: floatTensor('float32', pooled, [2, 20]),
        time_ids: floatTensor('float32', [64, 96, 0, 0, 64, 96, 64, 96, 0, 0, 64, 96], [2, 6]),
      })
    ).out_sample!,
  );
  const z = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = x[i]! - sigma * out[i]!;
    const c = x[i]! - sigma * out[n + i]!;
    z[i] = (u + (c - u) * 4) / 0.13025;
  }
  const img = readFloat((await dec.run({ latent_sample: floatTensor('float32', z, [1, 4, 8, 12]) })).sample!);
  await Promise.all([te1.release(), te2.release(), unet.release(), dec.release()]);
  await withPipeline(sdxl!, async (p) => {
    const r = await p.generate({ prompt: 'a cat', negativePrompt: 'a dog', width: 96, height: 64, seed: 9, sigmas: [sigma, 0], scheduler: 'karras', sampler: 'euler', steps: 1, cfg: 4 });
    let worst = 0;
    for (let i = 0; i < img.length; i++) worst = Math.max(worst, Math.abs(Math.min(1, Math.max(0, img[i]! * 0.5 + 0.5)) - r.images.data[i]!));
    assert.ok(worst < 1e-5, `max difference ${worst}`);
  });
});

test('float16 model: runs end to end and stays close to the float32 model with the same weights', async () => {
  const a = await withPipeline(sd15!, (p) => p.generate(base));
  const b = await withPipeline(sd15fp16!, (p) => p.generate(base));
  const d = meanAbsDiff(a.images, b.images);
  assert.ok(d > 0, 'float16 rounding shows');
  assert.ok(d < 0.01, `mean abs difference ${d}`);
});

test('every sampler and every schedule runs on the fixture', async () => {
  await withPipeline(sd15!, async (p) => {
    const o = { ...base, width: 64, height: 64, steps: 3 };
    for (const sampler of samplerNames) {
      const r = await p.generate({ ...o, sampler });
      assert.ok(r.images.data.every(Number.isFinite), sampler);
    }
    const gits = await p.generate({ ...o, scheduler: 'gits', coeff: 0.8 });
    assert.deepEqual(gits.sigmas, getSigmas({ model: p.modelSampling, scheduler: 'gits', steps: 3, coeff: 0.8 }));
    assert.notDeepEqual(gits.sigmas, getSigmas({ model: p.modelSampling, scheduler: 'gits', steps: 3 }));
    const { schedulerNames } = await import('../src/schedules/index.js');
    for (const scheduler of schedulerNames) {
      const r = await p.generate({ ...o, scheduler, ...(scheduler === 'custom' ? { sigmas: [10, 2, 0.5, 0] } : {}) });
      assert.equal(r.sigmas.length >= 3, true, scheduler);
    }
  });
});

test('progress per step and cancellation with AbortSignal', async () => {
  await withPipeline(sd15!, async (p) => {
    const seen: Array<[number, number]> = [];
    await p.generate({ ...base, steps: 5, onStep: (i, total) => seen.push([i, total]) });
    assert.deepEqual(seen, [[1, 5], [2, 5], [3, 5], [4, 5], [5, 5]]);
    const controller = new AbortController();
    let steps = 0;
    await assert.rejects(
      p.generate({ ...base, steps: 10, signal: controller.signal, onStep: () => { steps += 1; if (steps === 2) controller.abort(); } }),
      (e: Error) => e.name === 'AbortError',
    );
    assert.ok(steps <= 3, `stopped after ${steps} steps`);
    const aborted = new AbortController();
    aborted.abort();
    await assert.rejects(p.generate({ ...base, signal: aborted.signal }), { name: 'AbortError' });
  });
});

test('bad options get clear messages; an empty prompt is fine', async () => {
  await withPipeline(sd15!, async (p) => {
    await assert.rejects(p.generate({ ...base, width: 100 }), /width must be a positive multiple of 8, got 100/);
    await assert.rejects(p.generate({ ...base, height: 0 }), /height must be a positive multiple of 8, got 0/);
    await assert.rejects(p.generate({ ...base, steps: 0 }), /steps must be an integer >= 1/);
    await assert.rejects(p.generate({ ...base, sampler: 'eulr' }), /unknown sampler "eulr"; valid: euler,/);
    await assert.rejects(p.generate({ ...base, scheduler: 'karas' }), /unknown scheduler "karas"/);
    await assert.rejects(p.generate({ ...base, denoise: 0.5 }), /denoise below 1 needs an init image/);
    await assert.rejects(p.generate({ ...base, batchSize: 0 }), /batch size must be a positive integer/);
    await assert.rejects(p.generate({ ...base, cfg: NaN }), /cfg must be a finite number/);
    await assert.rejects(p.generate({ ...base, seed: -1 }), /^GenerateOptionsError: seed must be an integer in \[0, 2\^64 - 1\], got -1$/);
    await assert.rejects(p.generate({ ...base, seed: 2n ** 64n }), /seed must be an integer in \[0, 2\^64 - 1\], got 18446744073709551616/);
    await assert.rejects(p.generate({ ...base, seed: 2 ** 60 }), /above 2\^53 - 1 .* pass a bigint/);
    await assert.rejects(p.generate({ ...base, sigmas: [1, 2, 0] }), /sigmas must be strictly descending/);
    const r = await p.generate({ ...base, prompt: '', negativePrompt: '' });
    assert.deepEqual(r.images.shape, [1, 3, 64, 128]);
    assert.equal(readPngParameters(r.pngs[0]!)!.prompt, '');
  });
});

test('bad model folders: missing file, corrupt .onnx, wrong input names, wrong latent channels, not a model folder', async () => {
  const missing = join(tmp, 'missing');
  writeTinyModel(missing, { kind: 'sd15' });
  unlinkSync(join(missing, 'vae_decoder/model.onnx'));
  await assert.rejects(loadPipeline(missing), /vae_decoder\/model\.onnx: file not found/);

  const corrupt = join(tmp, 'corrupt');
  writeTinyModel(corrupt, { kind: 'sd15' });
  writeFileSync(join(corrupt, 'unet/model.onnx'), Buffer.from('not an onnx file '.repeat(64)));
  await assert.rejects(loadPipeline(corrupt), /unet\/model\.onnx: not a loadable ONNX model/);

  const renamed = join(tmp, 'renamed');
  writeTinyModel(renamed, { kind: 'sdxl', renameUnetInputs: { sample: 'latents' } });
  await assert.rejects(loadPipeline(renamed), /unet\/model\.onnx: missing input "sample"; the file declares \[latents, timestep, encoder_hidden_states, text_embeds, time_ids\]/);

  const channels = join(tmp, 'channels');
  writeTinyModel(channels, { kind: 'sd15', unetChannels: 3 });
  await assert.rejects(loadPipeline(channels), /"sample" has 3 latent channels but vae_decoder\/model\.onnx's "latent_sample" has 4/);

  const noIndex = join(tmp, 'no-index');
  mkdirSync(noIndex);
  await assert.rejects(loadPipeline(noIndex), /is not a model folder ays knows: expected model_index\.json .* or card\.json/);
  await assert.rejects(loadPipeline(join(tmp, 'does-not-exist')), /model folder not found/);

  const badScheduler = join(tmp, 'bad-scheduler');
  writeTinyModel(badScheduler, { kind: 'sd15' });
  writeFileSync(join(badScheduler, 'scheduler/scheduler_config.json'), JSON.stringify({ prediction_type: 'sample' }));
  await assert.rejects(loadPipeline(badScheduler), /prediction_type "sample" is not supported; use epsilon or v_prediction/);

  const noEncoder = join(tmp, 'no-encoder');
  writeTinyModel(noEncoder, { kind: 'sd15' });
  rmSync(join(noEncoder, 'vae_encoder'), { recursive: true });
  await withPipeline(noEncoder, async (p) => {
    const init: Tensor = { data: new Float32Array(3 * 64 * 64).fill(0.5), shape: [1, 3, 64, 64] };
    await assert.rejects(p.generate({ ...base, width: undefined, height: undefined, init, denoise: 0.5 }), /image-to-image needs vae_encoder\/model\.onnx/);
  });
});

test('exports with a fixed batch or image size say what they support', async () => {
  const dir = join(tmp, 'static');
  writeTinyModel(dir, { kind: 'sd15', unetStaticShape: { batch: 2, height: 8, width: 8 } });
  await withPipeline(dir, async (p) => {
    const r = await p.generate({ ...base, width: 64, height: 64 });
    assert.deepEqual(r.images.shape, [1, 3, 64, 64]);
    await assert.rejects(p.generate({ ...base, width: 64, height: 64, cfg: 1 }), /unet\/model\.onnx was exported with a fixed batch of 2; this run needs 1/);
    await assert.rejects(p.generate({ ...base, width: 64, height: 64, batchSize: 2 }), /fixed batch of 2; this run needs 4 \(batch size x 2 for CFG\)/);
    await assert.rejects(p.generate({ ...base, width: 128, height: 64 }), /exported for 64x64 images only; asked for 128x64/);
  });
});

test('the bundled model folder is found next to the installed package, not the working directory', async () => {
  const { bundledModelDir } = await import('../src/cli/commands/generate.js');
  const { fileURLToPath } = await import('node:url');
  assert.equal(bundledModelDir(), fileURLToPath(new URL('../../models/fashion-mnist', import.meta.url)));
  const { defaultModelDir } = await import('../src/bundled/model-files.js');
  assert.equal(bundledModelDir(), defaultModelDir(), 'the same folder the bundled-model code uses');
});

test('older exports: VAE encoder with latent_sample output works for image-to-image', async () => {
  const dir = join(tmp, 'old-vae');
  writeTinyModel(dir, { kind: 'sd15', vaeEncoderOutput: 'latent_sample' });
  await withPipeline(dir, async (p) => {
    const init: Tensor = { data: Float32Array.from({ length: 3 * 64 * 64 }, (_, i) => (i % 64) / 64), shape: [1, 3, 64, 64] };
    const r = await p.generate({ ...base, width: undefined, height: undefined, init, denoise: 0.6 });
    assert.deepEqual(r.images.shape, [1, 3, 64, 64]);
    encodePng({ data: r.images.data, shape: [3, 64, 64] });
  });
});

// ---- the CLI ----

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const { main } = await import('../src/cli/main.js');
  let stdout = '';
  let stderr = '';
  const ow = process.stdout.write.bind(process.stdout);
  const ew = process.stderr.write.bind(process.stderr);
  process.stdout.write = ((s: string | Uint8Array) => ((stdout += String(s)), true)) as typeof process.stdout.write;
  process.stderr.write = ((s: string | Uint8Array) => ((stderr += String(s)), true)) as typeof process.stderr.write;
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    process.stdout.write = ow;
    process.stderr.write = ew;
  }
}

test('ays generate: SD1.5 and SDXL fixtures to PNG + sidecar JSON, parameters readable, no overwrite without --overwrite', async () => {
  const out = join(tmp, 'cli', 'cat.png');
  mkdirSync(join(tmp, 'cli'), { recursive: true }); // --out never creates folders
  const args = ['generate', '--model', sd15!, '--prompt', 'a cat', '--negative', 'blurry', '--scheduler', 'ays', '--sampler', 'dpmpp_2m', '--steps', '5', '--cfg', '6', '--seed', '42', '--width', '64', '--height', '64', '--threads', '1', '--out', out];
  const first = await cli(args);
  assert.equal(first.code, 0, first.stderr);
  const png = readFileSync(out);
  const params = readPngParameters(png)!;
  assert.equal(params.prompt, 'a cat');
  assert.deepEqual(params.settings, { Steps: '5', Sampler: 'dpmpp_2m', 'Schedule type': 'ays', 'CFG scale': '6', Seed: '42', Size: '64x64', Model: 'sd15-tiny' });
  const sidecar = JSON.parse(readFileSync(join(tmp, 'cli', 'cat.json'), 'utf8'));
  const p = await loadStableDiffusionPipeline(sd15!);
  const expected = getSigmas({ model: p.modelSampling, scheduler: 'ays', steps: 5, sampler: 'dpmpp_2m' });
  await p.dispose();
  assert.deepEqual(sidecar.sigmas, expected);
  assert.equal(sidecar.seed, '42');

  const again = await cli(args);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /^ays: error: .*cat\.png already exists; refusing to overwrite it \(pass --overwrite/);
  assert.deepEqual(readFileSync(out), png, 'the file is untouched');
  const forced = await cli([...args, '--overwrite', '--seed', '43']);
  assert.equal(forced.code, 0, forced.stderr);
  assert.notDeepEqual(readFileSync(out), png);

  const xlOut = join(tmp, 'cli', 'xl.png');
  const xl = await cli(['generate', '--model', sdxl!, '--prompt', 'a dog', '--steps', '3', '--width', '32', '--height', '32', '--batch', '2', '--seed', '1', '--out', xlOut, '--json']);
  assert.equal(xl.code, 0, xl.stderr);
  const summary = JSON.parse(xl.stdout);
  assert.deepEqual(summary.images, [join(tmp, 'cli', 'xl-0.png'), join(tmp, 'cli', 'xl-1.png')]);
  assert.equal(readPngParameters(readFileSync(summary.images[1]))!.settings.Model, 'sdxl-tiny');

  // image-to-image from a PNG on disk
  const i2i = await cli(['generate', '--model', sd15!, '--prompt', 'a cat', '--init', out, '--denoise', '0.5', '--steps', '4', '--seed', '3', '--out', join(tmp, 'cli', 'i2i.png')]);
  assert.equal(i2i.code, 0, i2i.stderr);
  assert.match(readPngParameters(readFileSync(join(tmp, 'cli', 'i2i.png')))!.settings['Denoising strength']!, /^0\.5$/);
  const grid = await cli(['generate', '--model', sd15!, '--steps', '2', '--width', '64', '--height', '64', '--batch', '3', '--grid', '--seed', '3', '--out', join(tmp, 'cli', 'grid.png')]);
  assert.equal(grid.code, 0, grid.stderr);
  assert.deepEqual(decodeImage(readFileSync(join(tmp, 'cli', 'grid.png'))).shape, [1, 3, 128, 128]);
});

test('ays generate: user mistakes are one-line errors', async () => {
  const out = join(tmp, 'cli2', 'x.png');
  mkdirSync(join(tmp, 'cli2'), { recursive: true });
  const run = (extra: string[]) => cli(['generate', '--model', sd15!, '--steps', '2', '--out', out, ...extra]);
  const cases: Array<[string[], RegExp]> = [
    [['--width', '100', '--height', '64'], /width must be a positive multiple of 8, got 100/],
    [['--denoise', '0.5'], /--denoise below 1 needs --init/],
    [['--seed', '-4'], /--seed must be (a non-negative integer|an integer in \[0, 2\^64-1)/],
    [['--width', '64', '--height', '48'], /height must be a multiple of 64 for this UNet \(8 x 2\^3 downsamplers\), got 48/],
    [['--batch', '100000'], /needs at least [\d.]+ [KMGTPE]iB .* is available; use a smaller size or batch/],
    [['--width', '100032', '--height', '100032'], /needs at least [\d.]+ [KMGTPE]iB .* is available; use a smaller size or batch/],
    [['--device', 'tpu'], /--device must be cpu or cuda/],
    [['--class', 'shirt'], /--class is for class-conditional models/],
    [['--init', join(tmp, 'nope.png'), '--denoise', '0.5'], /image file not found/],
    [['--sampler', 'nope'], /unknown sampler "nope"/],
  ];
  for (const [extra, re] of cases) {
    const r = await run(extra);
    assert.equal(r.code, 1, extra.join(' '));
    assert.match(r.stderr, re);
    assert.ok(!r.stderr.includes('    at '), 'no stack trace');
  }
  const missing = await cli(['generate', '--model', join(tmp, 'nowhere'), '--out', out]);
  assert.match(missing.stderr, /ays: error: model folder not found/);
  assert.ok(!existsSync(out), 'nothing written on errors');
});

// ---- independent reference: images diffusers itself made with two tiny real-architecture models --------------
// test/fixtures/diffusers/ is a copy of ../shared/conformance/diffusers (models without the VAE encoder, references
// trimmed to what this test reads). Its README: a right pipeline lands within max 2 and mean 0.01 grey levels of
// image_uint8; the deliberate mistakes it lists move the mean by 0.04 to 21 levels.
interface DiffusersCase {
  id: string;
  model: string;
  prompt: string;
  negative: string;
  seed: number;
  cfg: number;
  width: number;
  height: number;
  sampler: string;
  sigmas: number[];
  image_shape_hwc: [number, number, number];
  image_uint8: number[];
}
const diffusersDir = new URL('../../test/fixtures/diffusers/', import.meta.url);
const diffusersCases = (JSON.parse(readFileSync(new URL('references.json', diffusersDir), 'utf8')) as { cases: DiffusersCase[] }).cases;

for (const c of diffusersCases) {
  test(`diffusers reference ${c.id}: the image lands within max 2 / mean 0.01 grey levels of diffusers' own`, async () => {
    const dir = new URL(`${c.model}/`, diffusersDir).pathname;
    await withPipeline(dir, async (p) => {
      const r = await p.generate({
        prompt: c.prompt,
        negativePrompt: c.negative,
        width: c.width,
        height: c.height,
        seed: c.seed,
        cfg: c.cfg,
        sampler: c.sampler,
        scheduler: 'normal',
        steps: c.sigmas.length - 1,
        sigmas: c.sigmas,
      });
      const [h, w, ch] = c.image_shape_hwc;
      assert.deepEqual(r.images.shape, [1, ch, h, w]);
      let max = 0;
      let sum = 0;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          for (let k = 0; k < ch; k++) {
            const ours = Math.round(r.images.data[k * h * w + y * w + x]! * 255);
            const d = Math.abs(ours - c.image_uint8[(y * w + x) * ch + k]!);
            max = Math.max(max, d);
            sum += d;
          }
        }
      }
      const mean = sum / (h * w * ch);
      console.log(`# ${c.id}: max ${max} grey levels, mean ${mean.toExponential(3)}`);
      assert.ok(max <= 2, `${c.id}: max difference ${max} grey levels`);
      assert.ok(mean <= 0.01, `${c.id}: mean difference ${mean} grey levels`);
      assert.equal(r.nfe, c.sigmas.length - 1);
    });
  });
}

// ---- issue 13: what a new user meets ----------------------------------------------------------------------
test('sizes must be multiples of 8 x 2^downsamplers read from unet/config.json (64 for SD1.x, 32 for SDXL), at validation', async () => {
  await withPipeline(sd15!, async (p) => {
    assert.equal(p.capabilities.sizeMultiple, 64);
    await assert.rejects(p.generate({ ...base, width: 64, height: 48 }), /height must be a multiple of 64 for this UNet \(8 x 2\^3 downsamplers\), got 48; try 64/);
    await assert.rejects(p.prepareSampling({ cfg: 7, width: 96, height: 64 }), /width must be a multiple of 64 for this UNet/);
  });
  await withPipeline(sdxl!, async (p) => {
    assert.equal(p.capabilities.sizeMultiple, 32);
    await assert.rejects(p.generate({ ...base, width: 64, height: 48 }), /height must be a multiple of 32 for this UNet \(8 x 2\^2 downsamplers\), got 48/);
    const r = await p.generate({ ...base, width: 96, height: 32, steps: 1 });
    assert.deepEqual(r.images.shape, [1, 3, 32, 96]);
  });
  // the diffusers tiny SD1.5 architecture has 3 down blocks (2 downsamplers): 32, read from its config
  await withPipeline(new URL('sd15/', diffusersDir).pathname, async (p) => assert.equal(p.capabilities.sizeMultiple, 32));
});

test('sizes and batches that cannot fit in memory are refused at once with one line', async () => {
  await withPipeline(sd15!, async (p) => {
    for (const o of [{ width: 100032, height: 100032 }, { batchSize: 100000 }]) {
      const t0 = performance.now();
      await assert.rejects(p.generate({ ...base, width: undefined, height: undefined, ...o }), (e: Error) => {
        assert.match(e.message, /needs at least [\d.]+ [KMGTPE]iB \(.*\) but [\d.]+ [KMGT]?i?B is available; use a smaller size or batch$/);
        assert.ok(!e.message.includes('\n'));
        return true;
      });
      assert.ok(performance.now() - t0 < 2000, 'refused before any model work');
    }
    // a normal run still fits
    assert.equal((await p.generate({ ...base, steps: 1 })).steps, 1);
    // the same checks without any model work, for callers that queue (the server)
    assert.throws(() => p.checkRequest!({ cfg: 7, batchSize: 100000 }), /needs at least/);
    assert.throws(() => p.checkRequest!({ cfg: 7, width: 64, height: 48 }), /multiple of 64/);
    assert.throws(() => p.checkRequest!({ cfg: 7, classLabel: 'cat' }), /takes a prompt, not a class/);
    p.checkRequest!({ cfg: 7, width: 128, height: 64 });
  });
});

test('the PNG and the result say the steps actually run and the exact seed (ays with denoise, a 64-bit seed)', async () => {
  await withPipeline(sd15!, async (p) => {
    const init = decodeImage((await p.generate({ ...base, steps: 1 })).pngs[0]!);
    const r = await p.generate({ ...base, init, denoise: 0.6, scheduler: 'ays', steps: 10, seed: 2n ** 64n - 1n });
    assert.equal(r.steps, 6);
    assert.equal(r.sigmas.length, 7);
    assert.equal(r.nfe, 6);
    const params = readPngParameters(r.pngs[0]!)!;
    assert.equal(params.settings.Steps, '6');
    assert.equal(params.settings.Seed, '18446744073709551615');
    assert.equal(r.seed, 2n ** 64n - 1n);
  });
});

test('schedules that run no step or never call the model are errors naming why', async () => {
  await withPipeline(sd15!, async (p) => {
    const init = decodeImage((await p.generate({ ...base, steps: 1 })).pngs[0]!);
    await assert.rejects(p.generate({ ...base, init, denoise: 0 }), /denoise 0 runs no step/);
    await assert.rejects(p.generate({ ...base, init, denoise: 0.01, scheduler: 'ays', steps: 10 }), /ays at 10 steps and denoise 0\.01 keeps no step/);
    await assert.rejects(p.generate({ ...base, sampler: 'dpm_adaptive', sigmas: [14, 0] }), /dpm_adaptive integrates from the largest to the smallest positive sigma.*never be called/);
    await assert.rejects(p.generate({ ...base, sigmas: [] }), /sigmas needs at least 2 sigmas/);
  });
});

test('prompts over 75 tokens: 77-token windows side by side as ComfyUI does; an export fixed at 77 tokens truncates with a warning', async () => {
  const long = [...Array.from({ length: 70 }, () => 'cat'), ...Array.from({ length: 20 }, () => 'red house')].join(' ');
  const tok = loadClipTokenizer(join(sd15!, 'tokenizer'));
  const windows = tok.chunks(long);
  assert.equal(windows.length, 2);
  assert.ok(windows.every((w) => w.length === 77 && w[0] === tok.bosId));
  assert.deepEqual(tok.chunks('a photo of a cat'), [tok.encode('a photo of a cat')]);
  // ComfyUI's word rule: a word under 8 tokens that does not fit starts the next window; a longer one is split
  const cats = (k: number) => Array.from({ length: k }, () => 'cat').join(' ');
  const xyz = tok.encode('xyz').slice(1, 4);
  assert.equal(tok.count('xyz'), 3);
  const moved = tok.chunks(`${cats(74)} xyz`);
  assert.equal(moved.length, 2);
  assert.equal(moved[0]![75], tok.eosId);
  assert.deepEqual(moved[1]!.slice(1, 4), xyz);
  assert.equal(tok.count('abcdefghij'), 10);
  const split = tok.chunks(`${cats(70)} abcdefghij`);
  assert.deepEqual([...split[0]!.slice(71, 76), ...split[1]!.slice(1, 6)], tok.encode('abcdefghij').slice(1, 11));
  const sigma = 5;
  // by hand: both windows through the text encoder, states one after the other; the 1-window negative repeated twice
  const te = await openSession(join(sd15!, 'text_encoder/model.onnx'));
  const unet = await openSession(join(sd15!, 'unet/model.onnx'));
  const dec = await openSession(join(sd15!, 'vae_decoder/model.onnx'));
  const neg = tok.chunks('blurry');
  const rows = [...neg, ...windows];
  const states = readFloat((await te.run({ input_ids: new ort.Tensor('int32', Int32Array.from(rows.flat()), [rows.length, 77]) })).last_hidden_state!);
  const per = 77 * 32;
  const ctx = new Float32Array(2 * 154 * 32);
  ctx.set(states.subarray(0, per), 0);
  ctx.set(states.subarray(0, per), per);
  ctx.set(states.subarray(per, 3 * per), 2 * per);
  const shape = [1, 4, 8, 16];
  const n = 4 * 8 * 16;
  const x = Float32Array.from(prepareNoise(42, shape).data, (e) => e * sigma);
  const cIn = 1 / Math.sqrt(sigma * sigma + 1);
  const inp = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) inp[i] = inp[n + i] = x[i]! * cIn;
  const ms = (await import('../src/model-sampling/discrete.js')).discreteModelSampling({});
  const out = readFloat((await unet.run({ sample: floatTensor('float32', inp, [2, 4, 8, 16]), timestep: floatTensor('float32', [ms.timestep(sigma), ms.timestep(sigma)], [2]), encoder_hidden_states: floatTensor('float32', ctx, [2, 154, 32]) })).out_sample!);
  const z = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const u = x[i]! - sigma * out[i]!;
    const c = x[i]! - sigma * out[n + i]!;
    z[i] = (u + (c - u) * 7) / 0.18215;
  }
  const img = readFloat((await dec.run({ latent_sample: floatTensor('float32', z, shape) })).sample!);
  await Promise.all([te.release(), unet.release(), dec.release()]);
  await withPipeline(sd15!, async (p) => {
    const r = await p.generate({ ...base, prompt: long, negativePrompt: 'blurry', sigmas: [sigma, 0] });
    assert.deepEqual(r.warnings, []);
    let worst = 0;
    for (let i = 0; i < img.length; i++) worst = Math.max(worst, Math.abs(Math.min(1, Math.max(0, img[i]! * 0.5 + 0.5)) - r.images.data[i]!));
    assert.ok(worst < 1e-5, `max difference ${worst}`);
    // the second window matters
    const cut = await p.generate({ ...base, prompt: long.split(' ').slice(0, 75).join(' '), negativePrompt: 'blurry', sigmas: [sigma, 0] });
    assert.ok(meanAbsDiff(cut.images, r.images) > 1e-5);
  });
  // SDXL: both encoders windowed, pooled from the first window
  await withPipeline(sdxl!, async (p) => {
    const r = await p.generate({ ...base, prompt: long, steps: 2 });
    assert.deepEqual(r.warnings, []);
    assert.ok(r.images.data.every(Number.isFinite));
  });
  // an export whose UNet takes exactly 77 tokens: truncated, with a warning naming the cut
  const fixed = join(tmp, 'sd15-seq77');
  writeTinyModel(fixed, { kind: 'sd15', unetStaticShape: { sequence: 77 } });
  await withPipeline(fixed, async (p) => {
    const r = await p.generate({ ...base, prompt: long, steps: 1 });
    assert.equal(r.warnings.length, 1);
    assert.match(r.warnings[0]!, /^the prompt has 110 tokens; this UNet export takes 77-token text only, so CLIP reads the first 75 and the last 35 are ignored$/);
    assert.deepEqual((await p.generate({ ...base, steps: 1 })).warnings, []);
  });
});

test('SDXL with a float16 VAE: refused at load naming the fix, or run in float32 from vae_decoder_fp32/', async () => {
  const half = join(tmp, 'sdxl-fp16');
  writeTinyModel(half, { kind: 'sdxl', float16: true });
  await assert.rejects(loadPipeline(half), /vae_decoder\/model\.onnx is float16, and SDXL's VAE overflows in float16 .*vae_decoder_fp32\/.*sdxl-vae-fp16-fix/);
  // a float32 decoder next to it is used instead
  const full = join(tmp, 'sdxl-fp32-for-vae');
  writeTinyModel(full, { kind: 'sdxl' });
  mkdirSync(join(half, 'vae_decoder_fp32'));
  for (const f of ['model.onnx', 'config.json']) writeFileSync(join(half, 'vae_decoder_fp32', f), readFileSync(join(full, 'vae_decoder', f)));
  await withPipeline(half, async (p) => {
    const r = await p.generate({ ...base, steps: 2 });
    assert.ok(r.images.data.every(Number.isFinite));
  });
  // a VAE whose config says force_upcast: false (the fp16-fix VAE) runs in float16 as it is
  const fixed = join(tmp, 'sdxl-fp16-fixed');
  writeTinyModel(fixed, { kind: 'sdxl', float16: true });
  const cfgPath = join(fixed, 'vae_decoder', 'config.json');
  writeFileSync(cfgPath, JSON.stringify({ ...JSON.parse(readFileSync(cfgPath, 'utf8')), force_upcast: false }));
  await withPipeline(fixed, async (p) => assert.equal((await p.generate({ ...base, steps: 1 })).steps, 1));
  // SD1.x float16 exports are not affected
  await withPipeline(sd15fp16!, async (p) => assert.equal((await p.generate({ ...base, steps: 1 })).steps, 1));
});
