import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { carriedSigmas, loadClassConditionalPipeline, type ClassConditionalPipeline } from '../src/pipelines/class-conditional.js';
import { defaultModelDir } from '../src/bundled/model-files.js';
import { loadEvaluator, type Evaluator } from '../src/bundled/evaluator.js';
import { openSession, ort, readFloat } from '../src/runtime/session.js';
import { readPngParameters } from '../src/image/png.js';

const MODEL_DIR = defaultModelDir();
let pipeline: ClassConditionalPipeline;
let evaluator: Evaluator;
const scratch = mkdtempSync(join(tmpdir(), 'ays-class-cond-'));

before(async () => {
  pipeline = await loadClassConditionalPipeline(MODEL_DIR);
  evaluator = await loadEvaluator(MODEL_DIR);
});
after(async () => {
  await pipeline?.dispose();
  await evaluator?.release();
  rmSync(scratch, { recursive: true, force: true });
});

interface CheckFile {
  sample: number[];
  sample_shape: number[];
  timestep: number[];
  class_label: number[];
  eps: number[];
}

test('unet.onnx in onnxruntime-node matches the PyTorch output stored in check.json', async () => {
  const check = JSON.parse(readFileSync(join(MODEL_DIR, 'check.json'), 'utf8')) as CheckFile;
  const session = await openSession(join(MODEL_DIR, 'unet.onnx'));
  try {
    const b = check.sample_shape[0]!;
    const out = await session.run({
      sample: new ort.Tensor('float32', Float32Array.from(check.sample), check.sample_shape),
      timestep: new ort.Tensor('float32', Float32Array.from(check.timestep), [b]),
      class_label: new ort.Tensor('int64', BigInt64Array.from(check.class_label.map(BigInt)), [b]),
    });
    const eps = readFloat(out.eps!);
    assert.equal(eps.length, check.eps.length);
    let maxErr = 0;
    let maxRef = 0;
    for (let i = 0; i < eps.length; i++) {
      maxErr = Math.max(maxErr, Math.abs(eps[i]! - check.eps[i]!));
      maxRef = Math.max(maxRef, Math.abs(check.eps[i]!));
    }
    // float32 kernels differ between PyTorch and onnxruntime in summation order only.
    assert.ok(maxErr < 1e-4 * Math.max(1, maxRef), `max |eps_ort - eps_torch| = ${maxErr} (max |eps| ${maxRef})`);
  } finally {
    await session.release();
  }
});

test('the denoiser is x - sigma * eps(x / sqrt(1 + sigma^2), t(sigma)), and CFG in one 2B call equals separate calls', async () => {
  const session = await openSession(join(MODEL_DIR, 'unet.onnx'));
  try {
    const b = 3;
    const labels = [7, 0, 9];
    const sigma = pipeline.modelSampling.sigma(600);
    const x = new Float32Array(b * 784);
    for (let i = 0; i < x.length; i++) x[i] = Math.fround(Math.sin(i * 0.37) * (1 + sigma));
    const t = pipeline.modelSampling.timestep(sigma);
    assert.equal(t, 600);
    const cIn = Math.fround(Math.sqrt(Math.fround(Math.fround(sigma * sigma) + 1)));
    const eps = async (ys: number[]) => {
      const input = Float32Array.from(x, (v) => Math.fround(v / cIn));
      const out = await session.run({
        sample: new ort.Tensor('float32', input, [b, 1, 28, 28]),
        timestep: new ort.Tensor('float32', new Float32Array(b).fill(t), [b]),
        class_label: new ort.Tensor('int64', BigInt64Array.from(ys.map(BigInt)), [b]),
      });
      return readFloat(out.eps!);
    };
    const cond = await eps(labels);
    const uncond = await eps([10, 10, 10]);

    const plain = pipeline.denoiser(labels, 1);
    const d1 = await plain({ data: x, shape: [b, 1, 28, 28] }, sigma);
    assert.equal(plain.sessionCalls, 1);
    assert.equal(plain.lastUncond, null, 'cfg 1 skips the unconditional pass, as ComfyUI does');
    let err1 = 0;
    for (let i = 0; i < x.length; i++) err1 = Math.max(err1, Math.abs(d1.data[i]! - (x[i]! - cond[i]! * sigma)));
    assert.ok(err1 < 1e-5 * (1 + sigma), `cfg 1: max error ${err1}`);

    const guided = pipeline.denoiser(labels, 3);
    const d3 = await guided({ data: x, shape: [b, 1, 28, 28] }, sigma);
    assert.equal(guided.sessionCalls, 1, 'cond and uncond go in one session call');
    let err3 = 0;
    let errU = 0;
    for (let i = 0; i < x.length; i++) {
      const c = x[i]! - cond[i]! * sigma;
      const u = x[i]! - uncond[i]! * sigma;
      err3 = Math.max(err3, Math.abs(d3.data[i]! - (u + 3 * (c - u))));
      errU = Math.max(errU, Math.abs(guided.lastUncond!.data[i]! - u));
    }
    assert.ok(err3 < 1e-4 * (1 + sigma), `cfg 3: max error ${err3}`);
    assert.ok(errU < 1e-5 * (1 + sigma), `lastUncond: max error ${errU}`);
  } finally {
    await session.release();
  }
});

