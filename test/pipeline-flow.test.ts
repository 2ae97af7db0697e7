/**
 * SD3 and Flux pipelines on the tiny fixtures of `npm run make-fixtures` (src/fixtures/flow-tiny.ts): text-to-image
 * and image-to-image, CFG rows, Flux guidance, packing and position ids, seeds as ComfyUI draws them, the pipeline
 * seam, every sampler, schedules on the folder's own shift, T5 once per prompt, and every bad input as one line
 * before any work. Conformance with diffusers itself is in pipeline-flow-diffusers.test.ts.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync, spawnSync } from 'node:child_process';
import { writeFlowFixtureModels, writeFlowTinyModel } from '../src/fixtures/flow-tiny.js';
import { GraphBuilder } from '../src/fixtures/onnx-graph.js';
import { loadPipeline } from '../src/pipelines/load.js';
import { checkFlowOptions, checkFlowRequest, loadFlowPipeline, type FlowGenerateOptions, type FlowPipeline } from '../src/pipelines/flow/pipeline.js';
import { packLatents, unpackLatents, fluxImageIds } from '../src/pipelines/flow/transformer.js';
import { fluxMu, readFlowFolder } from '../src/pipelines/flow/folder.js';
import { prepareNoise } from '../src/noise/sources.js';
import { getSigmas } from '../src/schedules/index.js';
import { sample } from '../src/samplers/sample.js';
import { samplerNames } from '../src/samplers/registry.js';
import { initialLatent, type GuidedModelDenoiser } from '../src/denoisers/model.js';
import { decodeImage, readPngParameters } from '../src/image/png.js';
import type { Tensor } from '../src/tensor/tensor.js';
import type { ort } from '../src/runtime/session.js';

const tmp = mkdtempSync(join(tmpdir(), 'ays-flow-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const [sd3Dir, devDir, schnellDir] = writeFlowFixtureModels(join(tmp, 'models')) as [string, string, string];
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const diffusersFlow = fileURLToPath(new URL('../../test/fixtures/diffusers-flow/', import.meta.url));

const loaded = new Map<string, Promise<FlowPipeline>>();
function pipe(dir: string): Promise<FlowPipeline> {
  let p = loaded.get(dir);
  if (!p) {
    p = loadFlowPipeline(dir, { threads: 1 });
    loaded.set(dir, p);
  }
  return p;
}
after(async () => {
  for (const p of loaded.values()) await (await p).dispose();
});

const base: FlowGenerateOptions = { prompt: 'a photo of a red cat', width: 64, height: 48, seed: 42, scheduler: 'simple', sampler: 'euler', steps: 3, cfg: 1 };

function meanAbsDiff(a: Tensor, b: Tensor): number {
  assert.deepEqual(a.shape, b.shape);
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += Math.abs(a.data[i]! - b.data[i]!);
  return s / a.data.length;
}

/** Record copies of every transformer call's inputs. */
function recorder() {
  const calls: Array<Record<string, { data: number[]; dims: number[]; type: string }>> = [];
  const onTransformerCall = (feeds: Record<string, ort.Tensor>) => {
    calls.push(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, { data: Array.from(v.data as ArrayLike<number | bigint>, Number), dims: v.dims.map(Number), type: v.type }])));
  };
  return { calls, onTransformerCall };
}

async function rejectsOneLine(p: Promise<unknown> | (() => unknown), pattern: RegExp): Promise<void> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof Error, `expected an error matching ${pattern}`);
  assert.match(err.message, pattern);
  assert.ok(!err.message.includes('\n'), `one line: ${err.message}`);
}

