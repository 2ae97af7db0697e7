/** Model sampling presets by name, each built once on first use. */
import type { ModelSampling } from './types.js';
import { discreteModelSampling } from './discrete.js';
import { edmModelSampling } from './edm.js';
import { flowModelSampling, fluxModelSampling } from './flow.js';

const builders: Record<string, { description: string; build: () => ModelSampling }> = {
  sd15: {
    description: 'Stable Diffusion 1.x: discrete, scaled_linear betas 0.00085..0.012, eps',
    build: () => discreteModelSampling({ name: 'sd15' }),
  },
  sdxl: {
    description: 'Stable Diffusion XL: same discrete sampling as SD1.x, eps',
    build: () => discreteModelSampling({ name: 'sdxl' }),
  },
  svd: {
    description: 'Stable Video Diffusion: continuous EDM, sigma 0.002..700, sigma_data 1, v-prediction',
    build: () => edmModelSampling({ name: 'svd', sigmaMin: 0.002, sigmaMax: 700, sigmaData: 1, prediction: 'v' }),
  },
  sd3: {
    description: 'Stable Diffusion 3: rectified flow, shift 3.0',
    build: () => flowModelSampling({ name: 'sd3', shift: 3.0, multiplier: 1000 }),
  },
  flux: {
    description: 'Flux (dev): rectified flow with the Flux time shift, mu 1.15 (1024x1024)',
    build: () => fluxModelSampling({ name: 'flux', shift: 1.15 }),
  },
  'deepfloyd-if': {
    description: 'DeepFloyd-IF stage I: discrete, squaredcos_cap_v2 (cosine) betas, eps',
    build: () => discreteModelSampling({ name: 'deepfloyd-if', betaSchedule: 'squaredcos_cap_v2' }),
  },
};

export const modelSamplingNames: readonly string[] = Object.keys(builders);

export function modelSamplingDescription(name: string): string | undefined {
  return builders[name]?.description;
}

const cache = new Map<string, ModelSampling>();

/** The preset model sampling called `name` (sd15, sdxl, svd, sd3, flux, deepfloyd-if). */
export function modelSampling(name: string): ModelSampling {
  const builder = Object.prototype.hasOwnProperty.call(builders, name) ? builders[name] : undefined;
  if (!builder) {
    throw new RangeError(`unknown model "${name}"; valid models: ${modelSamplingNames.join(', ')}`);
  }
  let ms = cache.get(name);
  if (!ms) {
    ms = builder.build();
    cache.set(name, ms);
  }
  return ms;
}
