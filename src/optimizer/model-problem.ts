/**
 * The teacher-matching problem on a real model: the batch of training (or held-out) noises, the guided
 * denoiser over that batch, and the space the objective is measured in. Built on the class-conditional
 * pipeline's `denoiser(labels, cfg)` (one session call of 2B rows per evaluation).
 */
import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser } from '../samplers/types.js';
import type { ModelSampling } from '../model-sampling/types.js';
import { prepareNoise } from '../noise/sources.js';
import { getSigmas, schedulerNames } from '../schedules/index.js';
import { validateSigmas } from '../core/validate.js';
import type { TeacherProblem } from './teacher.js';
import type { RowDenoiser } from './types.js';

/** What the optimizer needs from a model: its sampling, a denoiser for a batch of noises, an image map. */
export interface ModelHandle {
  name: string;
  /** Hash of the weights (for schedule files), when known. */
  hash?: string;
  modelSampling: ModelSampling;
  /** [C, H, W] of one latent. */
  latentShape: readonly number[];
  /** Guided denoiser over `batch` rows; row r has conditioning r (class r mod 10, prompt r mod P, ...). */
  denoiser(batch: number, cfg: number): Denoiser;
  /** One sigma per row (the AYS KLUB estimator), when the model supports it. */
  rowDenoiser?(batch: number, cfg: number): RowDenoiser;
  /** Final x0 -> the space the objective and RMS use ([0, 1] pixels for pixel models; identity for latents). */
  toImage?: (x: Float64Array) => Float64Array;
  /** Network calls so far (a CFG pair counts once). */
  calls(): number;
  /** Extra named schedules the model carries (e.g. 'optimized' for the bundled model), for the guard. */
  extraSchedules?: (sampler: string, steps: number) => Array<{ name: string; sigmas: number[] }>;
  dispose(): Promise<void>;
}

/** [-1, 1] pixels -> clamp((x + 1) / 2, 0, 1). */
export function pixelsToUnit(x: Float64Array): Float64Array {
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = Math.min(1, Math.max(0, (x[i]! + 1) / 2));
  return out;
}

/** The problem for `samples` noises from `seed` (torch.randn(seed, [B, ...latentShape])). */
export function modelProblem(model: ModelHandle, sampler: string, opts: { seed: number; samples: number; cfg: number; signal?: AbortSignal }): TeacherProblem {
  const shape = [opts.samples, ...model.latentShape];
  const z = prepareNoise(opts.seed, shape);
  const noise: Tensor = { data: Float64Array.from(z.data), shape };
  const ms = model.modelSampling;
  return {
    denoiser: model.denoiser(opts.samples, opts.cfg),
    noise,
    sampler,
    noiseSeed: opts.seed,
    sigmaMin: ms.sigmaMin,
    sigmaMax: ms.sigmaMax,
    ...(model.toImage ? { toImage: model.toImage } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
}

/** Schedules that do not apply to a model or a step count (errors from getSigmas) are left out. */
const NOT_SHIPPED = new Set(['custom', 'optimized']);

/** Every shipped schedule for this model, sampler and step count (plus the model's own extra ones). */
export function shippedSchedules(model: ModelHandle, sampler: string, steps: number): Array<{ name: string; sigmas: number[] }> {
  const out: Array<{ name: string; sigmas: number[] }> = [];
  for (const name of schedulerNames) {
    if (NOT_SHIPPED.has(name)) continue;
    try {
      // validateSigmas drops what the sampler would refuse anyway, e.g. laplace on a flow model (clamped to
      // sigma 1 and repeated there)
      out.push({ name, sigmas: validateSigmas(getSigmas({ model: model.modelSampling, scheduler: name, steps, sampler })) });
    } catch {
      // e.g. sd_turbo beyond 10 steps, or a schedule that needs a table this model lacks
    }
  }
  for (const s of model.extraSchedules?.(sampler, steps) ?? []) out.push(s);
  return out;
}
