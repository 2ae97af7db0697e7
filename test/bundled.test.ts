import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PNG } from 'pngjs';
import { defaultModelDir, packageRoot, readCard } from '../src/bundled/model-files.js';
import { loadClassConditionalPipeline, type ClassConditionalPipeline } from '../src/pipelines/class-conditional.js';
import { classAccuracy, loadEvaluator, MetricsAccumulator, toClassifierInput, type Evaluator } from '../src/bundled/evaluator.js';
import { evaluateConfig, type ConfigResult, type DemoResult } from '../src/bundled/run.js';
import { demoSummary, fmtFidCi, formatDemoTables } from '../src/bundled/report.js';
import type { ReferenceStats } from '../src/bundled/evaluator.js';
import { featureStats, frechetDistance, frechetToReference } from '../src/bundled/frechet.js';
import { createRng } from '../src/core/rng.js';
import { symmetricEigen, symmetricEigenvalues } from '../src/bundled/linalg.js';
import { renderGrid } from '../src/bundled/grid.js';
import { readPngParameters } from '../src/image/png.js';
import { execFile } from 'node:child_process';

const MODEL_DIR = defaultModelDir();
const scratch = mkdtempSync(join(tmpdir(), 'ays-bundled-'));
let pipeline: ClassConditionalPipeline;
let evaluator: Evaluator;

before(async () => {
  pipeline = await loadClassConditionalPipeline(MODEL_DIR);
  evaluator = await loadEvaluator(MODEL_DIR);
});
after(async () => {
  await pipeline?.dispose();
  await evaluator?.release();
  rmSync(scratch, { recursive: true, force: true });
});

/** Run the CLI as a child process (the test runner owns this process's stdout). */
async function runCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const cli = join(packageRoot(), 'dist', 'src', 'cli', 'main.js');
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cli, ...args], { cwd: scratch, maxBuffer: 1 << 26 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: err ? (err.code as number) : 0, stdout, stderr });
    });
  });
}

test('the bundled model is found inside the package, whatever the working directory', () => {
  const root = packageRoot();
  assert.equal((JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { name: string }).name, 'ays');
  assert.equal(defaultModelDir(), join(root, 'models', 'fashion-mnist'));
  const cwd = process.cwd();
  try {
    process.chdir(tmpdir());
    assert.equal(defaultModelDir(), join(root, 'models', 'fashion-mnist'));
  } finally {
    process.chdir(cwd);
  }
  for (const f of ['card.json', 'unet.onnx', 'classifier.onnx', 'test-features.json', 'check.json']) {
    assert.ok(existsSync(join(defaultModelDir(), f)), `models/fashion-mnist/${f} is committed`);
  }
});

test('the card describes a 10-class eps model on exactly SD1.5\'s schedule', () => {
  const card = readCard(MODEL_DIR);
  assert.equal(card.classes.length, 10);
  assert.equal(card.classKeys[7], 'sneaker');
  assert.equal(card.classes[7]!.toLowerCase(), 'sneaker');
  assert.equal(card.nullClass, 10);
  assert.deepEqual(
    { b: card.schedule.betaSchedule, s: card.schedule.betaStart, e: card.schedule.betaEnd, t: card.schedule.timesteps },
    { b: 'scaled_linear', s: 0.00085, e: 0.012, t: 1000 },
  );
  assert.equal(pipeline.modelSampling.name, 'sd15');
  assert.ok(card.recommendedCfg > 1);
});

test('classifier features match the stored real-test statistics in dimension; accuracy counts the intended class', async () => {
  const r = await pipeline.sampleImages({ batchSize: 10, seed: 3, scheduler: 'karras', sampler: 'dpmpp_2m', steps: 8, cfg: 3 });
  const c = await evaluator.classify(r.images);
  assert.equal(c.featureDim, evaluator.reference.dim);
  assert.equal(c.predicted.length, 10);
  assert.ok(c.features.every(Number.isFinite));
  assert.equal(classAccuracy([1, 2, 3, 0], [1, 2, 0, 0]), 0.75);
  assert.equal(classAccuracy([1, 2], [1, 10]), 1, 'unconditional images (label 10) are not counted');
  // the classifier sees images as a PNG stores them: 8-bit, then p / 127.5 - 1
  const q = toClassifierInput({ data: Float32Array.from([0, 1, 0.5, 0.50196]), shape: [1, 1, 2, 2] });
  assert.deepEqual(Array.from(q), [-1, 1, 128 / 127.5 - 1, 128 / 127.5 - 1].map(Math.fround));
});

