/** `ays optimize`: compute an AYS (or GITS) schedule for a testbed and write it as JSON. */
import type { Command } from 'commander';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { UsageError } from '../errors.js';
import { testbedNames } from '../../lab/testbeds.js';
import { samplerSpec, samplerNames } from '../../samplers/registry.js';
import type { Tensor } from '../../tensor/tensor.js';
import { stageProgress } from '../../bundled/progress.js';
import { defaultModelMethod, modelMethods, optimizeModelSchedule, type ModelMethod } from '../../optimizer/model-optimize.js';
import {
  defaultTestbedMethod,
  optimizeForTestbed,
  testbedMethods,
  type EarlyStopKind,
  type HeldOutRow,
  type HeldOutTable,
  type TestbedMethod,
} from '../../lab/optimize-testbed.js';
import { checkOutputFiles, parseCfg, parseInteger, parseNumber, parseSeed, parseSteps, safeSeed, seedJson, writeOutputFile } from '../options.js';
import type { KlubVariant } from '../../optimizer/types.js';

interface OptimizeCliOptions {
  testbed?: string;
  model?: string;
  prompts?: string;
  width?: string;
  height?: string;
  cfg?: string;
  heldOutSeed?: string;
  heldOutSamples?: string;
  sweeps?: string;
  teacherSteps?: string;
  data?: string;
  threads?: string;
  solver: string;
  steps: string;
  baseSteps: string;
  out: string;
  seed?: string;
  samples?: string;
  method?: string;
  variant?: string;
  earlyStop: string;
  maxSweeps?: string;
  patience?: string;
  coeff?: string;
  final: string;
  init: string;
  window: string;
  overwrite?: boolean;
  json?: boolean;
}

function fmt(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '-' : v.toPrecision(4);
}

