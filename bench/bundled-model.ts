/**
 * Benchmark of schedules x samplers x steps on the bundled Fashion-MNIST model:
 * FID on classifier features and class accuracy for every cell, against a 100-step baseline per sampler,
 * plus per-call timings of the UNet in onnxruntime-node. Writes bench/bundled-model.md and its picture.
 *
 *   npm run bench:bundled -- [--samples 100] [--fresh]
 *
 * Results are cached per cell in dist/bench/bundled-model-cache.json (keyed by the model file's hash, the optimized
 * schedule and the settings), so an interrupted run resumes and a changed model recomputes everything.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { loadClassConditionalPipeline } from '../src/pipelines/class-conditional.js';
import { defaultModelDir, packageRoot, UNET_FILE, OPTIMIZED_SCHEDULE_FILE } from '../src/bundled/model-files.js';
import { loadEvaluator } from '../src/bundled/evaluator.js';
import { evaluateConfig, rmsDifference, type ConfigResult } from '../src/bundled/run.js';
import { MetricsAccumulator } from '../src/bundled/evaluator.js';
import { loadFashionMnist } from '../src/bundled/fashion-mnist-data.js';
import { createRng } from '../src/core/rng.js';
import { renderGrid } from '../src/bundled/grid.js';
import { fmtFid, fmtPct } from '../src/bundled/report.js';
import { openSession, ort } from '../src/runtime/session.js';
import type { Tensor } from '../src/tensor/tensor.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const list = (s: string) => s.split(',').map((x) => x.trim()).filter(Boolean);

const root = packageRoot();
const dir = arg('model', defaultModelDir());
const samples = Number(arg('samples', '100'));
const seed = Number(arg('seed', '0'));
const schedulers = list(arg('schedulers', 'ays,karras,normal,exponential,sgm_uniform,simple,beta,gits,optimized'));
const samplers = list(arg('samplers', 'euler,dpmpp_2m,dpmpp_2m_sde,dpmpp_2s_ancestral,euler_ancestral'));
const stepCounts = list(arg('steps', '4,6,8,10,20')).map(Number);
const refSteps = Number(arg('ref-steps', '100'));
const refScheduler = arg('ref-scheduler', 'karras');
const pictureSampler = arg('picture-sampler', samplers.includes('dpmpp_2m') ? 'dpmpp_2m' : samplers[0]!);
const cachePath = arg('cache', join(root, 'dist', 'bench', 'bundled-model-cache.json'));
const mdPath = arg('md', join(root, 'bench', 'bundled-model.md'));
const picturePath = arg('picture', join(root, 'bench', 'bundled-model.png'));

const hashFile = (p: string) => (existsSync(p) ? createHash('sha256').update(readFileSync(p)).digest('hex').slice(0, 16) : 'none');
const modelHash = hashFile(join(dir, UNET_FILE));
const optimizedHash = hashFile(join(dir, OPTIMIZED_SCHEDULE_FILE));

interface CachedCell {
  scheduler: string;
  sampler: string;
  steps: number;
  cfg: number;
  count: number;
  fid: number;
  classAccuracy: number;
  nfe: number;
  seconds: number;
  sigmas: number[];
  /** The first 10 images, 8-bit, base64. */
  shown: string;
  /** RMS pixel difference to this sampler's baseline from the same noise. */
  rmse?: number;
}
interface Cache {
  cells: Record<string, CachedCell>;
  timings?: Record<string, number>;
  /** FID of real test images at the same sample count (mean and sd over subsets), when the dataset is installed. */
  realFloor?: { key: string; mean: number; sd: number; subsets: number };
}
const cache: Cache = existsSync(cachePath) && !process.argv.includes('--fresh') ? (JSON.parse(readFileSync(cachePath, 'utf8')) as Cache) : { cells: {} };
const saveCache = () => writeFileSync(cachePath, JSON.stringify(cache) + '\n');

const threadsArg = arg('threads', '');
const sessionOptions = threadsArg ? { threads: Number(threadsArg) } : {};
const pipeline = await loadClassConditionalPipeline(dir, sessionOptions);
const evaluator = await loadEvaluator(dir, sessionOptions);
const cfg = Number(arg('cfg', String(pipeline.card.recommendedCfg)));
const keyOf = (scheduler: string, sampler: string, steps: number) =>
  [modelHash, scheduler === 'optimized' ? optimizedHash : '', scheduler, sampler, steps, cfg, samples, seed].join('|');