test('evaluateConfig: balanced classes, finite metrics, independent of the batch split for the labels', async () => {
  const config = { scheduler: 'ays', sampler: 'euler', steps: 4, cfg: 3 };
  const a = await evaluateConfig(pipeline, evaluator, config, { samples: 20, seed: 9, batch: 20 });
  const b = await evaluateConfig(pipeline, evaluator, config, { samples: 20, seed: 9, batch: 20 });
  assert.equal(a.count, 20);
  assert.ok(Number.isFinite(a.fid) && a.fid > 0);
  assert.ok(a.classAccuracy >= 0 && a.classAccuracy <= 1);
  assert.equal(a.shown.shape.join(','), '10,1,28,28');
  assert.equal(a.fid, b.fid, 'same seed, same images, same metric');
  assert.equal(a.nfe, 4);
  assert.deepEqual(a.sigmas, pipeline.sigmasFor('ays', 4));
  // the FID's bootstrap 95% interval, the same seeded bootstrap as ays eval's: reproducible, non-degenerate
  assert.ok(a.fidCi && a.fidCi[0] >= 0 && a.fidCi[0] < a.fidCi[1], `interval ${a.fidCi}`);
  assert.deepEqual(a.fidCi, b.fidCi);
  const none = await evaluateConfig(pipeline, evaluator, config, { samples: 20, seed: 9, batch: 20, bootstrap: 0 });
  assert.equal(none.fidCi, undefined);
});

test('frechetToReference (the bootstrap\'s fast path) equals frechetDistance of featureStats, for count below and above dim', () => {
  const rng = createRng(3);
  for (const [count, dim] of [[40, 64], [100, 8], [9, 9]] as const) {
    const refFeatures = Array.from({ length: 500 * dim }, () => rng.normal() * 0.7 + 0.2);
    const ref = featureStats(refFeatures, 500, dim);
    const x = Array.from({ length: count * dim }, (_, i) => rng.normal() + (i % dim) * 0.05);
    const st = featureStats(x, count, dim);
    const want = frechetDistance(st.mean, st.cov, ref.mean, ref.cov);
    const got = frechetToReference(ref, dim)(x, count);
    // frechetDistance takes the square root of C1, which is singular when count <= dim (its rounding-level
    // negative eigenvalues are clamped): the two agree to ~1e-9 relative there, to ~1e-12 when C1 has full rank
    const tol = count <= dim ? 1e-8 : 1e-11;
    assert.ok(Math.abs(got - want) <= tol * Math.max(1, want), `${count}x${dim}: ${got} vs ${want}`);
  }
  assert.throws(() => frechetToReference({ mean: [0], cov: [1, 0, 0, 1] }, 2), /not 2-dimensional/);
});

test('symmetricEigenvalues (Householder + implicit QL) matches the Jacobi eigenvalues', () => {
  const rng = createRng(11);
  for (const n of [1, 2, 3, 7, 40]) {
    const y = Array.from({ length: n * (n + 2) }, () => rng.normal());
    const g = new Float64Array(n * n);
    for (let a = 0; a < n; a++) for (let b = 0; b < n; b++) for (let k = 0; k < n + 2; k++) g[a * n + b] = g[a * n + b]! + y[a * (n + 2) + k]! * y[b * (n + 2) + k]!;
    g[0] = g[0]! - 3; // one negative eigenvalue possible: not only PSD input
    const want = [...symmetricEigen(g, n).values].sort((a, b) => a - b);
    const got = [...symmetricEigenvalues(g, n)].sort((a, b) => a - b);
    const scale = Math.max(...want.map(Math.abs));
    want.forEach((w, i) => assert.ok(Math.abs(got[i]! - w) <= 1e-12 * scale, `n=${n} eigenvalue ${i}: ${got[i]} vs ${w}`));
  }
  const two = [...symmetricEigenvalues([2, 1, 1, 2], 2)].sort((a, b) => a - b);
  assert.ok(Math.abs(two[0]! - 1) < 1e-15 && Math.abs(two[1]! - 3) < 1e-15, `${two}`);
});

function fakeCell(scheduler: string, steps: number, fid: number, fidCi: [number, number], rms: number): ConfigResult {
  return { scheduler, sampler: 'dpmpp_2m', steps, cfg: 3, count: 40, fid, classAccuracy: 0.9, fidCi, rmseToReference: rms, nfe: steps, sigmas: [], seconds: 0, shown: { data: new Float32Array(0), shape: [0] } };
}