export function register(program: Command): void {
  program
    .command('optimize')
    .description('optimize a sampling schedule for a model (--model DIR) or a testbed (--testbed NAME): teacher matching (default), AYS (KLUB 10 -> 20 -> 40) or GITS')
    .option('--model <dir>', 'model folder: the bundled model (models/fashion-mnist) or an SD1.x/SDXL optimum export')
    .option('--testbed <name>', `testbed: ${testbedNames.join(', ')}`)
    .option('--prompts <file>', 'text models: prompts, one per line (default: a small built-in list)')
    .option('--width <px>', 'text models: image width')
    .option('--height <px>', 'text models: image height')
    .option('--cfg <scale>', "guidance scale (default: the model card's recommendation, 7 for SD)")
    .option('--held-out-seed <n>', 'seed of the held-out noises for the guard and the testbed table (default: --seed + 4000)')
    .option('--held-out-samples <n>', 'held-out noises (models: default --samples; testbeds: max(--samples, 1024), at most 4096)')
    .option('--sweeps <n>', 'teacher: coordinate-search sweeps after the dynamic program (0 = DP only)', '0')
    .option('--teacher-steps <n>', 'teacher: steps of the karras teacher grid', '100')
    .option('--data <file>', 'ays on a model: data samples (a .json array of images in model space); default the model\'s own 100-step samples')
    .option('--threads <n>', 'onnxruntime intra-op threads')
    .option('--solver <name>', 'sampler the schedule is for (sets the early-stop solver)', 'dpmpp_2m')
    .option('-n, --steps <n>', 'steps of the written schedule (AYS interpolates its 40-step master)', '10')
    .option('--base-steps <n>', 'AYS stage-1 steps (master = 4x)', '10')
    .requiredOption('-o, --out <file>', 'output JSON file')
    .option('--seed <n>', 'random seed (models: seed of the training noises; default 1000; testbeds: 0)')
    .option('--samples <n>', 'training noises (models: default 64; testbeds, teacher: 512); testbeds, ays: Monte Carlo data samples for the KLUB estimator (default 8192)')
    .option('--method <name>', 'teacher (default, models and testbeds; on a model, samplers that draw noise fit a two-parameter beta family instead of the DP), ays or gits')
    .option('--variant <name>', 'KLUB variant: data (first-order, paper), eps, 2m (default data)')
    .option('--early-stop <kind>', 'stage-1 early stopping: distance (output MSE to an ODE reference), nll (testbed NLL), sw2 (sliced W2 to true samples), none', 'distance')
    .option('--max-sweeps <n>', 'stage-1 sweep cap (default 8; 25 with --early-stop nll or sw2)')
    .option('--patience <n>', 'sweeps without improvement before stopping (default 1; 4 with nll or sw2)')
    .option('--coeff <x>', 'GITS coefficient (default 1.20)')
    .option('--final <kind>', 'runs scored by --early-stop nll end at zero (deployed lists) or sigma-min (paper convention)', 'zero')
    .option('--init <kind>', 'stage-1 start: paper (EDM rho 7; time-uniform on discrete models) or edm', 'paper')
    .option('--window <x>', 'stage-1 candidate window as a fraction of each bracket (0 < x <= 1)', '1')
    .option('--overwrite', 'replace --out if it exists')
    .option('--json', 'print the result JSON on stdout (no progress bar)')
    .action(async (opts: OptimizeCliOptions) => {
      if (opts.model !== undefined && opts.testbed !== undefined) throw new UsageError('give either --model or --testbed, not both');
      if (opts.model !== undefined) return optimizeModelCommand(opts);
      if (opts.testbed === undefined) throw new UsageError('give --model DIR (a model folder) or --testbed NAME');
      if (!testbedNames.includes(opts.testbed)) throw new UsageError(`unknown testbed "${opts.testbed}"; valid testbeds: ${testbedNames.join(', ')}`);
      if (!samplerNames.includes(opts.solver)) throw new UsageError(`unknown solver "${opts.solver}"; valid samplers: ${samplerNames.join(', ')}`);
      const method = (opts.method ?? defaultTestbedMethod) as TestbedMethod;
      if (!testbedMethods.includes(method)) throw new UsageError(`--method must be one of ${testbedMethods.join(', ')} for testbeds, got "${opts.method}"`);
      if (opts.variant !== undefined && !['data', 'eps', '2m'].includes(opts.variant)) throw new UsageError(`--variant must be data, eps or 2m, got "${opts.variant}"`);
      if (!['distance', 'nll', 'sw2', 'none'].includes(opts.earlyStop)) throw new UsageError(`--early-stop must be distance, nll, sw2 or none, got "${opts.earlyStop}"`);
      if (opts.final !== 'zero' && opts.final !== 'sigma-min') throw new UsageError(`--final must be zero or sigma-min, got "${opts.final}"`);
      if (opts.init !== 'paper' && opts.init !== 'edm') throw new UsageError(`--init must be paper or edm, got "${opts.init}"`);
      const window = parseNumber('--window', opts.window, { above: 0, max: 1 });
      const steps = parseSteps(opts.steps);
      const baseSteps = parseInteger('--base-steps', opts.baseSteps, { min: 2, max: 250 });
      const seed = safeSeed(parseSeed(opts.seed ?? '0'));
  if (opts.heldOutSeed === undefined && seed + 4000 > Number.MAX_SAFE_INTEGER) throw new UsageError(`--seed ${opts.seed}: the default held-out seed (--seed + 4000) passes 2^53-1; give --held-out-seed`);
      const samples = parseInteger('--samples', opts.samples ?? (method === 'teacher' ? '512' : '8192'), { min: 2, max: 10_000_000 });
      const maxSweeps = opts.maxSweeps === undefined ? undefined : parseInteger('--max-sweeps', opts.maxSweeps, { min: 1, max: 1000 });
      const patience = opts.patience === undefined ? undefined : parseInteger('--patience', opts.patience, { min: 1, max: 1000 });
      const coeff = opts.coeff === undefined ? undefined : parseNumber('--coeff', opts.coeff, { above: 0 });
      const sweeps = parseInteger('--sweeps', opts.sweeps ?? '0', { min: 0, max: 100 });
      const teacherSteps = parseInteger('--teacher-steps', opts.teacherSteps ?? '100', { min: 2, max: 1000 });
      if (method === 'teacher' && steps > teacherSteps) throw new UsageError(`--steps ${steps} is beyond the teacher grid (${teacherSteps} steps); raise --teacher-steps or lower --steps`);
      const heldOutSeed = opts.heldOutSeed === undefined ? undefined : safeSeed(parseSeed(opts.heldOutSeed, '--held-out-seed'), '--held-out-seed');
      if (heldOutSeed === seed) throw new UsageError('--held-out-seed must differ from --seed (the guard needs noise the optimizer never saw)');
      const heldOutSamples = opts.heldOutSamples === undefined ? undefined : parseInteger('--held-out-samples', opts.heldOutSamples, { min: 2, max: 65536 });
      checkOutputFiles([opts.out], { overwrite: opts.overwrite === true });
      const showBar = !opts.json && process.stderr.isTTY === true;
      const bar = showBar
        ? new cliProgress.SingleBar(
            { format: 'ays optimize |{bar}| {percentage}% | stage {stage} sweep {sweep} | KLUB {klub} | early-stop {metric}', hideCursor: true, clearOnComplete: true, stream: process.stderr },
            cliProgress.Presets.shades_classic,
          )
        : null;
      bar?.start(1000, 0, { stage: 1, sweep: 0, klub: '-', metric: '-' });
      let file;
      try {
        file = await optimizeForTestbed({
          testbed: opts.testbed,
          method,
          sweeps,
          teacherSteps,
          ...(heldOutSeed !== undefined ? { heldOutSeed } : {}),
          ...(heldOutSamples !== undefined ? { heldOutSamples } : {}),
          solver: opts.solver,
          steps,
          baseSteps,
          seed,
          samples,
          variant: opts.variant as KlubVariant | undefined,
          earlyStop: opts.earlyStop as EarlyStopKind,
          maxSweeps,
          patience,
          coeff,
          finalStep: opts.final as 'zero' | 'sigma-min',
          init: opts.init as 'paper' | 'edm',
          window,
          onProgress: (p) => {
            if (!bar) return;
            if ('phase' in p) bar.update(Math.round((1000 * p.done) / p.total), { stage: p.phase, sweep: '-', klub: '-', metric: '-' });
            else bar.update(Math.round(1000 * p.fraction), { stage: p.stage, sweep: p.sweep, klub: fmt(p.klub), metric: fmt(p.earlyStop) });
          },
        });
      } finally {
        bar?.stop();
      }
      const text = `${JSON.stringify(file, null, 2)}\n`;
      writeOutputFile(opts.out, text, opts.overwrite);
      const made = file.made_by;
      const held = made.held_out as HeldOutTable | undefined;
      if (opts.json) {
        process.stdout.write(text);
        if (held && !held.improves_on_start) process.stderr.write(`ays: warning: ${held.verdict}\n`);
        return;
      }
      if (held) {
        const caption =
          `held-out noises: seed ${seedJson(held.seed)}, ${held.samples} samples (training seed ${seedJson(held.training_seed)}); ` +
          `paired RMS to ${held.reference}; NLL under the true density (± standard errors)`;
        process.stdout.write(formatTestbedTable(held.rows, caption) + '\n');
        process.stdout.write(`${held.improves_on_start ? '' : 'WARNING: '}${held.verdict}\n`);
      }
      process.stdout.write(
        `wrote ${opts.out}: ${file.method} schedule, ${file.steps} steps, ${String(made.seconds ?? '')} s` +
          (made.stopped_by ? `, stage 1 stopped by ${String(made.stopped_by)}` : '') +
          `\nsigmas ${file.sigmas.map((s) => Number(s.toPrecision(5))).join(', ')}\n`,
      );
      const trace = made.trace as Array<{ stage: number; sweep: number; sigmas: number[] }> | undefined;
      const start = trace?.find((t) => t.stage === 1 && t.sweep === 0)?.sigmas;
      const stage1 = made.stage1_sigmas as number[] | undefined;
      if (start && stage1 && start.length === stage1.length && start.every((v, i) => v === stage1[i])) {
        process.stdout.write('WARNING: AYS stage 1 kept its start schedule (no sweep improved the early-stop metric); stages 2-3 only added points between them. Try --method teacher.\n');
      }
    });
}