test('100 images of each of 3 classes at 20 steps: the shipped classifier recognises the intended class >= 80%', async () => {
  for (const [k, name] of ['trouser', 'sneaker', 'bag'].entries()) {
    const result = await pipeline.sampleImages({ classLabel: name, batchSize: 100, seed: 1000 + k, scheduler: 'karras', sampler: 'dpmpp_2m', steps: 20, cfg: pipeline.card.recommendedCfg });
    const label = pipeline.resolveClass(name);
    assert.equal(result.images.shape.join(','), '100,1,28,28');
    assert.equal(result.nfe, 20);
    const c = await evaluator.classify(result.images);
    const hits = Array.from(c.predicted).filter((p) => p === label).length;
    assert.ok(hits >= 80, `${name}: classifier agrees on ${hits}/100`);
  }
});

test('a seed reproduces the same image bit for bit; another seed does not', async () => {
  const opts = { classLabel: 'sneaker', seed: 1, scheduler: 'ays', sampler: 'dpmpp_2m', steps: 10, cfg: 3 } as const;
  const a = await pipeline.generate({ ...opts });
  const b = await pipeline.generate({ ...opts });
  const c = await pipeline.generate({ ...opts, seed: 2 });
  assert.deepEqual(Buffer.from(a.images.data.buffer), Buffer.from(b.images.data.buffer));
  assert.deepEqual(Buffer.from(a.pngs[0]!), Buffer.from(b.pngs[0]!));
  assert.notDeepEqual(Buffer.from(a.images.data.buffer), Buffer.from(c.images.data.buffer));
  // an ancestral (noise-injecting) sampler is reproducible too
  const e1 = await pipeline.sampleImages({ ...opts, sampler: 'euler_ancestral', batchSize: 4 });
  const e2 = await pipeline.sampleImages({ ...opts, sampler: 'euler_ancestral', batchSize: 4 });
  assert.deepEqual(Buffer.from(e1.images.data.buffer), Buffer.from(e2.images.data.buffer));
});

test('generate returns images in [0, 1] and PNGs with A1111 parameters naming the class', async () => {
  const r = await pipeline.generate({ classLabel: ['sneaker', 'bag'], batchSize: 2, seed: 5, scheduler: 'ays', sampler: 'dpmpp_2m', steps: 10, cfg: 3 });
  assert.equal(r.images.shape.join(','), '2,1,28,28');
  assert.ok(Array.from(r.images.data).every((v) => v >= 0 && v <= 1));
  assert.equal(r.pngs.length, 2);
  assert.equal(r.sigmas.length, 11);
  assert.equal(r.nfe, 10);
  const p0 = readPngParameters(r.pngs[0]!)!;
  const p1 = readPngParameters(r.pngs[1]!)!;
  assert.equal(p0.prompt, 'sneaker');
  assert.equal(p1.prompt, 'bag');
  assert.equal(p0.settings.Steps, '10');
  assert.equal(p0.settings.Sampler, 'dpmpp_2m');
  assert.equal(p0.settings['Schedule type'], 'ays');
  assert.equal(p0.settings['CFG scale'], '3');
  assert.equal(p0.settings.Seed, '5');
  assert.equal(p0.settings.Size, '28x28');
});