test('the demo tables show each FID with its interval, and the summary says when a difference is within noise', () => {
  const reference = fakeCell('karras', 100, 2.1, [1.4, 3.0], 0);
  const result: DemoResult = {
    reference,
    cells: [
      [fakeCell('normal', 4, 1.9, [1.2, 2.8], 0.05), fakeCell('normal', 8, 2.3, [1.6, 3.1], 0.02)],
      [fakeCell('simple', 4, 9.5, [7.9, 11.2], 0.09), fakeCell('simple', 8, 2.2, [1.5, 3.0], 0.01)],
    ],
    skipped: {},
    seconds: 1,
  };
  const text = formatDemoTables(result, ['normal', 'simple'], [4, 8], { mean: new Float64Array(0), cov: new Float64Array(0) } as unknown as ReferenceStats);
  assert.match(text, /1\.90 \[1\.20, 2\.80\]/);
  assert.match(text, /bootstrap 95% interval/);
  const summary = demoSummary(result, [4, 8]).join('\n');
  assert.match(summary, /3 of 4 cells have a FID interval that overlaps the 100-step karras reference/);
  assert.match(summary, /A lower FID than the reference \(normal@4\) is within noise, not a finding/);
  assert.match(summary, /Clearly worse than the reference by FID: simple@4/);
  assert.match(summary, /4 steps: best FID normal 1\.90, apart from all others; lowest RMS to the reference \(paired, same noise\): normal 0\.050/);
  assert.match(summary, /8 steps: FID cannot separate the 2 schedules/);
  assert.equal(fmtFidCi({ fid: 12.34 }), '12.3');
});


test('renderGrid lays out labelled cells at the requested scale', async () => {
  const cellImages = (v: number) => ({ data: new Float32Array(2 * 784).fill(v), shape: [2, 1, 28, 28] });
  const png = await renderGrid({
    title: 'test grid',
    rowLabels: ['ays', 'karras'],
    colLabels: ['4 steps', '8 steps'],
    cells: [
      [cellImages(0), cellImages(1)],
      [null, cellImages(0.5)],
    ],
    captions: [['a', 'b'], ['c', 'd']],
    tilesPerRow: 2,
    scale: 2,
  });
  const img = PNG.sync.read(Buffer.from(png));
  assert.ok(img.width > 2 * 2 * 56 && img.height > 2 * 56);
  // find the black first cell: a run of 112 dark pixels (2 tiles of 56 + a 1-pixel gap) on some row
  let found = false;
  for (let y = 0; y < img.height && !found; y++) {
    let run = 0;
    for (let x = 0; x < img.width; x++) {
      const dark = img.data[(y * img.width + x) * 4]! === 0;
      run = dark ? run + 1 : 0;
      if (run === 56) found = true;
    }
  }
  assert.ok(found, 'a 28-pixel image scaled x2 appears as a 56-pixel black run');
  await assert.rejects(renderGrid({ rowLabels: ['a'], colLabels: ['b'], cells: [[null]] }), /every cell is empty/);
  await assert.rejects(renderGrid({ rowLabels: ['a', 'b'], colLabels: ['b'], cells: [[cellImages(0)]] }), /cells must be 2 rows of 1/);
});

test('ays generate --class sneaker with the bundled model writes a PNG with its parameters', async () => {
  const out = join(scratch, 'sneaker.png');
  const args = ['generate', '--class', 'sneaker', '--scheduler', 'ays', '--sampler', 'dpmpp_2m', '--steps', '10', '--cfg', '3', '--seed', '1', '--out', out];
  const r = await runCli(args);
  assert.equal(r.code, 0, r.stderr);
  const png = readFileSync(out);
  const p = readPngParameters(png)!;
  assert.equal(p.prompt, 'sneaker');
  assert.equal(p.settings['Schedule type'], 'ays');
  const direct = await pipeline.generate({ classLabel: 'sneaker', seed: 1, scheduler: 'ays', sampler: 'dpmpp_2m', steps: 10, cfg: 3 });
  assert.deepEqual(PNG.sync.read(png).data, PNG.sync.read(Buffer.from(direct.pngs[0]!)).data, 'the CLI and the library make the same image');
});

