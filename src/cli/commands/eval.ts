/**
 * `ays eval`: compare schedules for one sampler and step count on one model, paired: every schedule runs from the
 * same noises (and, for stochastic samplers, the same Brownian path) as one shared reference run (karras,
 * --reference-steps steps, same sampler); the table ranks them by RMS to the reference with its standard error.
 * On the bundled model also FID on classifier features (bootstrap 95% interval) and class accuracy.
 */
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { samplerSpec, samplerNames } from '../../samplers/registry.js';
import { getSigmas, schedulerNames } from '../../schedules/index.js';
import { stageProgress } from '../../bundled/progress.js';
import { commandWithOptions, type OptionRow, parseCfg, parseInteger, parseList, parseSeed, parseSteps, safeSeed } from '../options.js';

interface EvalOpts {
  model?: string;
  scheduler: string;
  sampler: string;
  steps: string;
  samples: string;
  cfg?: string;
  seed: string;
  batch: string;
  referenceSteps: string;
  prompts?: string;
  width?: string;
  height?: string;
  force?: boolean;
  json?: boolean;
  threads?: string;
}

export interface EvalRow {
  scheduler: string;
  sampler: string;
  steps: number;
  rms: number;
  rmsStdErr: number;
  fid: number | null;
  fidCi: [number, number] | null;
  classAccuracy: number | null;
}

/** The options of `ays eval`: flags, help, default. */
const EVAL_OPTIONS: readonly OptionRow[] = [
  ['--model <dir>', 'model folder (default: the bundled Fashion-MNIST model; SD1.x/SDXL optimum exports give RMS only)'],
  ['--scheduler <list>', 'comma list: schedule names, optimized (the model\'s carried schedule), custom:FILE (a schedule file)', 'karras,beta,ays,optimized'],
  ['--sampler <name>', 'sampler', 'dpmpp_2m'],
  ['--steps <n>', 'sampling steps', '10'],
  ['--samples <n>', 'images (classes balanced)', '128'],
  ['--cfg <scale>', "guidance scale (default: the model's recommendation)"],
  ['--seed <n>', 'seed of the first batch (batch k uses seed + k)', '5000'],
  ['--batch <n>', 'images per batch', '64'],
  ['--reference-steps <n>', 'steps of the shared karras reference run (same sampler)', '100'],
  ['--prompts <file>', 'text models: prompts, one per line'],
  ['--width <px>', 'text models: width'],
  ['--height <px>', 'text models: height'],
  ['--force', 'use custom:FILE schedules made for another sigma range'],
  ['--json', 'print a JSON array (no progress)'],
  ['--threads <n>', 'onnxruntime intra-op threads'],
];