test('class labels accept names (any case and punctuation), indices and "none"', () => {
  assert.equal(pipeline.resolveClass('sneaker'), 7);
  assert.equal(pipeline.resolveClass('Sneaker'), 7);
  assert.equal(pipeline.resolveClass(7), 7);
  assert.equal(pipeline.resolveClass('7'), 7);
  assert.equal(pipeline.resolveClass('t-shirt'), 0);
  assert.equal(pipeline.resolveClass('top'), 0);
  assert.equal(pipeline.resolveClass('T-shirt/top'), 0);
  assert.equal(pipeline.resolveClass('tshirt'), 0);
  assert.equal(pipeline.resolveClass('ankle-boot'), 9);
  assert.equal(pipeline.resolveClass('none'), 10);
  assert.deepEqual(pipeline.resolveLabels(undefined, 12), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1]);
  assert.deepEqual(pipeline.resolveLabels(['bag', 1], 4), [8, 1, 8, 1]);
});

test('bad inputs give clear errors', async () => {
  assert.throws(() => pipeline.resolveClass('spaceship'), /unknown class "spaceship"; classes: 0 tshirt, 1 trouser, .*7 sneaker, 8 bag, 9 ankle-boot \(or "none" for unconditional\)/);
  assert.throws(() => pipeline.resolveClass(12), /class 12 is out of range/);
  await assert.rejects(pipeline.generate({ classLabel: 'spaceship', seed: 1, scheduler: 'ays', sampler: 'euler', steps: 4, cfg: 3 }), /unknown class/);
  await assert.rejects(pipeline.generate({ prompt: 'a cat', seed: 1, scheduler: 'ays', sampler: 'euler', steps: 4, cfg: 3 }), /takes a class/);
  await assert.rejects(pipeline.generate({ seed: 1, scheduler: 'ays', sampler: 'no_such_sampler', steps: 4, cfg: 3 }), /unknown sampler "no_such_sampler"/);
  await assert.rejects(pipeline.generate({ seed: 1, scheduler: 'no_such_schedule', sampler: 'euler', steps: 4, cfg: 3 }), /unknown scheduler "no_such_schedule"/);
  await assert.rejects(pipeline.generate({ seed: 1, scheduler: 'ays', sampler: 'euler', steps: 4, cfg: Number.NaN }), /cfg must be/);
  await assert.rejects(pipeline.generate({ seed: 1, scheduler: 'ays', sampler: 'euler', steps: 4, cfg: 3, width: 64 }), /makes 28x28 images/);

  await assert.rejects(loadClassConditionalPipeline(join(scratch, 'nowhere')), /model folder not found/);

  const noUnet = join(scratch, 'no-unet');
  rmSync(noUnet, { recursive: true, force: true });
  mkdirp(noUnet);
  copyFileSync(join(MODEL_DIR, 'card.json'), join(noUnet, 'card.json'));
  await assert.rejects(loadClassConditionalPipeline(noUnet), /is missing unet\.onnx/);
  await assert.rejects(loadEvaluator(noUnet), /is missing classifier\.onnx, test-features\.json/);

  const corrupt = join(scratch, 'corrupt');
  mkdirp(corrupt);
  copyFileSync(join(MODEL_DIR, 'card.json'), join(corrupt, 'card.json'));
  writeFileSync(join(corrupt, 'unet.onnx'), Buffer.from('this is not an onnx model, just text'));
  await assert.rejects(loadClassConditionalPipeline(corrupt), /unet\.onnx.*not a loadable ONNX model/);
  // a truncated copy of the real file
  writeFileSync(join(corrupt, 'unet.onnx'), readFileSync(join(MODEL_DIR, 'unet.onnx')).subarray(0, 5000));
  await assert.rejects(loadClassConditionalPipeline(corrupt), /unet\.onnx.*not a loadable ONNX model/);
  // the classifier in place of the UNet: loads, but its inputs are wrong
  copyFileSync(join(MODEL_DIR, 'classifier.onnx'), join(corrupt, 'unet.onnx'));
  await assert.rejects(loadClassConditionalPipeline(corrupt), /missing inputs "sample", "timestep", "class_label"; the file declares \[image\]/);

  const badCard = join(scratch, 'bad-card');
  mkdirp(badCard);
  writeFileSync(join(badCard, 'card.json'), '{"classes": "sneaker"');
  copyFileSync(join(MODEL_DIR, 'unet.onnx'), join(badCard, 'unet.onnx'));
  await assert.rejects(loadClassConditionalPipeline(badCard), /card\.json.*not valid JSON/);
  writeFileSync(join(badCard, 'card.json'), '{"classes": []}');
  await assert.rejects(loadClassConditionalPipeline(badCard), /"classes" must be a non-empty list/);
});