test('ays eval --json ranks schedules by paired RMS to one shared reference, with FID intervals and class accuracy', async () => {
  const args = ['eval', '--scheduler', 'karras,beta', '--sampler', 'euler', '--steps', '4', '--samples', '20', '--batch', '20', '--json'];
  const r = await runCli(args);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '', 'nothing on stderr with --json');
  const rows = JSON.parse(r.stdout) as Array<{ scheduler: string; sampler: string; steps: number; rms: number; rmsStdErr: number; fid: number; fidCi: [number, number]; classAccuracy: number }>;
  assert.deepEqual(rows.map((x) => x.scheduler).sort(), ['beta', 'karras']);
  assert.ok(rows[0]!.rms <= rows[1]!.rms, 'ranked best first');
  for (const x of rows) {
    assert.equal(x.sampler, 'euler');
    assert.equal(x.steps, 4);
    assert.ok(x.rms > 0 && x.rmsStdErr > 0 && x.rmsStdErr < x.rms);
    assert.ok(Number.isFinite(x.fid) && x.fidCi[0] <= x.fidCi[1] && x.fidCi[0] >= 0);
    assert.ok(x.classAccuracy >= 0 && x.classAccuracy <= 1);
  }
  const bad = await runCli(['eval', '--scheduler', 'nope', '--steps', '4', '--samples', '20']);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^ays: error: .*unknown scheduler "nope"/);
});

test('ays demo writes a labelled grid and never overwrites without --overwrite', async () => {
  const out = join(scratch, 'demo.png');
  // a full 64-bit seed is taken exactly and written into the JSON as a decimal string, as generate does
  const args = ['demo', '--samples', '10', '--steps', '4', '--schedulers', 'ays,karras', '--ref-steps', '8', '--seed', '18446744073709551615', '--out', out, '--json'];
  const r = await runCli(args);
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout) as { seed: string; cells: Array<{ scheduler: string; steps: number; fid: number }>; reference: { steps: number }; grid: string };
  assert.equal(j.seed, '18446744073709551615');
  const withCi = j as unknown as { cells: Array<{ fid: number; fid_ci: [number, number] }>; reference: { fid_ci: [number, number] }; summary: string[] };
  for (const c of [...withCi.cells, withCi.reference]) assert.ok(c.fid_ci[0] >= 0 && c.fid_ci[0] <= c.fid_ci[1], `fid_ci ${c.fid_ci}`);
  assert.match(withCi.summary.join('\n'), /^Summary \(10 images per cell; FID intervals are bootstrap 95% intervals/);
  assert.deepEqual(j.cells.map((c) => `${c.scheduler}/${c.steps}`), ['ays/4', 'karras/4']);
  assert.equal(j.reference.steps, 8);
  assert.equal(j.grid, out);
  const img = PNG.sync.read(readFileSync(out));
  assert.ok(img.width > 100 && img.height > 100);
  const again = await runCli(args);
  assert.equal(again.code, 1);
  assert.match(again.stderr, /already exists; refusing to overwrite it \(pass --overwrite to replace it\)/);
  const forced = await runCli([...args, '--overwrite']);
  assert.equal(forced.code, 0, forced.stderr);
});

test('the bundled model carries its optimized schedule, and --scheduler optimized uses it', async () => {
  const carried = pipeline.carriedSchedule;
  assert.ok(carried, 'models/fashion-mnist/optimized-schedule.json is committed');
  const raw = JSON.parse(readFileSync(join(MODEL_DIR, 'optimized-schedule.json'), 'utf8')) as { how_made: { monte_carlo_samples: number } };
  assert.ok(raw.how_made.monte_carlo_samples >= 64);
  const ms = pipeline.modelSampling;
  assert.ok(Math.abs(carried.masterSigmas[0]! - ms.sigmaMax) < 1e-4, 'starts at sigma_max');
  for (const steps of [4, 10, 20]) {
    const s = pipeline.sigmasFor('optimized', steps);
    assert.equal(s.length, steps + 1);
    assert.equal(s[steps], 0);
    for (let i = 1; i < s.length; i++) assert.ok(s[i]! < s[i - 1]!, `optimized ${steps}: strictly decreasing`);
  }
  // at its own step count the schedule is the optimizer's list with the last value set to 0, as AYS
  assert.deepEqual(pipeline.sigmasFor('optimized', carried.masterSigmas.length - 1).slice(0, -1), carried.masterSigmas.slice(0, -1));
  const r = await pipeline.generate({ classLabel: 'bag', seed: 2, scheduler: 'optimized', sampler: 'dpmpp_2m', steps: 6, cfg: 3 });
  const p = readPngParameters(r.pngs[0]!)!;
  assert.equal(p.settings['Schedule type'], 'optimized');
  assert.equal(p.settings.Sigmas!.split(' ').length, 7);
});