test('loadPipeline detects SD3 and Flux folders; capabilities, model sampling on the folder\'s own shift', async () => {
  const sd3 = await loadPipeline(sd3Dir, { threads: 1 });
  try {
    assert.equal(sd3.kind, 'stable-diffusion-3');
    assert.equal(sd3.capabilities.recommendedCfg, 7);
    assert.equal(sd3.capabilities.sizeMultiple, 16);
    assert.deepEqual(sd3.capabilities.nativeSize, { width: 64, height: 64 });
    assert.equal(sd3.capabilities.imageToImage, true);
    assert.equal(sd3.modelSampling.kind, 'flow');
    assert.equal((sd3.modelSampling as { shift?: number }).shift, 3);
    assert.equal(sd3.modelSampling.timestep(0.5), 500);
    assert.match(await sd3.model.contentHash(), /^[0-9a-f]{64}$/);
  } finally {
    await sd3.dispose();
  }
  const dev = await pipe(devDir);
  assert.equal(dev.kind, 'flux');
  assert.equal(dev.capabilities.recommendedCfg, 1);
  assert.equal(dev.defaultGuidance, 3.5);
  // Flux: mu from the packed sequence length, 0.5 at 256 tokens (256x256) and 1.15 at 4096 (1024x1024)
  const cfg = dev.folder.scheduler;
  assert.ok(Math.abs(fluxMu(cfg, 256, 256) - 0.5) < 1e-12);
  assert.ok(Math.abs(fluxMu(cfg, 1024, 1024) - 1.15) < 1e-12);
  assert.equal((dev.modelSamplingFor(1024, 1024) as { shift?: number }).shift, fluxMu(cfg, 1024, 1024));
  assert.equal(dev.modelSamplingFor(64, 64).timestep(0.25), Math.fround(0.25), 'Flux takes sigma itself');
  const s64 = dev.schedule({ scheduler: 'simple', steps: 4, width: 64, height: 64 });
  const s1024 = dev.schedule({ scheduler: 'simple', steps: 4, width: 1024, height: 1024 });
  assert.ok(s1024[2]! > s64[2]!, 'larger images get a larger shift (more time at high noise)');
  const schnell = await pipe(schnellDir);
  assert.equal(schnell.defaultGuidance, undefined);
  assert.deepEqual(schnell.schedule({ scheduler: 'simple', steps: 4 }), [1, 0.75, 0.5, 0.25, 0], 'schnell: shift 1 from its config');
});

test('SD3 text-to-image: PNG parameters, deterministic for a seed, prompt and negative reach the transformer, CFG rows [uncond, cond]', async () => {
  const p = await pipe(sd3Dir);
  const rec = recorder();
  const a = await p.generate({ ...base, cfg: 4, negativePrompt: 'blurry', onTransformerCall: rec.onTransformerCall });
  assert.deepEqual(a.images.shape, [1, 3, 48, 64]);
  assert.equal(a.nfe, 3);
  assert.deepEqual(a.sigmas, getSigmas({ model: p.modelSampling, scheduler: 'simple', steps: 3 }));
  assert.deepEqual(readPngParameters(a.pngs[0]!), {
    prompt: 'a photo of a red cat',
    negativePrompt: 'blurry',
    settings: { Steps: '3', Sampler: 'euler', 'Schedule type': 'simple', 'CFG scale': '4', Seed: '42', Size: '64x48', Model: 'sd3-tiny' },
  });
  const first = rec.calls[0]!;
  assert.deepEqual(first.hidden_states!.dims, [2, 16, 6, 8]);
  assert.deepEqual(first.timestep!.data, [1000, 1000]);
  assert.deepEqual(first.encoder_hidden_states!.dims, [2, 77 + 256, 48]);
  assert.deepEqual(first.pooled_projections!.dims, [2, 40]);
  // row 0 is the negative prompt's, row 1 the prompt's: the same as encoding each alone
  const neg = await p.encodePrompt('blurry');
  const pos = await p.encodePrompt('a photo of a red cat');
  const ctx = first.encoder_hidden_states!.data;
  const per = 333 * 48;
  assert.deepEqual(ctx.slice(0, per), Array.from(neg.embeds));
  assert.deepEqual(ctx.slice(per), Array.from(pos.embeds));
  assert.deepEqual(first.pooled_projections!.data, [...neg.pooled, ...pos.pooled]);
  // SD3 assembly: CLIP-L (16) and CLIP-G (24) side by side, zero-padded to T5's 48, then T5's 256 tokens
  for (let r = 0; r < 77; r++) for (let c = 40; c < 48; c++) assert.equal(pos.embeds[r * 48 + c], 0);
  assert.equal(pos.tokenIds.text_encoder_3!.length, 256);
  const b = await p.generate({ ...base, cfg: 4, negativePrompt: 'blurry' });
  assert.deepEqual(b.pngs[0], a.pngs[0], 'same seed, same bytes');
  assert.ok(meanAbsDiff(a.images, (await p.generate({ ...base, cfg: 4, negativePrompt: 'blurry', seed: 43 })).images) > 1e-3, 'seed');
  assert.ok(meanAbsDiff(a.images, (await p.generate({ ...base, cfg: 4, negativePrompt: 'blurry', prompt: 'a blue house' })).images) > 1e-4, 'prompt');
  assert.ok(meanAbsDiff(a.images, (await p.generate({ ...base, cfg: 4, negativePrompt: 'a dog' })).images) > 1e-4, 'negative');
  const one = recorder();
  await p.generate({ ...base, cfg: 1, onTransformerCall: one.onTransformerCall });
  assert.deepEqual(one.calls[0]!.hidden_states!.dims, [1, 16, 6, 8], 'cfg 1: no uncond row');
});