/** The testbed held-out table: paired RMS ± SE (and the paired difference to the optimized schedule), NLL ± SE. */
export function formatTestbedTable(rows: readonly HeldOutRow[], caption: string): string {
  const width = Math.max(11, ...rows.map((r) => r.scheduler.length));
  const lines = [caption, `${'rank'.padStart(4)}  ${'schedule'.padEnd(width)}  rms ± se              vs optimized (paired)   nll ± se`];
  rows.forEach((r, i) => {
    const diff = r.diff === undefined ? '' : `${r.diff >= 0 ? '+' : ''}${r.diff.toPrecision(3)} ± ${r.diffStdErr!.toPrecision(2)}`;
    lines.push(
      `${String(i + 1).padStart(4)}  ${r.scheduler.padEnd(width)}  ${`${r.rms.toPrecision(4)} ± ${r.rmsStdErr.toPrecision(2)}`.padEnd(20)}  ${diff.padEnd(22)}  ${r.nll.toFixed(3)} ± ${r.nllStdErr.toFixed(3)}`,
    );
  });
  return lines.join('\n');
}

// ---------------------------------------------------------------------------------------------------------
// --model

const DEFAULT_PROMPTS = [
  'a photograph of an astronaut riding a horse',
  'a red sports car on a mountain road, golden hour',
  'a bowl of fruit on a wooden table, still life',
  'a portrait of an old man with a grey beard',
  'a cozy cabin in a snowy forest at night',
  'a cat sleeping on a windowsill',
  'an oil painting of a lighthouse in a storm',
  'a futuristic city skyline at sunset',
];