test('--scheduler optimized says clearly when the model carries no optimized schedule', async () => {
  const bare = await loadClassConditionalPipeline(MODEL_DIR, { carriedSchedule: null, teacherSchedules: null });
  try {
    assert.deepEqual(bare.capabilities.extraSchedulers, []);
    assert.throws(() => bare.sigmasFor('optimized', 10), /carries no optimized schedule/);
    await assert.rejects(bare.generate({ seed: 1, scheduler: 'optimized', sampler: 'euler', steps: 4, cfg: 3 }), /carries no optimized schedule/);
  } finally {
    await bare.dispose();
  }
});

test('a carried schedule is used as is at its own step count and log-linearly interpolated otherwise', () => {
  const master = [14.6146, 6.4746, 3.8637, 2.6946, 1.8842, 1.3944, 0.9643, 0.6524, 0.3977, 0.1515, 0.0292];
  const s = { sigmas: master, masterSigmas: master, description: '', source: '' };
  assert.deepEqual(carriedSigmas(s, 10), [...master.slice(0, 10), 0]);
  const s20 = carriedSigmas(s, 20);
  assert.equal(s20.length, 21);
  assert.ok(Math.abs(s20[0]! - 14.6146) < 1e-12);
  assert.equal(s20[20], 0);
  // every other point of the 20-step list is a master point (log-linear on a uniform grid)
  for (let i = 0; i < 10; i++) assert.ok(Math.abs(s20[2 * i]! - master[i]!) < 1e-12 * master[i]!);
  assert.ok(Math.abs(s20[1]! - Math.sqrt(master[0]! * master[1]!)) < 1e-12 * s20[1]!);
  const s5 = carriedSigmas(s, 5);
  assert.equal(s5.length, 6);
  for (let i = 1; i < s5.length; i++) assert.ok(s5[i]! < s5[i - 1]!);
});

function mkdirp(p: string): void {
  rmSync(p, { recursive: true, force: true });
  mkdirSync(p, { recursive: true });
}

test('explicit sigmas are validated and followed; a cfg_pp sampler gets the unconditional prediction', async () => {
  const sigmas = [14.6146, 3, 1, 0.3, 0];
  const r = await pipeline.sampleImages({ classLabel: 'coat', seed: 4, scheduler: 'ays', sampler: 'euler', steps: 99, cfg: 3, sigmas });
  assert.deepEqual(r.sigmas, sigmas);
  assert.equal(r.nfe, 4);
  await assert.rejects(pipeline.sampleImages({ seed: 4, scheduler: 'ays', sampler: 'euler', steps: 4, cfg: 3, sigmas: [1, 2, 0] }), /strictly descending/);
  // cfg 1 with a cfg_pp sampler: the unconditional half still runs (ComfyUI turns off its cfg=1 shortcut for them)
  const pp = await pipeline.sampleImages({ classLabel: 'coat', seed: 4, scheduler: 'karras', sampler: 'euler_cfg_pp', steps: 4, cfg: 1 });
  assert.ok(pp.images.data.every((v) => v >= 0 && v <= 1));
});