test('seeds as ComfyUI draws them: the first transformer input is torch.randn(seed) of the unpacked [B,16,H/8,W/8] (packed for Flux)', async () => {
  const sd3 = await pipe(sd3Dir);
  const r1 = recorder();
  await sd3.generate({ ...base, batchSize: 2, seed: 7, onTransformerCall: r1.onTransformerCall });
  const noise = prepareNoise(7, [2, 16, 6, 8]);
  assert.deepEqual(r1.calls[0]!.hidden_states!.data, Array.from(noise.data), 'sigma 1: x is the noise itself');
  const dev = await pipe(devDir);
  const r2 = recorder();
  const res = await dev.generate({ ...base, batchSize: 2, seed: 7, onTransformerCall: r2.onTransformerCall });
  assert.deepEqual(r2.calls[0]!.hidden_states!.dims, [2, 12, 64]);
  assert.deepEqual(r2.calls[0]!.hidden_states!.data, Array.from(packLatents(noise.data, 2, 16, 6, 8)));
  // one noise tensor for the batch: two different images
  const n = res.images.data.length / 2;
  let d = 0;
  for (let i = 0; i < n; i++) d += Math.abs(res.images.data[i]! - res.images.data[n + i]!);
  assert.ok(d / n > 1e-3);
  assert.equal(readPngParameters(res.pngs[1]!)!.settings['Batch pos'], '1');
});

test('Flux packing and position ids equal diffusers\' (_pack_latents, _unpack_latents, img_ids) on the reference latents', () => {
  const ref = JSON.parse(readFileSync(join(diffusersFlow, 'references.json'), 'utf8')) as { cases: Array<Record<string, unknown>> };
  const flux = ref.cases.filter((c) => c.model === 'flux');
  assert.ok(flux.length > 0);
  for (const c of flux) {
    const [, C, h, w] = c.latents0_shape as number[];
    assert.deepEqual(Array.from(packLatents(c.latents0 as number[], 1, C!, h!, w!)), (c.latents0_packed as number[]).map(Math.fround));
    assert.deepEqual(Array.from(unpackLatents(c.latent_packed_final as number[], 1, C!, h!, w!)), (c.latent as number[]).map(Math.fround));
    assert.deepEqual(fluxImageIds(h!, w!), (c.transformer_first_call as { img_ids: number[] }).img_ids);
  }
  // non-square: rows run over the height, columns over the width
  assert.deepEqual(fluxImageIds(4, 6), [0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 1, 0, 0, 1, 1, 0, 1, 2]);
  const x = Float32Array.from({ length: 2 * 16 * 4 * 6 }, (_, i) => i);
  assert.deepEqual(unpackLatents(packLatents(x, 2, 16, 4, 6), 2, 16, 4, 6), x);
});