test('ays eval and ays demo parse options as every command does, and check --out before any work', async () => {
  // one wording for a bad step count, the same as generate's
  const wording = /^ays: error: --steps must be an integer >= 1, got "?0"?\n$/;
  const gen = await runCli(['generate', '--class', 'bag', '--steps', '0', '--out', join(scratch, 'never.png')]);
  const ev = await runCli(['eval', '--steps', '0']);
  const demo = await runCli(['demo', '--steps', '4,0']);
  for (const r of [gen, ev, demo]) {
    assert.equal(r.code, 1);
    assert.match(r.stderr, wording);
  }
  assert.equal(ev.stderr, gen.stderr);
  assert.equal(demo.stderr, gen.stderr);
  // an empty entry in a list is an error, not skipped
  const empty = await runCli(['demo', '--steps', '4,,6']);
  assert.equal(empty.code, 1);
  assert.match(empty.stderr, /--steps has an empty entry in "4,,6"/);
  // seeds: 2^64 is refused quoting what was typed; eval's paired runs take seeds up to 2^53-1 and say so
  const big = await runCli(['demo', '--seed', '18446744073709551616']);
  assert.match(big.stderr, /--seed must be a non-negative integer below 2\^64 .*got "18446744073709551616"/);
  const evBig = await runCli(['eval', '--seed', '18446744073709551615']);
  assert.equal(evBig.code, 1);
  assert.match(evBig.stderr, /--seed must be at most 2\^53-1 .* got "18446744073709551615"/);
  // --out under a file: refused at once by the shared output policy (it used to fail after all the sampling)
  const file = join(scratch, 'a-file.txt');
  writeFileSync(file, 'x');
  const t0 = performance.now();
  const bad = await runCli(['demo', '--out', join(file, 'grid.png')]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^ays: error: --out .*a-file\.txt is a file, not a folder\n$/);
  assert.ok(performance.now() - t0 < 15_000, 'refused before any sampling');
});

test('paired FID difference: zero for identical runs, a clear sign for a shifted one, narrower than the single intervals', async () => {
  // an evaluator whose features are the images themselves (2-D), against a standard normal reference
  const dim = 2;
  const reference: ReferenceStats = { dim, count: 10000, mean: new Float64Array(dim), cov: Float64Array.from([1, 0, 0, 1]) };
  const identity: Evaluator = {
    featureDim: dim,
    numClasses: 10,
    reference,
    classify: async (images) => ({ features: Float32Array.from(images.data), predicted: Array.from({ length: images.shape[0]! }, () => 0), featureDim: dim }) as never,
    release: async () => undefined,
  };
  const n = 400;
  const base = createRng(3).normals(n * dim);
  const run = async (shift: number) => {
    const m = new MetricsAccumulator(identity);
    // both runs sit 1 away from the reference (FID about 1, with a wide single interval) and share their noise
    await m.add({ data: Float64Array.from(base, (v, i) => v + (i % dim === 0 ? 1 + shift : 0)), shape: [n, dim] }, new Array(n).fill(0));
    return m;
  };
  const a = await run(0), same = await run(0), shifted = await run(0.1);
  const zero = a.fidDifferenceInterval(same, 200, 1);
  assert.equal(zero.diff, 0);
  assert.deepEqual(zero.ci, [0, 0]);
  const d = a.fidDifferenceInterval(shifted, 200, 1);
  // the mean moves from about 1 to 1.1 away from the reference: FID grows by about 1.1^2 - 1 = 0.21
  assert.ok(Math.abs(d.diff + 0.21) < 0.03, `diff ${d.diff}`);
  assert.ok(d.ci[0] <= d.diff && d.diff <= d.ci[1] && d.ci[1] < 0, `interval ${d.ci}`);
  const single = a.fidInterval(200, 1);
  // the shared noise cancels: the paired interval is far narrower than one run's own (which alone would not
  // separate two runs 0.21 apart)
  assert.ok(single[1] - single[0] > 0.3, `single ${single}`);
  assert.ok(d.ci[1] - d.ci[0] < (single[1] - single[0]) / 4, `paired ${d.ci[1] - d.ci[0]} vs single ${single[1] - single[0]}`);
  await assert.rejects(async () => a.fidDifferenceInterval(await (async () => {
    const m = new MetricsAccumulator(identity);
    await m.add({ data: new Float64Array(2 * dim), shape: [2, dim] }, [0, 0]);
    return m;
  })()), /400 images against 2/);
});