function toCell(r: ConfigResult): CachedCell {
  const bytes = Buffer.from(Uint8Array.from(r.shown.data, (v) => Math.round(Math.min(1, Math.max(0, v)) * 255)));
  return { scheduler: r.scheduler, sampler: r.sampler, steps: r.steps, cfg: r.cfg, count: r.count, fid: r.fid, classAccuracy: r.classAccuracy, nfe: r.nfe, seconds: r.seconds, sigmas: r.sigmas, shown: bytes.toString('base64') };
}
function shownTensor(c: CachedCell): Tensor {
  const bytes = Buffer.from(c.shown, 'base64');
  return { data: Float32Array.from(bytes, (v) => v / 255), shape: [bytes.length / 784, 1, 28, 28] };
}

// ---- per-call timings (UNet alone, and the CFG denoiser = one session call on 2B rows) ----
async function timeCalls(): Promise<Record<string, number>> {
  const session = await openSession(join(dir, UNET_FILE), sessionOptions);
  const out: Record<string, number> = {};
  for (const b of [1, 64]) {
    const feeds = {
      sample: new ort.Tensor('float32', new Float32Array(b * 784).map((_, i) => Math.sin(i)), [b, 1, 28, 28]),
      timestep: new ort.Tensor('float32', new Float32Array(b).fill(500), [b]),
      class_label: new ort.Tensor('int64', new BigInt64Array(b).fill(3n), [b]),
    };
    for (let i = 0; i < 3; i++) await session.run(feeds);
    const reps = b === 1 ? 200 : 20;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await session.run(feeds);
    out[`unet_batch_${b}_ms`] = (performance.now() - t0) / reps;
  }
  await session.release();
  for (const b of [1, 64]) {
    const den = pipeline.denoiser(new Array<number>(b).fill(7), cfg);
    const x: Tensor = { data: new Float32Array(b * 784).map((_, i) => Math.sin(i) * 3), shape: [b, 1, 28, 28] };
    for (let i = 0; i < 3; i++) await den(x, 3);
    const reps = b === 1 ? 200 : 20;
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) await den(x, 3);
    out[`cfg_denoiser_batch_${b}_ms`] = (performance.now() - t0) / reps;
  }
  return out;
}