test('typed capabilities: class conditioning, class names, the optimized schedule, recommended CFG, native size, content hash', async () => {
  const c = pipeline.capabilities;
  assert.equal(c.conditioning, 'class');
  assert.equal(c.classNames[0], 'T-shirt/top');
  assert.equal(c.classKeys[9], 'ankle-boot');
  assert.deepEqual(c.extraSchedulers, ['optimized']);
  assert.equal(c.recommendedCfg, 3);
  assert.deepEqual(c.nativeSize, { width: 28, height: 28 });
  assert.equal(c.fixedSize, true);
  assert.equal(c.imageToImage, false);
  // the card records the sha256 of unet.onnx; the pipeline's content hash is that of the file itself
  assert.equal(await pipeline.model.contentHash(), (pipeline.card.raw.unet as { sha256: string }).sha256);
  assert.deepEqual(pipeline.schedule({ scheduler: 'optimized', steps: 6 }), pipeline.sigmasFor('optimized', 6));
});

test('prepareSampling + sample() + decode is generate(): same images bit for bit, also for a Brownian sampler and a seed above 2^32', async () => {
  const { initialLatents } = await import('../src/pipelines/sampling.js');
  const { sample } = await import('../src/samplers/sample.js');
  for (const [sampler, seed] of [['euler', 11], ['dpmpp_2m_sde', 2 ** 32 + 5], ['euler_ancestral', 2n ** 64n - 1n]] as const) {
    const o = { classLabel: ['bag', 'coat'], batchSize: 2, seed, scheduler: 'karras', sampler, steps: 5, cfg: 3 };
    const g = await pipeline.generate(o);
    const setup = await pipeline.prepareSampling({ classLabel: o.classLabel, batchSize: 2, cfg: 3, sampler });
    assert.deepEqual(setup.latentShape, [2, 1, 28, 28]);
    assert.deepEqual(setup.labels, [8, 4]);
    const sigmas = pipeline.schedule({ scheduler: 'karras', steps: 5, sampler });
    const x = initialLatents(setup.modelSampling, seed, [...setup.latentShape], sigmas, null);
    const images = await setup.decode(await sample(sampler, setup.denoiser, x, sigmas, { seed }));
    assert.deepEqual(images.data, g.images.data, sampler);
    assert.equal(setup.calls(), 5);
    assert.equal(g.steps, 5);
    assert.equal(g.seed, seed);
    assert.deepEqual(g.labels, [8, 4]);
  }
});