/** Samplers whose schedule is not a sigma list they follow (adaptive step size). */
const NOT_SCHEDULED = new Set(['dpm_fast', 'dpm_adaptive']);

function readPrompts(file: string): string[] {
  if (!existsSync(file)) throw new UsageError(`--prompts: file not found: ${file}`);
  if (statSync(file).isDirectory()) throw new UsageError(`--prompts: ${file} is a folder, not a file`);
  const prompts = readFileSync(file, 'utf8')
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0);
  if (prompts.length === 0) throw new UsageError(`--prompts: ${file} has no prompts (one per line)`);
  return prompts;
}

function modelKind(dir: string): 'class' | 'text' {
  if (!existsSync(dir)) throw new UsageError(`--model: folder not found: ${dir}`);
  if (!statSync(dir).isDirectory()) throw new UsageError(`--model: ${dir} is not a folder`);
  if (existsSync(join(dir, 'card.json'))) return 'class';
  if (existsSync(join(dir, 'model_index.json'))) return 'text';
  throw new UsageError(`--model: ${dir} is not a model folder (no card.json of a bundled model, no model_index.json of an optimum export)`);
}

function fmtRow(rank: number, name: string, rms: number, se: number, diff: string, width: number): string {
  return `${String(rank).padStart(4)}  ${name.padEnd(width)}  ${rms.toFixed(4)}  ${se.toFixed(4)}  ${diff}`;
}

/** The ranked held-out table as text. */
export function formatGuardTable(rows: ReadonlyArray<{ scheduler: string; rms: number; rmsStdErr: number; diff?: number; diffStdErr?: number }>, caption: string): string {
  const width = Math.max(9, ...rows.map((r) => r.scheduler.length));
  const lines = [caption, `${'rank'.padStart(4)}  ${'schedule'.padEnd(width)}  rms     ± se    vs this run (paired)`];
  rows.forEach((r, i) => {
    const diff = r.diff === undefined ? '' : `${r.diff >= 0 ? '+' : ''}${r.diff.toFixed(4)} ± ${r.diffStdErr!.toFixed(4)}`;
    lines.push(fmtRow(i + 1, r.scheduler, r.rms, r.rmsStdErr, diff, width));
  });
  return lines.join('\n');
}

