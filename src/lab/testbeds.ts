import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser } from '../samplers/types.js';
import type { ModelSampling, Prediction } from '../model-sampling/types.js';
import { modelSampling } from '../model-sampling/presets.js';
import type { RowDenoiser } from '../optimizer/types.js';
import { gaussianMixture, mixtureDenoise, sampleMixture, type GaussianMixture } from './mixture.js';
import { presentAsModel } from './present.js';
import type { Rng } from '../core/rng.js';
import { builtOnUse } from '../core/built-on-use.js';

/**
 * A testbed: data whose exact denoiser we know, with the sigma range it is sampled over and, optionally,
 * the model it pretends to be (so that discrete timesteps and model wrappers are exercised).
 */
export interface Testbed {
  readonly name: string;
  readonly description: string;
  readonly mixture: GaussianMixture;
  /** Model sampling it is presented as; absent = continuous EDM (VE sigma, exact everywhere). */
  readonly model?: ModelSampling;
  readonly prediction?: Prediction;
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  /** Denoiser in the model's sigma convention (VE sigma for every testbed here). */
  readonly denoiser: Denoiser;
  readonly rowDenoiser: RowDenoiser;
  /** The exact posterior mean in EDM sigma, whatever the presentation (the ODE reference integrates this flow). */
  readonly exactDenoiser: Denoiser;
  sampleData(n: number, rng: Rng): Tensor;
}

/** An n x m grid of equal-weight isotropic Gaussians, centres evenly spaced over [-hx, hx] x [-hy, hy]. */
export function gridMixture(nx: number, ny: number, hx: number, hy: number, std: number): GaussianMixture {
  const means: number[][] = [];
  for (let i = 0; i < nx; i++) {
    for (let j = 0; j < ny; j++) {
      means.push([nx === 1 ? 0 : -hx + (2 * hx * i) / (nx - 1), ny === 1 ? 0 : -hy + (2 * hy * j) / (ny - 1)]);
    }
  }
  return gaussianMixture(means, new Array<number>(means.length).fill(std));
}

/** The 16-D, 3-component mixture of the ComfyUI conformance runs (samplers_ays10.json, conditional weights). */
export const conformanceMixture16: GaussianMixture = gaussianMixture(
  [
    [-1.0434, -2.2695, 0.5338, -1.0816, -0.4195, 0.3397, 0.6075, -1.118, 1.1711, -0.4302, 1.0598, 1.2393, -0.4782, 0.8765, 2.3671, -1.1657],
    [-0.6656, 1.2988, 1.074, -0.2059, 1.8431, 0.0188, 0.4228, -1.3741, -1.6612, 2.3612, 0.3239, -0.7729, 1.3052, 0.8886, -1.0451, -1.2758],
    [-1.257, -0.6549, 1.0145, 1.1681, -0.9314, 0.4902, -0.1086, -0.4808, 0.3977, -1.8915, -1.1258, -0.1563, -1.2088, -2.1388, 0.5328, -0.1566],
  ],
  [0.25, 0.5, 0.8],
  [0.5, 0.3, 0.2],
);

export function makeTestbed(
  name: string,
  description: string,
  mixture: GaussianMixture,
  range: { sigmaMin: number; sigmaMax: number },
  model?: ModelSampling,
  prediction?: Prediction,
): Testbed {
  const exact = (x: Tensor, sigmas: ArrayLike<number>): Tensor => mixtureDenoise(mixture, x, sigmas);
  const exactDenoiser: Denoiser = async (x, sigma) => exact(x, new Float64Array(x.shape[0] ?? 1).fill(sigma));
  let denoiser = exactDenoiser;
  let rowDenoiser: RowDenoiser = async (x, sigmas) => exact(x, sigmas);
  if (model) {
    if (model.kind === 'flow') throw new RangeError('testbeds present themselves as VE-sigma models (discrete or EDM) only');
    const presented = presentAsModel(exact, model, prediction ?? model.prediction);
    denoiser = presented.denoiser;
    rowDenoiser = presented.rowDenoiser;
  }
  return {
    name,
    description,
    mixture,
    model,
    prediction: model ? (prediction ?? model.prediction) : undefined,
    sigmaMin: range.sigmaMin,
    sigmaMax: range.sigmaMax,
    denoiser,
    rowDenoiser,
    exactDenoiser,
    sampleData: (n, rng) => sampleMixture(mixture, n, rng),
  };
}

const EDM = { sigmaMin: 0.002, sigmaMax: 80 };

const builders: Record<string, { description: string; build: () => Testbed }> = {
  gaussian: {
    description: 'N(0, 0.5^2 I) in 8 dimensions, EDM sigma 0.002..80 (closed forms of spec §7)',
    build: () => makeTestbed('gaussian', builders.gaussian!.description, gaussianMixture([new Array<number>(8).fill(0)], [0.5]), EDM),
  },
  'gmm2d-8x8': {
    description: '2D grid of 8x8 equal Gaussians, centres on [-1,1]^2 (spacing 2/7), std 0.02, EDM sigma 0.002..80',
    build: () => makeTestbed('gmm2d-8x8', builders['gmm2d-8x8']!.description, gridMixture(8, 8, 1, 1, 0.02), EDM),
  },
  'gmm2d-8x4': {
    description: '2D grid of 8x4 equal Gaussians, centres on [-1,1]x[-0.5,0.5] (spacing 2/7 x 1/3), std 0.0125, EDM sigma 0.002..80',
    build: () => makeTestbed('gmm2d-8x4', builders['gmm2d-8x4']!.description, gridMixture(8, 4, 1, 0.5, 0.0125), EDM),
  },
  'gmm2d-6x6': {
    description: '2D grid of 6x6 equal Gaussians, centres on [-1,1]^2 (spacing 0.4), std 0.0175, EDM sigma 0.002..80',
    build: () => makeTestbed('gmm2d-6x6', builders['gmm2d-6x6']!.description, gridMixture(6, 6, 1, 1, 0.0175), EDM),
  },
  gmm16: {
    description: '16-D 3-component mixture of the ComfyUI conformance data (stds 0.25/0.5/0.8, weights 0.5/0.3/0.2), continuous EDM sigma 0.0292..14.6146',
    build: () => makeTestbed('gmm16', builders.gmm16!.description, conformanceMixture16, { sigmaMin: 0.0291671582, sigmaMax: 14.6146412293 }),
  },
  'gmm16-sd15': {
    description: 'the 16-D conformance mixture presented as an SD1.5 discrete eps-prediction model (integer timesteps, sigma 0.0292..14.6146)',
    build: () => {
      const ms = modelSampling('sd15');
      return makeTestbed('gmm16-sd15', builders['gmm16-sd15']!.description, conformanceMixture16, { sigmaMin: ms.sigmaMin, sigmaMax: ms.sigmaMax }, ms, 'eps');
    },
  },
  'gmm16-sd15-v': {
    description: 'the 16-D conformance mixture presented as an SD1.5-table discrete v-prediction model',
    build: () => {
      const ms = modelSampling('sd15');
      return makeTestbed('gmm16-sd15-v', builders['gmm16-sd15-v']!.description, conformanceMixture16, { sigmaMin: ms.sigmaMin, sigmaMax: ms.sigmaMax }, ms, 'v');
    },
  },
};

const testbeds = builtOnUse('testbed', builders);

export const testbedNames: readonly string[] = testbeds.names;
export const testbedDescription: (name: string) => string | undefined = testbeds.description;
/** The testbed called `name` (see testbedNames), built on first use. */
export const testbed: (name: string) => Testbed = testbeds.get;