test('the "no class" index is not a class: --class 10 on a 10-class model is an error, "none" asks for unconditional', async () => {
  assert.throws(() => pipeline.resolveClass(10), /class 10 is out of range \(10 is the model's "no class" label\): use 0\.\.9 .*or "none" for unconditional/);
  assert.throws(() => pipeline.resolveClass('10'), /class 10 is out of range/);
  await assert.rejects(pipeline.generate({ classLabel: 10, seed: 1, scheduler: 'karras', sampler: 'euler', steps: 2, cfg: 3 }), /class 10 is out of range/);
  const none = await pipeline.generate({ classLabel: 'none', seed: 1, scheduler: 'karras', sampler: 'euler', steps: 2, cfg: 3 });
  assert.deepEqual(none.labels, [10]);
  assert.match(none.parameters[0]!, /Class: unconditional \(10\)/);
});

test('a batch that cannot fit in memory is refused at once with one line', async () => {
  const t0 = performance.now();
  await assert.rejects(pipeline.generate({ batchSize: 100000, seed: 1, scheduler: 'karras', sampler: 'euler', steps: 2, cfg: 3 }), (e: Error) => {
    assert.match(e.message, /^batch 100000 \(x 2 for CFG\) needs at least [\d.]+ GiB \(first UNet feature maps 200000 x 24 x 28 x 28, twice: .*\) but .* is available; use a smaller size or batch$/);
    return true;
  });
  assert.ok(performance.now() - t0 < 2000, 'refused before any model work');
  assert.throws(() => pipeline.checkRequest!({ cfg: 3, batchSize: 100000 }), /needs at least/);
  assert.throws(() => pipeline.checkRequest!({ cfg: 3, classLabel: 10 }), /class 10 is out of range/);
  assert.throws(() => pipeline.checkRequest!({ cfg: 3, width: 64 }), /makes 28x28 images/);
  pipeline.checkRequest!({ cfg: 3, classLabel: 'none', batchSize: 64 });
});

interface TeacherFile {
  schedules: Array<{ sampler: string; steps: number; sigmas: number[] }>;
}

test('--scheduler optimized picks the carried teacher schedule for the sampler and step count (generate, schedule(), PNG)', async () => {
  const file = JSON.parse(readFileSync(join(MODEL_DIR, 'teacher-schedules.json'), 'utf8')) as TeacherFile;
  const euler10 = file.schedules.find((s) => s.sampler === 'euler' && s.steps === 10)!;
  const dpm6 = file.schedules.find((s) => s.sampler === 'dpmpp_2m' && s.steps === 6)!;
  assert.ok(euler10 && dpm6, 'teacher-schedules.json carries euler@10 and dpmpp_2m@6');
  // schedule() is what generate and the studio's Compare view call
  assert.deepEqual(pipeline.schedule({ scheduler: 'optimized', steps: 10, sampler: 'euler' }), euler10.sigmas);
  assert.deepEqual(pipeline.sigmasFor('optimized', 6, { sampler: 'dpmpp_2m' }), dpm6.sigmas);
  // not the old single schedule, which differs from the teacher one
  assert.notDeepEqual(euler10.sigmas, carriedSigmas(pipeline.carriedSchedule!, 10));
  const r = await pipeline.generate({ classLabel: 'bag', seed: 2, scheduler: 'optimized', sampler: 'euler', steps: 10, cfg: 3 });
  assert.deepEqual(r.sigmas, euler10.sigmas);
  const p = readPngParameters(r.pngs[0]!)!;
  assert.equal(p.settings['Schedule type'], 'optimized');
  assert.deepEqual(p.settings.Sigmas!.split(' ').map(Number), euler10.sigmas.map((v) => +v.toPrecision(6)));
  // a sampler or step count without a teacher schedule falls back to optimized-schedule.json, interpolated ...
  assert.ok(!file.schedules.some((s) => s.sampler === 'heun'));
  assert.deepEqual(pipeline.schedule({ scheduler: 'optimized', steps: 10, sampler: 'heun' }), carriedSigmas(pipeline.carriedSchedule!, 10));
  assert.deepEqual(pipeline.schedule({ scheduler: 'optimized', steps: 7, sampler: 'euler' }), carriedSigmas(pipeline.carriedSchedule!, 7));
  // ... and keeps the discard-penultimate rule (dpm_2: the 7-step list without its penultimate sigma)
  const longer = carriedSigmas(pipeline.carriedSchedule!, 7);
  assert.deepEqual(pipeline.schedule({ scheduler: 'optimized', steps: 6, sampler: 'dpm_2' }), [...longer.slice(0, -2), 0]);
});

test('teacher schedules alone make "optimized" available; a missing sampler/steps names what the model carries', async () => {
  const only = await loadClassConditionalPipeline(MODEL_DIR, { carriedSchedule: null });
  try {
    assert.deepEqual(only.capabilities.extraSchedulers, ['optimized']);
    assert.equal(only.schedule({ scheduler: 'optimized', steps: 4, sampler: 'euler' }).length, 5);
    assert.throws(() => only.schedule({ scheduler: 'optimized', steps: 4, sampler: 'heun' }), /no optimized schedule for heun at 4 steps \(teacher-schedules\.json has .*euler@4/);
  } finally {
    await only.dispose();
  }
});

test('the pipelines do not import src/bundled (no pipelines -> bundled cycle)', () => {
  const root = new URL('../../src/pipelines/', import.meta.url);
  const files = readdirSync(root, { recursive: true }).map(String).filter((f) => f.endsWith('.ts'));
  assert.ok(files.includes('class-conditional.ts'));
  for (const f of files) {
    const text = readFileSync(new URL(f, root), 'utf8');
    assert.doesNotMatch(text, /from '(\.\.\/)+bundled\//, `src/pipelines/${f} imports src/bundled`);
  }
});