async function optimizeModelCommand(opts: OptimizeCliOptions): Promise<void> {
  // every check before any model is opened
  const dir = resolve(opts.model!);
  const kind = modelKind(dir);
  const method = (opts.method ?? defaultModelMethod) as ModelMethod;
  if (!modelMethods.includes(method)) throw new UsageError(`--method must be one of ${modelMethods.join(', ')}, got "${opts.method}"`);
  if (!samplerNames.includes(opts.solver)) throw new UsageError(`unknown solver "${opts.solver}"; valid samplers: ${samplerNames.join(', ')}`);
  if (NOT_SCHEDULED.has(opts.solver)) throw new UsageError(`--solver ${opts.solver} picks its own steps; a schedule cannot be optimized for it`);
  const teacherSteps = parseInteger('--teacher-steps', opts.teacherSteps ?? '100', { min: 2, max: 1000 });
  const steps = parseSteps(opts.steps);
  if (steps > teacherSteps) throw new UsageError(`--steps ${steps} is beyond the teacher grid (${teacherSteps} steps); raise --teacher-steps or lower --steps`);
  const seed = safeSeed(parseSeed(opts.seed ?? '1000'));
  // the held-out default is seed + 4000, and the model runs keep seeds in 32 bits as before
  if (seed > 2 ** 31) throw new UsageError(`--seed must be at most 2^31 = ${2 ** 31} for --model, got "${opts.seed}"`);
  const samples = parseInteger('--samples', opts.samples ?? '64', { min: 2, max: 4096 });
  const heldOutSeed = opts.heldOutSeed === undefined ? seed + 4000 : safeSeed(parseSeed(opts.heldOutSeed, '--held-out-seed'), '--held-out-seed');
  if (heldOutSeed === seed) throw new UsageError('--held-out-seed must differ from --seed (the guard needs noise the optimizer never saw)');
  const heldOutSamples = opts.heldOutSamples === undefined ? samples : parseInteger('--held-out-samples', opts.heldOutSamples, { min: 2, max: 4096 });
  const sweeps = parseInteger('--sweeps', opts.sweeps ?? '0', { min: 0, max: 100 });
  const cfg = opts.cfg === undefined ? undefined : parseCfg(opts.cfg);
  const coeff = opts.coeff === undefined ? undefined : parseNumber('--coeff', opts.coeff, { above: 0 });
  const threads = opts.threads === undefined ? undefined : parseInteger('--threads', opts.threads, { min: 1, max: 256 });
  let prompts: string[] | undefined;
  if (kind === 'class') {
    if (opts.prompts !== undefined) throw new UsageError('--prompts is for text-to-image models; this model is class-conditional (classes cycle 0..9)');
    if (opts.width !== undefined || opts.height !== undefined) throw new UsageError('--width/--height are for text-to-image models; this model makes images of one size');
  } else {
    prompts = opts.prompts === undefined ? DEFAULT_PROMPTS : readPrompts(opts.prompts);
  }
  const width = opts.width === undefined ? undefined : parseInteger('--width', opts.width, { min: 8, max: 8192 });
  const height = opts.height === undefined ? undefined : parseInteger('--height', opts.height, { min: 8, max: 8192 });
  if (opts.data !== undefined && method !== 'ays') throw new UsageError('--data is for --method ays');
  if (opts.data !== undefined && !existsSync(opts.data)) throw new UsageError(`--data: file not found: ${opts.data}`);
  checkOutputFiles([opts.out], { overwrite: opts.overwrite === true });

  const progress = stageProgress('ays optimize', { json: opts.json === true });
  const { openModelHandle } = await import('../../bundled/open-model.js');
  const model = await openModelHandle(dir, { prompts, width, height, threads });
  try {
    const useCfg = cfg ?? model.recommendedCfg;
    let data: Tensor | undefined;
    if (opts.data !== undefined) data = readDataFile(opts.data, model.handle.latentShape);
    const result = await optimizeModelSchedule(model.handle, {
      sampler: opts.solver,
      steps,
      method,
      samples,
      seed,
      heldOutSeed,
      heldOutSamples,
      cfg: useCfg,
      teacherSteps,
      sweeps,
      ...(coeff !== undefined ? { coeff } : {}),
      ...(data ? { data } : {}),
      onProgress: (p) => progress.update(p.stage, p.done, p.total),
    });
    progress.stop();
    const text = `${JSON.stringify(result.file, null, 1)}\n`;
    writeOutputFile(opts.out, text, opts.overwrite);
    if (opts.json) {
      process.stdout.write(text);
      return;
    }
    const caption =
      `held-out noises: seed ${heldOutSeed}, ${heldOutSamples} samples (training seed ${seed}); RMS of the final ${model.handle.toImage ? 'image ([0, 1] pixels)' : 'latent'} ` +
      `to karras ${teacherSteps} steps of ${opts.solver} from the same noise${samplerStochastic(opts.solver) ? ' and Brownian path' : ''}`;
    process.stdout.write(formatGuardTable(result.guard.rows, caption) + '\n');
    process.stdout.write(`${result.guard.wins ? '' : 'WARNING: '}${result.guard.verdict}\n`);
    process.stdout.write(
      `wrote ${opts.out}: ${method} schedule for ${model.handle.name}, ${opts.solver}, ${steps} steps (${Math.round(result.seconds)} s, ${result.calls} model calls)\n` +
        `sigmas ${result.file.sigmas.map((s) => Number(s.toPrecision(5))).join(', ')}\n`,
    );
  } finally {
    progress.stop();
    await model.handle.dispose();
  }
}

function samplerStochastic(name: string): boolean {
  return samplerSpec(name).stochastic;
}

/** --data: a JSON array of images (each a flat array in model space) or { data: number[], shape: number[] }. */
function readDataFile(file: string, latentShape: readonly number[]): Tensor {
  let v: unknown;
  try {
    v = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new UsageError(`--data ${file}: not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  const plane = latentShape.reduce((a, b) => a * b, 1);
  const rows: number[][] = Array.isArray(v) ? (v as number[][]) : [];
  if (rows.length < 2 || rows.some((r) => !Array.isArray(r) || r.length !== plane || r.some((x) => typeof x !== 'number' || !Number.isFinite(x)))) {
    throw new UsageError(`--data ${file}: expected an array of at least 2 images of ${plane} finite numbers each (${latentShape.join('x')})`);
  }
  const data = new Float64Array(rows.length * plane);
  rows.forEach((r, i) => data.set(r, i * plane));
  return { data, shape: [rows.length, ...latentShape] };
}
