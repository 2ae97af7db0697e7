/** `ays sigmas`: the sigma list of one schedule on one model, as a table or JSON. */
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { getSigmas } from '../../schedules/get-sigmas.js';
import { modelSampling, modelSamplingNames } from '../../model-sampling/presets.js';
import { loadScheduleFileFor } from '../../optimizer/schedule-file.js';
import { validateSigmas } from '../../core/validate.js';
import { asUsage, parseInteger, parseNumber, parseSigmaList, parseSteps } from '../options.js';
import { checkScheduleRange, scheduleRange } from '../schedule-range.js';
import { samplerNames } from '../../samplers/registry.js';
import { existsSync, statSync } from 'node:fs';
import type { ModelSampling } from '../../model-sampling/types.js';
import { detectFlowKind, readFlowFolder, flowFolderModelSampling } from '../../pipelines/flow/folder.js';
import { ModelError } from '../../runtime/errors.js';

export interface SigmasOptions {
  model: string;
  scheduler?: string;
  steps?: string;
  denoise?: string;
  coeff?: string;
  sampler?: string;
  sigmas?: string;
  from?: string;
  force?: boolean;
  json?: boolean;
  width?: string;
  height?: string;
}

/**
 * --model: a preset name, or a model folder. An SD3/Flux optimum folder gives its own flow sampling: SD3's config
 * shift, Flux's mu for --width x --height (default: the model's native size).
 */
export function resolveModel(opts: Pick<SigmasOptions, 'model' | 'width' | 'height'>): { ms: ModelSampling; label: string; folder: boolean } {
  const looksLikePath = opts.model.includes('/') || opts.model.includes('\\') || opts.model.startsWith('.');
  const isDir = existsSync(opts.model) && statSync(opts.model).isDirectory();
  if (!isDir) {
    if (looksLikePath) throw new UsageError(`model folder not found: ${opts.model}`);
    if (opts.width !== undefined || opts.height !== undefined) throw new UsageError('--width/--height apply to a Flux model folder (--model DIR), whose shift depends on the image size');
    return { ms: asUsage(() => modelSampling(opts.model)), label: opts.model, folder: false };
  }
  try {
    if (!detectFlowKind(opts.model)) {
      throw new UsageError(`${opts.model} is not a Stable Diffusion 3 or Flux folder; for SD1.x/SDXL exports use --model sd15 or --model sdxl (the same model sampling)`);
    }
    const folder = readFlowFolder(opts.model);
    const width = opts.width !== undefined ? parseInteger('--width', opts.width, { min: 1 }) : folder.defaultSize;
    const height = opts.height !== undefined ? parseInteger('--height', opts.height, { min: 1 }) : folder.defaultSize;
    const ms = flowFolderModelSampling(folder, width, height);
    return { ms, label: ms.name, folder: true };
  } catch (err) {
    if (err instanceof ModelError) throw new UsageError(err.message);
    throw err;
  }
}

export function register(program: Command): void {
  program
    .command('sigmas')
    .description('print the sigmas (and timesteps for discrete models) of a schedule')
    .option('-m, --model <name|dir>', `model sampling preset (${modelSamplingNames.join(', ')}) or an SD3/Flux model folder (its own shift)`, 'sd15')
    .option('--width <px>', 'image width for a Flux folder (its shift grows with the image size; default: native size)')
    .option('--height <px>', 'image height for a Flux folder')
    .option('-s, --scheduler <name>', 'schedule name (see "ays schedulers"); default ays, or custom with --sigmas/--from')
    .option('-n, --steps <n>', 'number of steps (default 10; not needed for custom)')
    .option('-d, --denoise <x>', 'denoise in [0, 1]', '1')
    .option('--coeff <x>', 'GITS coefficient 0.80..1.50 (default 1.20)')
    .option('--sampler <name>', "KSampler sampler name; dpm_2, dpm_2_ancestral, uni_pc, uni_pc_bh2 drop the penultimate sigma")
    .option('--sigmas <list>', 'custom sigmas: "14.6,7.1,...,0" or a JSON array')
    .option('--from <file>', 'custom sigmas from a JSON file (an array, or an object with a "sigmas" array)')
    .option('--force', 'use a --from schedule even when it was made for another sigma range')
    .option('--json', 'print one JSON object')
    .action((opts: SigmasOptions) => {
      const { ms, label, folder } = resolveModel(opts);
      const result = computeSigmas({ ...opts, model: ms });
      // discrete presets: the integer timestep; model folders: the time the network gets (SD3 1000 sigma, Flux sigma)
      const timesteps = ms.kind === 'discrete' || folder ? result.sigmas.map((s) => (s > 0 ? ms.timestep(s) : null)) : undefined;
      if (opts.json) {
        const out: Record<string, unknown> = {
          model: opts.model,
          ...(folder ? { modelSampling: { name: ms.name, kind: ms.kind, shift: (ms as { shift?: number }).shift, sigmaMin: ms.sigmaMin, sigmaMax: ms.sigmaMax } } : {}),
          scheduler: result.scheduler,
          steps: result.steps,
          denoise: result.denoise,
          ...(result.coeff !== undefined ? { coeff: result.coeff } : {}),
          ...(opts.sampler ? { sampler: opts.sampler } : {}),
          stepsRun: result.sigmas.length - 1,
          sigmas: result.sigmas,
          ...(timesteps ? { timesteps } : {}),
        };
        process.stdout.write(`${JSON.stringify(out)}\n`);
        return;
      }
      const head = `${result.scheduler} on ${label}: ${result.sigmas.length - 1} step(s), denoise ${result.denoise}`;
      process.stdout.write(`${head}\n`);
      const rows = result.sigmas.map((s, i) => [String(i), s === 0 ? '0' : s.toPrecision(8), timesteps ? (timesteps[i] === null ? '-' : String(timesteps[i])) : '']);
      const cols = timesteps ? ['i', 'sigma', 'timestep'] : ['i', 'sigma'];
      const widths = cols.map((c, k) => Math.max(c.length, ...rows.map((r) => r[k]!.length)));
      const line = (cells: string[]) => cells.slice(0, cols.length).map((c, k) => c.padStart(widths[k]!)).join('  ');
      process.stdout.write(`${line(cols)}\n`);
      for (const r of rows) process.stdout.write(`${line(r)}\n`);
    });
}