export function register(program: Command): void {
  const command = commandWithOptions(program, 'eval', 'Compare schedules on a model from the same noise: paired RMS to a shared many-step reference (± SE); on the bundled model also FID on classifier features (95% bootstrap interval) and class accuracy', EVAL_OPTIONS);
  command.action(async (opts: EvalOpts) => {
    const steps = parseSteps(opts.steps);
    const samples = parseInteger('--samples', opts.samples, { min: 2 });
    const batch = parseInteger('--batch', opts.batch, { min: 1 });
    // the paired runs take a plain-number seed (batch k: seed + k); the JSON rows carry no seed
    const seed = safeSeed(parseSeed(opts.seed));
    const referenceSteps = parseSteps(opts.referenceSteps, '--reference-steps');
    if (referenceSteps < 100) throw new UsageError(`--reference-steps must be at least 100 (the reference must be far more accurate than the schedules), got ${referenceSteps}`);
    if (!samplerNames.includes(opts.sampler)) throw new UsageError(`unknown sampler "${opts.sampler}"; valid samplers: ${samplerNames.join(', ')}`);
    const threads = opts.threads === undefined ? undefined : parseInteger('--threads', opts.threads, { min: 1 });
    const cfg = opts.cfg === undefined ? undefined : parseCfg(opts.cfg);
    const names = parseList('--scheduler', opts.scheduler);
    for (const n of names) {
      if (n.startsWith('custom:')) {
        const file = n.slice('custom:'.length);
        if (!existsSync(file)) throw new UsageError(`--scheduler ${n}: file not found: ${file}`);
      } else if (n !== 'optimized' && !schedulerNames.includes(n)) {
        throw new UsageError(`unknown scheduler "${n}"; valid: ${schedulerNames.filter((s) => s !== 'custom').join(', ')}, optimized, custom:FILE`);
      }
    }
    const { defaultModelDir } = await import('../../bundled/model-files.js');
    const dir = opts.model ? resolve(opts.model) : defaultModelDir();
    if (!existsSync(dir)) throw new UsageError(`--model: folder not found: ${dir}`);
    let prompts: string[] | undefined;
    if (opts.prompts !== undefined) {
      const { readFileSync } = await import('node:fs');
      if (!existsSync(opts.prompts)) throw new UsageError(`--prompts: file not found: ${opts.prompts}`);
      prompts = readFileSync(opts.prompts, 'utf8').split(/\r?\n/).map((l) => l.trim()).filter(Boolean);
      if (prompts.length === 0) throw new UsageError(`--prompts: ${opts.prompts} has no prompts (one per line)`);
    }
    const width = opts.width === undefined ? undefined : parseInteger('--width', opts.width, { min: 8 });
    const height = opts.height === undefined ? undefined : parseInteger('--height', opts.height, { min: 8 });

    const { openModelHandle } = await import('../../bundled/open-model.js');
    const { loadScheduleFileFor, sigmasForSteps } = await import('../../optimizer/schedule-file.js');
    const { runPairedEval } = await import('../../bundled/paired-eval.js');
    const model = await openModelHandle(dir, { ...(prompts ? { prompts } : {}), ...(width ? { width } : {}), ...(height ? { height } : {}), ...(threads ? { threads } : {}) });
    const progress = stageProgress('ays eval', { json: opts.json === true });
    try {
      const ms = model.handle.modelSampling;
      const schedules: Array<{ name: string; sigmas: number[] }> = [];
      for (const n of names) {
        if (n.startsWith('custom:')) {
          const file = loadScheduleFileFor(n.slice('custom:'.length), ms, { force: opts.force === true });
          schedules.push({ name: n, sigmas: sigmasForSteps(file, steps) });
        } else if (n === 'optimized') {
          const extra = model.handle.extraSchedules?.(opts.sampler, steps) ?? [];
          const found = extra.find((e) => e.name === 'optimized');
          if (!found) throw new UsageError(`--scheduler optimized: the model in ${dir} carries no optimized schedule`);
          schedules.push(found);
        } else {
          schedules.push({ name: n, sigmas: getSigmas({ model: ms, scheduler: n, steps, sampler: opts.sampler }) });
        }
      }
      const rows = await runPairedEval(model, dir, {
        sampler: opts.sampler,
        steps,
        schedules,
        samples,
        batch,
        seed,
        cfg: cfg ?? model.recommendedCfg,
        referenceSteps,
        ...(threads ? { threads } : {}),
        onProgress: (stage, done, total) => progress.update(stage, done, total),
      });
      progress.stop();
      if (opts.json) {
        process.stdout.write(JSON.stringify(rows, null, 1) + '\n');
        return;
      }
      const width2 = Math.max(9, ...rows.map((r) => r.scheduler.length));
      const lines = [
        `${model.handle.name}: ${opts.sampler}, ${steps} steps, cfg ${cfg ?? model.recommendedCfg}, ${samples} images (seed ${seed}${samples > batch ? ` + batch index` : ''})`,
        `paired RMS of the final ${model.handle.toImage ? 'image ([0, 1] pixels)' : 'latent'} to karras ${referenceSteps} steps of ${opts.sampler} from the same noise${samplerSpec(opts.sampler).stochastic ? ' and the same Brownian path (a tree over [0, sigma_max], continued above it for schedules that start higher)' : ''}; best first`,
        `${'rank'.padStart(4)}  ${'schedule'.padEnd(width2)}  rms     ± se  ` + (rows[0]?.fid !== null ? '  FID (95% CI)          class acc.' : ''),
      ];
      rows.forEach((r, i) => {
        const fid = r.fid !== null ? `  ${r.fid.toFixed(2).padStart(6)} (${r.fidCi![0].toFixed(2)}-${r.fidCi![1].toFixed(2)})`.padEnd(24) + `  ${(100 * r.classAccuracy!).toFixed(1)}%` : '';
        lines.push(`${String(i + 1).padStart(4)}  ${r.scheduler.padEnd(width2)}  ${r.rms.toFixed(4)}  ${r.rmsStdErr.toFixed(4)}${fid}`);
      });
      process.stdout.write(lines.join('\n') + '\n');
    } finally {
      progress.stop();
      await model.handle.dispose();
    }
  });
}