/** The finite-sample floor: FID of random subsets of `samples` real test images against the full test statistics. */
async function realFloor(): Promise<Cache['realFloor']> {
  const key = [modelHash, hashFile(join(dir, 'test-features.json')), samples].join('|');
  if (cache.realFloor?.key === key) return cache.realFloor;
  let test;
  try {
    test = loadFashionMnist('t10k');
  } catch (err) {
    console.log(`real-data floor skipped: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
  const rng = createRng(777);
  const values: number[] = [];
  const subsets = 5;
  for (let k = 0; k < subsets; k++) {
    const metrics = new MetricsAccumulator(evaluator);
    const picked = new Set<number>();
    while (picked.size < samples) picked.add(Math.floor(rng.uniform() * test.count));
    const idx = [...picked];
    const images = new Float32Array(samples * 784);
    idx.forEach((i, r) => {
      for (let j = 0; j < 784; j++) images[r * 784 + j] = (test.images[i * 784 + j]! + 1) / 2;
    });
    await metrics.add({ data: images, shape: [samples, 1, 28, 28] }, idx.map((i) => test.labels[i]!));
    values.push(metrics.result().fid);
  }
  const mean = values.reduce((a, b) => a + b, 0) / subsets;
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (subsets - 1));
  return { key, mean, sd, subsets };
}

const started = performance.now();
cache.realFloor = await realFloor();
saveCache();
if (cache.realFloor) console.log(`real-data floor at ${samples} images: FID ${cache.realFloor.mean.toFixed(3)} ± ${cache.realFloor.sd.toFixed(3)}`);
cache.timings = await timeCalls();
saveCache();
console.log('timings (ms):', cache.timings);

/** True when every cell of this sampler already has its RMS difference cached (the baseline images are then not needed). */
function samplerDone(sampler: string): boolean {
  return schedulers.every((s) => stepCounts.every((st) => {
    const c = cache.cells[keyOf(s, sampler, st)];
    return c?.rmse !== undefined || (s === 'optimized' && !existsSync(join(dir, OPTIMIZED_SCHEDULE_FILE)));
  }));
}

const todo: Array<[string, string, number]> = [];
for (const sampler of samplers) {
  todo.push([refScheduler, sampler, refSteps]);
  for (const scheduler of schedulers) for (const steps of stepCounts) todo.push([scheduler, sampler, steps]);
}
const skipped: Record<string, string> = {};
let done = 0;
// Baseline images per sampler, kept in memory for the paired RMS difference (recomputed when not cached with it).
const baselineImages = new Map<string, Tensor>();
for (const [scheduler, sampler, steps] of todo) {
  done++;
  const key = keyOf(scheduler, sampler, steps);
  const isBaseline = scheduler === refScheduler && steps === refSteps;
  if (cache.cells[key] && (isBaseline ? baselineImages.has(sampler) || samplerDone(sampler) : cache.cells[key]!.rmse !== undefined)) continue;
  try {
    pipeline.sigmasFor(scheduler, steps, { sampler });
  } catch (err) {
    skipped[scheduler] = err instanceof Error ? err.message : String(err);
    continue;
  }
  const r = await evaluateConfig(pipeline, evaluator, { scheduler, sampler, steps, cfg }, { samples, seed, batch: samples, keepImages: true });
  if (isBaseline) baselineImages.set(sampler, r.images!);
  const base = baselineImages.get(sampler);
  cache.cells[key] = { ...toCell(r), ...(base ? { rmse: rmsDifference(r.images!, base) } : {}) };
  saveCache();
  const elapsed = (performance.now() - started) / 1000;
  console.log(`[${done}/${todo.length}] ${sampler} ${scheduler} ${steps}: FID ${fmtFid(r.fid)} acc ${fmtPct(r.classAccuracy)} (${r.seconds.toFixed(1)} s; ${elapsed.toFixed(0)} s total)`);
}

// ---- report ----
const deterministic = ['euler', 'dpmpp_2m', 'heun', 'lms', 'ipndm', 'deis', 'dpmpp_3m', 'uni_pc'];
const cell = (scheduler: string, sampler: string, steps: number) => cache.cells[keyOf(scheduler, sampler, steps)];
const ref = evaluator.reference;
const lines: string[] = [];
const t = cache.timings;
lines.push('# The bundled Fashion-MNIST model: schedules x samplers x steps');
lines.push('');
lines.push(`Generated by \`npm run bench:bundled\` (bench/bundled-model.ts) on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} x ${cpus()[0]?.model.trim() ?? 'CPU'}, onnxruntime-node (CPU).`);
lines.push('');
lines.push(`Model: \`${pipeline.modelName}\` (models/fashion-mnist, unet.onnx sha256 ${modelHash}), eps-prediction on SD1.5's discrete schedule, cfg ${cfg} (the card's recommendation). Every cell: ${samples} images, classes balanced (image i has class i mod 10), the same seeded noise (torch.randn, seed ${seed}) in every cell; stochastic samplers use ComfyUI's noise seeding.`);
lines.push('');
lines.push(`**FID on classifier features**: the shipped classifier's ${ref.dim}-dimensional features of the generated images (quantized to 8 bits like a PNG, mapped to [-1, 1]) against the mean and covariance of the 10,000 real test images; Fréchet distance in float64 (src/bundled/frechet.ts). Lower is better. With only ${samples} images per cell the estimate is biased upwards (a finite-sample covariance), so read the numbers relative to each other and to the ${refSteps}-step baseline of the same sampler, which has the same bias; the real-vs-real distance between the two halves of the test set (5,000 vs 5,000) is ${ref.realVsReal !== undefined ? fmtFid(ref.realVsReal) : 'not stored'}.` +
    (cache.realFloor
      ? ` **Floor at this sample count**: ${samples} real test images drawn at random score FID ${fmtFid(cache.realFloor.mean)} ± ${fmtFid(cache.realFloor.sd)} (mean ± sd over ${cache.realFloor.subsets} draws) against the same statistics; no generator can be expected to score much below that here.`
      : ''));
lines.push('');
lines.push(`**Baseline**: ${refSteps} steps of the ${refScheduler} schedule with the same sampler (in the last column).`);
lines.push('');
if (t) {
  lines.push('## Speed (one denoiser call, this machine)');
  lines.push('');
  lines.push('| batch | UNet session call | CFG denoiser call (cond + uncond in one session call of 2B rows) |');
  lines.push('| ---: | ---: | ---: |');
  for (const b of [1, 64]) lines.push(`| ${b} | ${t[`unet_batch_${b}_ms`]!.toFixed(1)} ms | ${t[`cfg_denoiser_batch_${b}_ms`]!.toFixed(1)} ms |`);
  lines.push('');
}
for (const sampler of samplers) {
  const base = cell(refScheduler, sampler, refSteps);
  lines.push(`## ${sampler}`);
  lines.push('');
  lines.push(`FID on classifier features (class accuracy in parentheses); baseline ${refSteps} steps: **${base ? fmtFid(base.fid) : 'n/a'}** (${base ? fmtPct(base.classAccuracy) : 'n/a'}). Best schedule per column in bold.`);
  lines.push('');
  lines.push(`| schedule | ${stepCounts.map((s) => `${s} steps`).join(' | ')} |`);
  lines.push(`| --- | ${stepCounts.map(() => '---:').join(' | ')} |`);
  const best = stepCounts.map((steps) => Math.min(...schedulers.map((s) => cell(s, sampler, steps)?.fid ?? Infinity)));
  for (const scheduler of schedulers) {
    const row = stepCounts.map((steps, k) => {
      const c = cell(scheduler, sampler, steps);
      if (!c) return 'n/a';
      const v = `${fmtFid(c.fid)} (${fmtPct(c.classAccuracy)})`;
      return c.fid === best[k] ? `**${v}**` : v;
    });
    lines.push(`| ${scheduler} | ${row.join(' | ')} |`);
  }
  lines.push('');
  if (deterministic.includes(sampler)) {
    lines.push(`RMS pixel difference (0..1 scale) to the ${refSteps}-step baseline from the same noise: the discretization error of this ODE sampler, with much less sampling noise than FID at ${samples} images. Best per column in bold.`);
    lines.push('');
    lines.push(`| schedule | ${stepCounts.map((s) => `${s} steps`).join(' | ')} |`);
    lines.push(`| --- | ${stepCounts.map(() => '---:').join(' | ')} |`);
    const bestR = stepCounts.map((steps) => Math.min(...schedulers.map((s) => cell(s, sampler, steps)?.rmse ?? Infinity)));
    for (const scheduler of schedulers) {
      const row = stepCounts.map((steps, k) => {
        const c = cell(scheduler, sampler, steps);
        if (c?.rmse === undefined) return 'n/a';
        return c.rmse === bestR[k] ? `**${c.rmse.toFixed(4)}**` : c.rmse.toFixed(4);
      });
      lines.push(`| ${scheduler} | ${row.join(' | ')} |`);
    }
    lines.push('');
  }
}

// Plain statements on where AYS helps, computed from the table.
lines.push('## Where AYS helps and where it does not');
lines.push('');
// A hand-written reading of the numbers, kept next to this script (regenerating the tables keeps it).
const notesPath = join(root, 'bench', 'bundled-model-notes.md');
if (existsSync(notesPath)) {
  lines.push(readFileSync(notesPath, 'utf8').trim());
  lines.push('');
  lines.push('The statements below are computed from the tables above.');
  lines.push('');
}
// Mean rank of each schedule per step count over the samplers (1 = best FID in that sampler's column).
lines.push(`Mean rank by FID over the ${samplers.length} samplers (1 = best of the ${schedulers.length} schedules in that column; lower is better):`);
lines.push('');
lines.push(`| schedule | ${stepCounts.map((s) => `${s} steps`).join(' | ')} |`);
lines.push(`| --- | ${stepCounts.map(() => '---:').join(' | ')} |`);
for (const scheduler of schedulers) {
  const row = stepCounts.map((steps) => {
    const ranks = samplers
      .map((sampler) => {
        const mine = cell(scheduler, sampler, steps);
        if (!mine) return undefined;
        return 1 + schedulers.filter((o) => (cell(o, sampler, steps)?.fid ?? Infinity) < mine.fid).length;
      })
      .filter((r): r is number => r !== undefined);
    return ranks.length ? (ranks.reduce((a, b) => a + b, 0) / ranks.length).toFixed(1) : 'n/a';
  });
  lines.push(`| ${scheduler} | ${row.join(' | ')} |`);
}
lines.push('');
const others = schedulers.filter((s) => s !== 'ays' && s !== 'optimized');
let wins = 0;
let total = 0;
const rankLines: string[] = [];
for (const sampler of samplers) {
  const ranks: string[] = [];
  for (const steps of stepCounts) {
    const a = cell('ays', sampler, steps);
    if (!a) continue;
    const rivals = others.map((s) => cell(s, sampler, steps)).filter((c): c is CachedCell => !!c);
    if (rivals.length === 0) continue;
    const bestOther = rivals.reduce((m, c) => (c.fid < m.fid ? c : m), rivals[0]!);
    const rank = 1 + rivals.filter((c) => c.fid < a.fid).length;
    total++;
    if (rank === 1) wins++;
    ranks.push(`${steps} steps: rank ${rank} of ${rivals.length + 1} (AYS ${fmtFid(a.fid)} vs best other ${bestOther.scheduler} ${fmtFid(bestOther.fid)})`);
  }
  rankLines.push(`- **${sampler}**: ${ranks.join('; ')}.`);
}
lines.push(`AYS (NVIDIA's SD1.5 schedule, used as is on this SD1.5-scheduled model) has the lowest FID among the ${others.length + 1} fixed schedules (${['ays', ...others].join(', ')}) in ${wins} of ${total} sampler x step cells.`);
lines.push('');
lines.push(...rankLines);
lines.push('');
const detSamplers = samplers.filter((s) => deterministic.includes(s));
if (detSamplers.length > 0) {
  const cmp: string[] = [];
  let aysBest = 0;
  let n = 0;
  for (const sampler of detSamplers) {
    for (const steps of stepCounts) {
      const a = cell('ays', sampler, steps);
      const rivals = others.map((s) => cell(s, sampler, steps)).filter((c): c is CachedCell => c?.rmse !== undefined);
      if (a?.rmse === undefined || rivals.length === 0) continue;
      n++;
      const best = rivals.reduce((m, c) => (c.rmse! < m.rmse! ? c : m), rivals[0]!);
      if (a.rmse < best.rmse!) aysBest++;
      cmp.push(`${sampler} ${steps}: AYS ${a.rmse.toFixed(4)}, best other ${best.scheduler} ${best.rmse!.toFixed(4)}`);
    }
  }
  lines.push(`By the RMS difference to the ${refSteps}-step result (deterministic samplers ${detSamplers.join(', ')}), AYS has the smallest discretization error of the fixed schedules in ${aysBest} of ${n} cells: ${cmp.join('; ')}.`);
  lines.push('');
}
const opt = samplers.flatMap((sampler) => stepCounts.map((steps) => [cell('optimized', sampler, steps), cell('ays', sampler, steps)] as const)).filter(([o, a]) => o && a);
if (opt.length > 0) {
  const better = opt.filter(([o, a]) => o!.fid < a!.fid).length;
  const optR = opt.filter(([o, a]) => o!.rmse !== undefined && a!.rmse !== undefined && deterministic.includes(o!.sampler));
  const betterR = optR.filter(([o, a]) => o!.rmse! < a!.rmse!).length;
  lines.push(`The schedule optimized for this model (models/fashion-mnist/optimized-schedule.json) has a lower FID than NVIDIA's SD1.5 AYS schedule in ${better} of ${opt.length} cells` +
    (optR.length ? `, and a smaller RMS difference to the baseline in ${betterR} of ${optR.length} deterministic-sampler cells.` : '.'));
} else {
  lines.push(`No optimized schedule was measured (${skipped.optimized ?? 'not requested'}).`);
}
lines.push('');
lines.push(`Picture (${pictureSampler}; rows = schedules, columns = steps and the ${refSteps}-step baseline; one image per class, the same noise everywhere):`);
lines.push('');
lines.push(`![schedules x steps, ${pictureSampler}](${picturePath.split('/').pop()})`);
lines.push('');
lines.push(`Total benchmark time: ${((performance.now() - started) / 1000).toFixed(0)} s (cells cached from earlier runs are not recomputed).`);
writeFileSync(mdPath, lines.join('\n') + '\n');

const base = cell(refScheduler, pictureSampler, refSteps);
const rows = schedulers.filter((s) => stepCounts.some((st) => cell(s, pictureSampler, st)));
const png = await renderGrid({
  title: `${pipeline.modelName}: ${pictureSampler}, cfg ${cfg}; rows = schedules, columns = steps`,
  subtitle: `under each cell: FID on classifier features (${samples} images) · class accuracy · RMS pixel difference to the ${refSteps}-step baseline from the same noise`,
  rowLabels: rows,
  colLabels: [...stepCounts.map((s) => `${s} steps`), `${refSteps} (${refScheduler})`],
  cells: rows.map((s) => [...stepCounts.map((st) => { const c = cell(s, pictureSampler, st); return c ? shownTensor(c) : null; }), base ? shownTensor(base) : null]),
  captions: rows.map((s) => [...stepCounts.map((st) => { const c = cell(s, pictureSampler, st); return c ? `FID ${fmtFid(c.fid)} · ${fmtPct(c.classAccuracy)}` + (c.rmse !== undefined ? ` · rms ${c.rmse.toFixed(3)}` : '') : 'n/a'; }), base ? `FID ${fmtFid(base.fid)} · ${fmtPct(base.classAccuracy)}` : 'n/a']),
  tilesPerRow: 5,
  scale: 2,
});
writeFileSync(picturePath, png);
console.log(`wrote ${mdPath} and ${picturePath} (${((performance.now() - started) / 1000).toFixed(0)} s)`);
await pipeline.dispose();
await evaluator.release();