export interface ComputedSigmas {
  scheduler: string;
  steps: number;
  denoise: number;
  coeff?: number;
  sigmas: number[];
}

/** Shared by `sigmas` and `plot`: resolves --sigmas/--from, checks numbers, calls getSigmas. */
export function computeSigmas(opts: Omit<SigmasOptions, 'json' | 'model'> & { model: string | ModelSampling }, schedulerOverride?: string): ComputedSigmas {
  let custom: number[] | undefined;
  if (opts.sigmas !== undefined && opts.from !== undefined) throw new UsageError('give either --sigmas or --from, not both');
  if (opts.sigmas !== undefined) custom = parseSigmaList(opts.sigmas);
  if (opts.from !== undefined) custom = readScheduleFileFor(opts.from, opts.model, opts.force ?? false);
  const scheduler = schedulerOverride ?? opts.scheduler ?? (custom ? 'custom' : 'ays');
  if (custom && scheduler !== 'custom') throw new UsageError(`--sigmas/--from give a custom schedule; use --scheduler custom (not ${scheduler})`);
  const steps = opts.steps !== undefined ? parseSteps(opts.steps) : custom ? undefined : 10;
  const denoise = parseNumber('--denoise', opts.denoise ?? '1', { above: 0, max: 1 });
  const coeff = opts.coeff !== undefined ? parseNumber('--coeff', opts.coeff) : undefined;
  if (coeff !== undefined && scheduler !== 'gits') throw new UsageError('--coeff applies to --scheduler gits only');
  if (opts.sampler !== undefined) {
    const known = new Set([...samplerNames, 'ddim']); // KSampler's names: every sampler, and ddim
    if (!known.has(opts.sampler)) throw new UsageError(`unknown sampler "${opts.sampler}"; valid: ${[...known].join(', ')}`);
  }
  const sigmas = asUsage(() => getSigmas({ model: opts.model, scheduler, steps, denoise, coeff, sampler: opts.sampler, sigmas: custom }));
  if (sigmas.length < 2) throw new UsageError(`${scheduler} at ${steps} steps with --denoise ${denoise} keeps no step (0 model calls); raise --denoise or --steps`);
  return { scheduler, steps: steps ?? sigmas.length - 1, denoise, coeff: scheduler === 'gits' ? (coeff ?? 1.2) : undefined, sigmas };
}

/**
 * Reads a schedule file (a JSON array of sigmas or an object with a `sigmas` array, e.g. `ays optimize` output)
 * for the model preset `model`, unless `force` refusing one made for another sigma range: the optimizer's reader
 * checks the range a file records; a file that records none is judged by its own list (schedule-range.ts).
 */
export function readScheduleFileFor(path: string, model: string | ModelSampling, force: boolean): number[] {
  const ms = typeof model === 'string' ? asUsage(() => modelSampling(model)) : model;
  const name = typeof model === 'string' ? model : model.name;
  const file = asUsage(() => loadScheduleFileFor(path, ms, { force }));
  if (!file.model) checkScheduleRange(`--from ${path}`, scheduleRange(undefined, file.sigmas), ms, name, force);
  return asUsage(() => validateSigmas(file.sigmas, `--from ${path}`));
}