test('Flux dev: guidance, int64 img_ids/txt_ids, timestep = sigma; true CFG only with --cfg > 1', async () => {
  const p = await pipe(devDir);
  const rec = recorder();
  const a = await p.generate({ ...base, guidance: 2.5, onTransformerCall: rec.onTransformerCall });
  const first = rec.calls[0]!;
  assert.deepEqual(first.guidance!.data, [2.5]);
  assert.equal(first.img_ids!.type, 'int64');
  assert.deepEqual(first.img_ids!.dims, [12, 3]);
  assert.deepEqual(first.img_ids!.data, fluxImageIds(6, 8));
  assert.equal(first.txt_ids!.type, 'int64');
  assert.deepEqual(first.txt_ids!.dims, [512, 3]);
  assert.ok(first.txt_ids!.data.every((v) => v === 0));
  assert.deepEqual(first.encoder_hidden_states!.dims, [1, 512, 24]);
  rec.calls.forEach((c, i) => assert.deepEqual(c.timestep!.data, [Math.fround(Math.fround(a.sigmas[i]! * 1000) / 1000)]));
  assert.match(a.parameters[0]!, /Guidance: 2\.5/);
  assert.equal(a.guidance, 2.5);
  const d = await p.generate({ ...base });
  assert.equal(d.guidance, 3.5, 'default guidance 3.5 (diffusers)');
  assert.ok(meanAbsDiff(a.images, d.images) > 1e-4, 'guidance reaches the transformer');
  // true CFG: [uncond, cond] rows; the negative prompt matters
  const cfgRec = recorder();
  const c1 = await p.generate({ ...base, cfg: 3, negativePrompt: 'blurry', onTransformerCall: cfgRec.onTransformerCall });
  assert.deepEqual(cfgRec.calls[0]!.hidden_states!.dims, [2, 12, 64]);
  assert.deepEqual(cfgRec.calls[0]!.guidance!.data, [3.5, 3.5]);
  const c2 = await p.generate({ ...base, cfg: 3, negativePrompt: 'a dog' });
  assert.ok(meanAbsDiff(c1.images, c2.images) > 1e-4);
  await rejectsOneLine(p.generate({ ...base, negativePrompt: 'blurry' }), /Flux runs without CFG at --cfg 1/);
  // max sequence length: T5 tokens
  const shortRec = recorder();
  const short = await p.generate({ ...base, maxSequenceLength: 64, onTransformerCall: shortRec.onTransformerCall });
  assert.deepEqual(shortRec.calls[0]!.encoder_hidden_states!.dims, [1, 64, 24]);
  assert.deepEqual(shortRec.calls[0]!.txt_ids!.dims, [64, 3]);
  assert.match(short.parameters[0]!, /Max sequence length: 64/);
  const long = await p.generate({ ...base, prompt: 'a red cat '.repeat(30), maxSequenceLength: 16 });
  assert.ok(long.warnings.some((w) => /longer than the T5 sequence \(16 tokens\)/.test(w)), long.warnings.join('; '));
});

test('Flux schnell: no guidance input, --guidance refused', async () => {
  const p = await pipe(schnellDir);
  const rec = recorder();
  await p.generate({ ...base, onTransformerCall: rec.onTransformerCall });
  assert.equal(rec.calls[0]!.guidance, undefined);
  await rejectsOneLine(p.generate({ ...base, guidance: 3.5 }), /no guidance embedding \(schnell style\)/);
});

