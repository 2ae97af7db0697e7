/** Model sampling presets by name, each built once on first use. */
import type { ModelSampling } from './types.js';
import { discreteModelSampling } from './discrete.js';
import { edmModelSampling } from './edm.js';
import { flowModelSampling, fluxModelSampling } from './flow.js';
import { builtOnUse } from '../core/built-on-use.js';

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

const presets = builtOnUse('model', builders);

export const modelSamplingNames: readonly string[] = presets.names;
export const modelSamplingDescription: (name: string) => string | undefined = presets.description;
/** The preset model sampling called `name` (sd15, sdxl, svd, sd3, flux, deepfloyd-if), built on first use. */
export const modelSampling: (name: string) => ModelSampling = presets.get;
