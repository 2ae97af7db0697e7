/** getSigmas: one call for any named schedule on any model, with the checks a user-facing API needs. */
import type { ModelSampling } from '../model-sampling/types.js';
import { modelSampling } from '../model-sampling/presets.js';
import { validateDenoise, validateSteps } from '../core/validate.js';
import { schedulerNames, schedulerRegistry } from './registry.js';

export interface GetSigmasOptions {
  /** A preset name (sd15, sdxl, svd, sd3, flux, deepfloyd-if) or a ModelSampling. */
  model: string | ModelSampling;
  /** Any name in schedulerNames. */
  scheduler: string;
  /** Number of steps (not needed for `custom`). */
  steps?: number;
  /** In [0, 1], default 1. */
  denoise?: number;
  /** GITS coefficient, 0.80..1.50 in steps of 0.05 (default 1.20). */
  coeff?: number;
  /** KSampler sampler name; those whose spec has discardsPenultimateSigma (dpm_2, uni_pc, ...) drop the penultimate sigma. */
  sampler?: string;
  /** For `custom`: the sigma list. */
  sigmas?: readonly number[];
}

/**
 * The descending sigma list for a schedule, as ComfyUI would compute it (float32 values, usually ending
 * in 0). Throws RangeError/TypeError for unknown names, steps < 1, denoise outside [0, 1], NaN, or an
 * empty result (denoise 0 with a KSampler-rule schedule).
 */
export function getSigmas(options: GetSigmasOptions): number[] {
  if (options === null || typeof options !== 'object') throw new TypeError('getSigmas needs an options object');
  const { scheduler } = options;
  const ms = typeof options.model === 'string' ? modelSampling(options.model) : options.model;
  if (!ms || typeof ms !== 'object' || typeof ms.sigma !== 'function') {
    throw new TypeError('model must be a preset name or a ModelSampling');
  }
  const entry = typeof scheduler === 'string' ? schedulerRegistry.get(scheduler) : undefined;
  if (!entry) throw new RangeError(`unknown scheduler "${String(scheduler)}"; valid schedulers: ${schedulerNames.join(', ')}`);
  const denoise = validateDenoise(options.denoise ?? 1);
  let steps = options.steps;
  if (entry.stepsFromList) {
    if (!options.sigmas) throw new RangeError(`scheduler "${scheduler}" needs a sigma list (sigmas)`);
    const listSteps = options.sigmas.length - 1;
    if (steps !== undefined && steps !== listSteps) {
      throw new RangeError(`steps=${steps} does not match the ${listSteps} steps of the given sigma list`);
    }
    steps = listSteps;
  }
  steps = validateSteps(steps);
  if (options.coeff !== undefined && (typeof options.coeff !== 'number' || !Number.isFinite(options.coeff))) {
    throw new RangeError(`coeff must be a finite number, got ${String(options.coeff)}`);
  }
  if (options.sampler !== undefined && typeof options.sampler !== 'string') throw new TypeError('sampler must be a sampler name');
  const sigmas = entry.fn({ model: ms, steps, denoise, coeff: options.coeff, sampler: options.sampler, sigmas: options.sigmas });
  if (sigmas.length === 0) {
    throw new RangeError(`scheduler "${scheduler}" with steps=${steps} and denoise=${denoise} gives an empty schedule (no steps to run)`);
  }
  const bad = sigmas.findIndex((s) => !Number.isFinite(s));
  if (bad >= 0) throw new RangeError(`scheduler "${scheduler}" produced a non-finite sigma (${sigmas[bad]}) at index ${bad}`);
  return sigmas;
}