test('image-to-image: VAE-encoded init, flow noising sigma0 * noise + (1 - sigma0) * latent, denoise keeps the schedule\'s tail', async () => {
  for (const dir of [sd3Dir, devDir]) {
    const p = await pipe(dir);
    const init = decodeImage((await p.generate({ ...base, seed: 5 })).pngs[0]!);
    const rec = recorder();
    const half = await p.generate({ ...base, init, denoise: 0.5, steps: 4, onTransformerCall: rec.onTransformerCall });
    assert.deepEqual(half.sigmas, p.schedule({ scheduler: 'simple', steps: 4, denoise: 0.5, width: 64, height: 48 }));
    assert.equal(half.nfe, 4);
    assert.match(half.parameters[0]!, /Denoising strength: 0\.5/);
    // the first transformer input is the library's flow noising of the encoded init
    const setup = await p.prepareSampling({ ...base, init });
    assert.ok(setup.initLatent);
    const x = initialLatent(prepareNoise(42, [1, 16, 6, 8]), half.sigmas[0]!, setup.modelSampling, setup.initLatent);
    const got = rec.calls[0]!.hidden_states!.data;
    const want = p.kind === 'flux' ? Array.from(packLatents(x.data, 1, 16, 6, 8)) : Array.from(x.data);
    assert.deepEqual(got, want);
    await rejectsOneLine(p.generate({ ...base, width: 32, init, denoise: 0.5 }), /width 32 differs from the init image's width 64/);
    await rejectsOneLine(p.generate({ ...base, init, denoise: 0 }), /denoise 0 runs no step/);
  }
});

test('the seam: prepareSampling + sample(modelSampling) + decode = generate, bit for bit', async () => {
  for (const dir of [sd3Dir, devDir]) {
    const p = await pipe(dir);
    const o = { ...base, cfg: p.kind === 'flux' ? 1 : 3, sampler: 'dpmpp_2m', steps: 4 };
    const g = await p.generate(o);
    const setup = await p.prepareSampling(o);
    assert.deepEqual(setup.latentShape, [1, 16, 6, 8]);
    assert.equal(setup.modelSampling.kind, 'flow');
    const sigmas = p.schedule({ scheduler: 'simple', steps: 4, width: 64, height: 48 });
    const x = initialLatent(prepareNoise(42, [...setup.latentShape]), sigmas[0]!, setup.modelSampling);
    const out = await sample('dpmpp_2m', setup.denoiser, x, sigmas, { seed: 42, modelSampling: setup.modelSampling });
    assert.equal(setup.calls(), 4);
    const images = await setup.decode(out);
    assert.deepEqual(images.data, g.images.data);
  }
  // an ancestral sampler: ComfyUI's flow path (the model sampling passed through), not the eps rule
  const p = await pipe(devDir);
  const g = await p.generate({ ...base, sampler: 'euler_ancestral', steps: 4 });
  const setup = await p.prepareSampling({ ...base, sampler: 'euler_ancestral' });
  const sigmas = p.schedule({ scheduler: 'simple', steps: 4, width: 64, height: 48 });
  const x = () => initialLatent(prepareNoise(42, [...setup.latentShape]), sigmas[0]!, setup.modelSampling);
  const flow = await setup.decode(await sample('euler_ancestral', setup.denoiser, x(), sigmas, { seed: 42, modelSampling: setup.modelSampling }));
  assert.deepEqual(flow.data, g.images.data);
  const eps = await setup.decode(await sample('euler_ancestral', setup.denoiser, x(), sigmas, { seed: 42 }));
  assert.ok(meanAbsDiff(eps, g.images) > 1e-4, 'without modelSampling the eps ancestral rule gives another image');
});

test('denoiser.rows: each batch row at its own noise level (the optimizer\'s estimators), one transformer call', async () => {
  for (const dir of [sd3Dir, devDir]) {
    const p = await pipe(dir);
    const rec = recorder();
    const setup = await p.prepareSampling({ ...base, batchSize: 2, cfg: 2, onTransformerCall: rec.onTransformerCall });
    const x = prepareNoise(3, [...setup.latentShape]);
    const both = await (setup.denoiser as GuidedModelDenoiser).rows(x, [0.9, 0.4]);
    const t = rec.calls[0]!.timestep!.data;
    const ms = setup.modelSampling;
    const conv = (s: number) => (p.kind === 'flux' ? Math.fround(Math.fround(ms.timestep(s) * 1000) / 1000) : Math.fround(ms.timestep(s)));
    assert.deepEqual(t, [conv(0.9), conv(0.4), conv(0.9), conv(0.4)], '[uncond b0, uncond b1, cond b0, cond b1]');
    const one = await p.prepareSampling({ ...base, batchSize: 1, cfg: 2 });
    const per = x.data.length / 2;
    for (const [b, s] of [[0, 0.9], [1, 0.4]] as const) {
      const alone = await one.denoiser({ data: x.data.slice(b * per, (b + 1) * per), shape: [1, ...x.shape.slice(1)] }, s);
      let worst = 0;
      for (let i = 0; i < per; i++) worst = Math.max(worst, Math.abs(alone.data[i]! - both.data[b * per + i]!));
      assert.ok(worst < 1e-5, `${p.kind} row ${b}: ${worst}`);
    }
  }
});

test('every sampler runs on SD3 and Flux pipelines (the model sampling passed to sample()), finite images', async () => {
  const sd3 = await pipe(sd3Dir);
  const dev = await pipe(devDir);
  for (const name of samplerNames) {
    for (const p of [sd3, dev]) {
      const r = await p.generate({ ...base, width: 32, height: 32, sampler: name, steps: 3, cfg: p.kind === 'flux' ? 1 : 2 });
      assert.ok(r.images.data.every((v) => Number.isFinite(v) && v >= 0 && v <= 1), `${name} on ${p.kind}`);
    }
  }
  // cfg_pp samplers need the uncond prediction even at cfg 1: two rows
  const rec = recorder();
  await dev.generate({ ...base, sampler: 'euler_cfg_pp', onTransformerCall: rec.onTransformerCall });
  assert.equal(rec.calls[0]!.hidden_states!.dims[0], 2);
});

test('T5 runs once per prompt; the sessions are created at load and reused', async () => {
  const p = await pipe(sd3Dir);
  await p.generate({ ...base, prompt: 'a tree in the sky', negativePrompt: 'a house', cfg: 2 });
  assert.equal(p.lastTimings!.t5Runs, 2, 'prompt and negative');
  await p.generate({ ...base, prompt: 'a tree in the sky', negativePrompt: 'a house', cfg: 2, seed: 9, batchSize: 2 });
  assert.equal(p.lastTimings!.t5Runs, 0, 'both remembered');
  await p.generate({ ...base, prompt: 'a tree in the sky', negativePrompt: 'a red house', cfg: 2 });
  assert.equal(p.lastTimings!.t5Runs, 1);
  const t = p.lastTimings!;
  assert.equal(t.transformerCalls, 3);
  assert.ok(t.perStepOtherMs >= 0 && t.transformerMs > 0);
});

test('SD3 without T5 (model_index.json text_encoder_3 null): zeros of the joint width stand in, as in diffusers', async () => {
  const dir = join(tmp, 'sd3-no-t5');
  writeFlowTinyModel(dir, { kind: 'sd3', withoutT5: true });
  const p = await loadFlowPipeline(dir, { threads: 1 });
  try {
    const e = await p.encodePrompt('a cat');
    assert.equal(e.seq, 77 + 256);
    assert.ok(e.embeds.subarray(77 * 48).every((v) => v === 0));
    const r = await p.generate({ ...base });
    assert.ok(r.images.data.every((v) => Number.isFinite(v)));
  } finally {
    await p.dispose();
  }
});

test('float16 transformer exports run (inputs and outputs converted)', async () => {
  const dir = join(tmp, 'sd3-fp16');
  writeFlowTinyModel(dir, { kind: 'sd3', float16: true });
  const p = await loadFlowPipeline(dir, { threads: 1 });
  const q = await pipe(sd3Dir);
  try {
    const r = await p.generate({ ...base, cfg: 3 });
    assert.ok(r.images.data.every((v) => Number.isFinite(v)));
    const r32 = await q.generate({ ...base, cfg: 3 });
    assert.ok(meanAbsDiff(r.images, r32.images) < 0.02, 'float16 stays close to float32');
  } finally {
    await p.dispose();
  }
});

test('bad input: one line, before any model runs', async () => {
  // a folder missing a component
  for (const [rel, pattern] of [
    ['text_encoder_3/model.onnx', /missing text_encoder_3\/model\.onnx \(T5 text encoder\)/],
    ['vae_decoder/model.onnx', /missing vae_decoder\/model\.onnx/],
    ['scheduler/scheduler_config.json', /missing scheduler\/scheduler_config\.json/],
    ['tokenizer_2/tokenizer.json', /tokenizer_2 has no tokenizer\.json/],
  ] as const) {
    const dir = join(tmp, `broken-${rel.replace(/\W/g, '_')}`);
    cpSync(sd3Dir, dir, { recursive: true });
    unlinkSync(join(dir, rel));
    await rejectsOneLine(loadPipeline(dir), pattern);
  }
  // a tokenizer that does not load
  const badTok = join(tmp, 'bad-t5-tokenizer');
  cpSync(devDir, badTok, { recursive: true });
  writeFileSync(join(badTok, 'tokenizer_2', 'tokenizer.json'), '{"model": ');
  await rejectsOneLine(loadPipeline(badTok), /tokenizer_2\/tokenizer\.json: not valid JSON/);
  writeFileSync(join(badTok, 'tokenizer_2', 'tokenizer.json'), JSON.stringify({ model: { type: 'Unigram', vocab: [['a', 0]] } }));
  await rejectsOneLine(loadPipeline(badTok), /tokenizer_2/);
  // a bfloat16 export: no CPU kernels
  const bf16 = join(tmp, 'bf16-transformer');
  cpSync(sd3Dir, bf16, { recursive: true });
  const g = new GraphBuilder('bf16');
  const xin = g.input('hidden_states', 'float32', ['batch_size', 16, 'height', 'width']);
  const xb = g.op('Cast', [xin], { to: 16 });
  g.output('out_hidden_states', 'float32', ['batch_size', 16, 'height', 'width'], g.op('Cast', [g.op('Mul', [xb, xb])], { to: 1 }));
  writeFileSync(join(bf16, 'transformer', 'model.onnx'), g.toBytes());
  await rejectsOneLine(loadPipeline(bf16), /transformer\/model\.onnx: onnxruntime's CPU provider has no Mul kernel .*bfloat16 exports do not run on the CPU/);
  // a scheduler ays cannot follow
  const badSched = join(tmp, 'bad-scheduler');
  cpSync(sd3Dir, badSched, { recursive: true });
  writeFileSync(join(badSched, 'scheduler', 'scheduler_config.json'), JSON.stringify({ _class_name: 'FlowMatchEulerDiscreteScheduler', shift: 3, use_karras_sigmas: true }));
  assert.throws(() => readFlowFolder(badSched), /use_karras_sigmas true is not supported/);

  const sd3 = await pipe(sd3Dir);
  const dev = await pipe(devDir);
  await rejectsOneLine(sd3.generate({ ...base, width: 72 }), /width must be a positive multiple of 16 for SD3/);
  await rejectsOneLine(sd3.generate({ ...base, width: 512 }), /pos_embed_max_size 16 allows at most 256 pixels/);
  await rejectsOneLine(dev.generate({ ...base, height: 40 }), /height must be a positive multiple of 16 for Flux/);
  await rejectsOneLine(sd3.generate({ ...base, guidance: 3 }), /SD3 has no embedded guidance/);
  await rejectsOneLine(dev.generate({ ...base, maxSequenceLength: 600 }), /max sequence length must be an integer in \[1, 512\]/);
  await rejectsOneLine(dev.generate({ ...base, sigmas: [14.6, 1, 0] }), /flow models take sigmas in \[0, 1\]/);
  await rejectsOneLine(dev.generate({ ...base, sigmas: [1, 1, 0] }), /strictly descending/);
  await rejectsOneLine(dev.generate({ ...base, sampler: 'nope' }), /unknown sampler "nope"/);
  // sizes that cannot fit in memory (attention scores on the CPU), and checkRequest for callers that queue work
  await rejectsOneLine(() => checkFlowRequest(dev.folder, { cfg: 1, width: 1024, height: 1024 }, 'cpu', 64 * 2 ** 20), /1024x1024 with batch 1 needs at least .* \(attention scores 1 x 2 x 4608\^2: .*\) but 64 MiB is available/);
  assert.doesNotThrow(() => checkFlowRequest(dev.folder, { cfg: 1, width: 1024, height: 1024 }, 'cuda', 64 * 2 ** 20 * 4));
  await rejectsOneLine(() => dev.checkRequest!({ cfg: 1, width: 40, height: 64 }), /width must be a positive multiple of 16/);
  await rejectsOneLine(() => sd3.checkRequest!({ cfg: 1, guidance: 2 }), /SD3 has no embedded guidance/);
  await rejectsOneLine(dev.generate({ ...base, scheduler: 'ays' }), /no Align Your Steps table/);
  // ComfyUI's laplace clamps to sigma_max = 1 on flow models and repeats it: refused before any model work
  await rejectsOneLine(() => checkFlowOptions(dev.folder, { ...base, scheduler: 'laplace', steps: 4 }), /laplace at 4 steps on this model must be strictly descending.*this scheduler repeats it/);
});

test('CLI: generate on SD3/Flux folders (defaults simple + model cfg), sidecar, errors before loading; sigmas --model DIR', () => {
  const out = join(tmp, 'cli');
  mkdirSync(out, { recursive: true });
  const run = (args: string[]) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8' });
  let r = run(['generate', '--model', devDir, '--prompt', 'a cat', '--width', '64', '--height', '48', '--steps', '2', '--seed', '3', '--guidance', '2', '--out', join(out, 'f.png'), '--json']);
  assert.equal(r.status, 0, r.stderr);
  const side = JSON.parse(readFileSync(join(out, 'f.json'), 'utf8')) as Record<string, unknown>;
  assert.equal(side.kind, 'flux');
  assert.equal(side.scheduler, 'simple');
  assert.equal(side.cfg, 1);
  assert.equal(side.guidance, 2);
  assert.equal(side.maxSequenceLength, 512);
  r = run(['generate', '--model', sd3Dir, '--prompt', 'a cat', '--negative', 'a dog', '--width', '64', '--height', '48', '--steps', '2', '--out', join(out, 's.png')]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(JSON.parse(readFileSync(join(out, 's.json'), 'utf8')).cfg, 7);
  for (const [args, pattern] of [
    [['--model', schnellDir, '--guidance', '3'], /no guidance embedding/],
    [['--model', devDir, '--negative', 'x'], /Flux runs without CFG/],
    [['--model', sd3Dir, '--width', '1000'], /multiple of 16/],
    [['--model', sd3Dir, '--max-sequence-length', '0'], /--max-sequence-length must be an integer in \[1, 512\]/],
  ] as const) {
    r = run(['generate', ...args, '--prompt', 'a', '--out', join(out, 'x.png')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
  const json = (args: string[]) => JSON.parse(execFileSync(process.execPath, [cli, 'sigmas', ...args, '--json'], { encoding: 'utf8' })) as { sigmas: number[]; timesteps: Array<number | null>; modelSampling: { shift: number } };
  const sd3 = json(['--model', sd3Dir, '--scheduler', 'simple', '--steps', '4']);
  assert.deepEqual(sd3.sigmas, getSigmas({ model: 'sd3', scheduler: 'simple', steps: 4 }), 'shift 3 from the config = the sd3 preset');
  assert.equal(sd3.modelSampling.shift, 3);
  assert.deepEqual(sd3.timesteps.slice(0, 2), [1000, Math.fround(Math.fround(sd3.sigmas[1]!) * 1000)]);
  const small = json(['--model', devDir, '--scheduler', 'beta', '--steps', '4', '--width', '256', '--height', '256']);
  const big = json(['--model', devDir, '--scheduler', 'beta', '--steps', '4']);
  assert.ok(Math.abs(small.modelSampling.shift - 0.5) < 1e-12);
  assert.ok(Math.abs(big.modelSampling.shift - 1.15) < 1e-12, 'native 1024x1024');
  assert.ok(big.sigmas[2]! > small.sigmas[2]!);
  r = spawnSync(process.execPath, [cli, 'sigmas', '--model', 'sd3', '--width', '512'], { encoding: 'utf8' });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /--width\/--height apply to a Flux model folder/);
});
