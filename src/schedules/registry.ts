/**
 * Every schedule `--scheduler` and getSigmas accept, by name. Each entry maps a request (model sampling,
 * steps, denoise, ...) to a descending sigma list. Other modules can add entries with registerScheduler
 * (e.g. an optimised schedule loaded from a file).
 */
import type { ModelSampling } from '../model-sampling/types.js';
import { comfySchedulers, ksamplerSigmas } from './comfy-schedulers.js';
import { alignYourStepsSigmas, AYS_TABLE_FOR_MODEL } from './ays.js';
import { gitsSigmas } from './gits.js';
import { laplaceSigmas, polyexponentialSigmas, vpSigmas } from './k-diffusion.js';
import { sdTurboSigmas } from './nodes.js';
import { validateSigmas } from '../core/validate.js';
import { roundHalfEven } from './numerics.js';

export interface ScheduleRequest {
  model: ModelSampling;
  steps: number;
  /** In [0, 1]; 1 = full schedule. How it applies is the entry's own rule (see its description). */
  denoise: number;
  coeff?: number;
  sampler?: string;
  sigmas?: readonly number[];
}

export interface SchedulerEntry {
  description: string;
  /** True when the entry needs no `steps` (the list itself fixes it). */
  stepsFromList?: boolean;
  fn: (req: ScheduleRequest) => number[];
}

function aysTable(ms: ModelSampling) {
  const table = AYS_TABLE_FOR_MODEL[ms.name];
  if (!table) {
    throw new RangeError(`no Align Your Steps table for model "${ms.name}"; AYS tables exist for ${Object.keys(AYS_TABLE_FOR_MODEL).join(', ')}`);
  }
  return table;
}

const GITS_MODELS = ['sd15', 'sdxl'];

export const schedulerRegistry = new Map<string, SchedulerEntry>();

for (const [name, entry] of Object.entries(comfySchedulers)) {
  schedulerRegistry.set(name, {
    description: entry.description,
    fn: (r) => ksamplerSigmas((n) => entry.fn(r.model, n), r.steps, r.denoise, r.sampler),
  });
}

schedulerRegistry.set('ays', {
  description: 'Align Your Steps (NVIDIA), log-linear interpolated, last value -> 0 (ComfyUI/diffusers)',
  fn: (r) => alignYourStepsSigmas({ table: aysTable(r.model), steps: r.steps, denoise: r.denoise, convention: 'comfyui' }),
});
schedulerRegistry.set('ays_a1111', {
  description: 'Align Your Steps, A1111/Forge convention: interpolate to steps points, append 0',
  fn: (r) => alignYourStepsSigmas({ table: aysTable(r.model), steps: r.steps, denoise: r.denoise, convention: 'a1111' }),
});
schedulerRegistry.set('gits', {
  description: 'GITS (Chen et al.) SD1.5 tables, --coeff 0.80..1.50 (default 1.20)',
  fn: (r) => {
    if (!GITS_MODELS.includes(r.model.name)) {
      throw new RangeError(`GITS tables are for SD1.5-range models (${GITS_MODELS.join(', ')}), not "${r.model.name}"`);
    }
    return gitsSigmas({ steps: r.steps, coeff: r.coeff, denoise: r.denoise });
  },
});
schedulerRegistry.set('polyexponential', {
  description: 'polyexponential node, rho=1, over the model sigma range',
  fn: (r) => ksamplerSigmas((n) => polyexponentialSigmas(n, r.model.sigmaMin, r.model.sigmaMax, 1), r.steps, r.denoise, r.sampler),
});
schedulerRegistry.set('vp', {
  description: 'VP-SDE node (beta_d 19.9, beta_min 0.1, eps_s 1e-3; its own sigma range)',
  fn: (r) => ksamplerSigmas((n) => vpSigmas(n), r.steps, r.denoise, r.sampler),
});
schedulerRegistry.set('laplace', {
  description: 'Laplace node (mu 0, beta 0.5) over the model sigma range; ends at sigma_min, no final 0',
  // the node returns n sigmas without a final 0 (n-1 steps); asking it for steps+1 gives `steps` steps
  fn: (r) => ksamplerSigmas((n) => laplaceSigmas(n + 1, r.model.sigmaMin, r.model.sigmaMax), r.steps, r.denoise, r.sampler),
});
schedulerRegistry.set('sd_turbo', {
  description: 'SDTurbo node: timesteps 999, 899, ... (1..10 steps), denoise picks the start',
  fn: (r) => sdTurboSigmas(r.model, r.steps, r.denoise),
});
schedulerRegistry.set('custom', {
  description: 'your own list: --sigmas "14.6,7.1,...,0" or --from schedule.json',
  stepsFromList: true,
  fn: (r) => {
    if (!r.sigmas) throw new RangeError('scheduler "custom" needs sigmas (--sigmas "14.6,...,0" or --from file.json)');
    const list = validateSigmas(r.sigmas);
    if (r.denoise >= 1) return list;
    if (r.denoise <= 0) return [];
    const kept = roundHalfEven((list.length - 1) * r.denoise);
    return list.slice(-(kept + 1));
  },
});

/** Adds (or replaces) a named schedule, e.g. one loaded from an optimizer's output. */
export function registerScheduler(name: string, entry: SchedulerEntry): void {
  if (!/^[a-z0-9][a-z0-9_.-]*$/i.test(name)) throw new RangeError(`bad scheduler name "${name}"`);
  schedulerRegistry.set(name, entry);
  if (!schedulerNames.includes(name)) schedulerNames.push(name);
}

/** Every name --scheduler accepts; registerScheduler appends to it. */
export const schedulerNames: string[] = [...schedulerRegistry.keys()];
