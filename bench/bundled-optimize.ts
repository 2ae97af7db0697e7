/**
 * Run the AYS optimizer (src/optimizer) on the bundled Fashion-MNIST model and write
 * models/fashion-mnist/optimized-schedule.json, the schedule `--scheduler optimized` uses.
 *
 *   node dist/bench/bundled-optimize.js [--samples 128] [--candidates 7] [--sweeps 4] [--stages 1] [--cfg C] [--seed 0] [--overwrite]
 *
 * Data: real Fashion-MNIST training images (Debian's dataset-fashion-mnist, read offline), drawn at random with
 * their labels; the denoiser is the model with classifier-free guidance at the card's recommended scale,
 * conditioned on each image's own label, as the paper optimizes text-to-image models on captioned data with CFG.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { loadClassConditionalPipeline } from '../src/pipelines/class-conditional.js';
import { defaultModelDir, OPTIMIZED_SCHEDULE_FILE, UNET_FILE } from '../src/bundled/model-files.js';
import { loadFashionMnist } from '../src/bundled/fashion-mnist-data.js';
import { optimizeAys } from '../src/optimizer/ays.js';
import { createRng } from '../src/core/rng.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

const dir = arg('model', defaultModelDir());
const samples = Number(arg('samples', '128'));
const candidates = Number(arg('candidates', '7'));
const sweeps = Number(arg('sweeps', '4'));
const stages = Number(arg('stages', '1')) as 1 | 2 | 3;
const seed = Number(arg('seed', '0'));
const variant = arg('variant', 'data') as 'data' | 'eps' | '2m';
const out = arg('out', join(dir, OPTIMIZED_SCHEDULE_FILE));
if (existsSync(out) && !process.argv.includes('--overwrite')) {
  console.error(`${out} exists; pass --overwrite to replace it`);
  process.exit(1);
}

// The optimizer must see the model as it is, without a previously carried schedule.
const threads = arg('threads', '');
const pipeline = await loadClassConditionalPipeline(dir, { carriedSchedule: null, ...(threads ? { threads: Number(threads) } : {}) });
const cfg = Number(arg('cfg', String(pipeline.card.recommendedCfg)));
const ms = pipeline.modelSampling;
const train = loadFashionMnist('train');
const rng = createRng(seed + 12345);
const picked = new Set<number>();
while (picked.size < samples) picked.add(Math.floor(rng.uniform() * train.count));
const indices = [...picked];
const data = new Float64Array(samples * 784);
indices.forEach((idx, r) => {
  for (let j = 0; j < 784; j++) data[r * 784 + j] = train.images[idx * 784 + j]!;
});
const labels = indices.map((idx) => train.labels[idx]!);
// The KLUB estimator passes either all rows or a prefix of them (src/optimizer/klub.ts: draws are sorted by
// sigma and "below s" is a prefix), always in data order; so n rows carry the first n labels.
const denoisers = new Map<number, ReturnType<typeof pipeline.denoiser>>();
const denoiserFor = (n: number) => {
  if (n > samples) throw new RangeError(`optimizer asked for ${n} rows, more than the ${samples} data samples`);
  let d = denoisers.get(n);
  if (!d) denoisers.set(n, (d = pipeline.denoiser(labels.slice(0, n), cfg)));
  return d;
};
const sessionCalls = () => [...denoisers.values()].reduce((a, d) => a + d.sessionCalls, 0);

console.log(`AYS optimizer on ${pipeline.modelName}: ${samples} training images, cfg ${cfg}, ${candidates} candidates, <= ${sweeps} sweeps, ${stages} stage(s), KLUB variant ${variant}`);
let lastLine = '';
const result = await optimizeAys({
  denoiser: (x, sigma) => denoiserFor(x.shape[0]!)(x, sigma),
  rowDenoiser: (x, sigmas) => denoiserFor(x.shape[0]!).rows(x, sigmas),
  data: { data, shape: [samples, 1, 28, 28] },
  sigmaMin: ms.sigmaMin,
  sigmaMax: ms.sigmaMax,
  steps: 10,
  baseSteps: 10,
  stages,
  samples,
  seed,
  variant,
  candidates,
  maxSweeps: sweeps,
  timestepSigmas: ms.sigmas,
  earlyStop: false,
  onProgress: (p) => {
    const line = `stage ${p.stage} sweep ${p.sweep}${p.coordinate !== undefined ? ` coord ${p.coordinate}` : ''} klub ${p.klub?.toFixed(4) ?? '?'} (${(100 * p.fraction).toFixed(0)}%, ${sessionCalls()} session calls)`;
    if (line !== lastLine) console.log(line);
    lastLine = line;
  },
});

const training = pipeline.card.raw.training as { steps?: number } | undefined;
const trainingSteps = training?.steps;
const file = {
  description: 'Align Your Steps schedule optimized for this model by the ays optimizer (src/optimizer), used by --scheduler optimized.',
  sigmas: result.sigmas,
  master_sigmas: result.master,
  timesteps: result.timesteps,
  master_timesteps: result.masterTimesteps,
  how_made: {
    tool: 'bench/bundled-optimize.ts (npm run bench:bundled-optimize)',
    optimizer: `optimizeAys: KLUB variant "${variant}", ${stages} stage(s), ${candidates} candidates per coordinate, at most ${sweeps} sweeps, no early stopping, candidates snapped to the model's 1000 discrete sigmas`,
    model: `${pipeline.modelName}, unet.onnx sha256 ${createHash('sha256').update(readFileSync(join(dir, UNET_FILE))).digest('hex')}` +
      (trainingSteps !== undefined ? `, training step ${trainingSteps}` : ''),
    monte_carlo_samples: samples,
    data: `${samples} Fashion-MNIST training images drawn at random (seed ${seed}) from Debian's dataset-fashion-mnist, each with its own label`,
    denoiser: `the bundled UNet with classifier-free guidance at cfg ${cfg} (null class ${pipeline.card.nullClass}), eps-prediction on SD1.5's discrete schedule`,
    sigma_range: [ms.sigmaMin, ms.sigmaMax],
    stopped_by: result.stoppedBy,
    model_evaluations: result.evaluations,
    session_calls: sessionCalls(),
    seconds: Math.round(result.seconds),
    klub_trace: result.trace.map((t) => ({ stage: t.stage, sweep: t.sweep, klub: t.klub })),
    other_step_counts: 'log-linear interpolation of master_sigmas (as NVIDIA\'s AYS howto and ComfyUI do), last value set to 0',
  },
};
writeFileSync(out, JSON.stringify(file, null, 1) + '\n');
console.log(`wrote ${out}\n sigmas ${result.sigmas.map((s) => s.toFixed(4)).join(', ')}\n ${Math.round(result.seconds)} s, ${sessionCalls()} session calls`);
await pipeline.dispose();
