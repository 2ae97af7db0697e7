import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser, SamplerOptions } from './types.js';
import { samplerInfo } from './registry.js';
import { brownianTreeNoise, comfyDefaultNoise } from '../noise/sources.js';

/**
 * Run the sampler ComfyUI calls `samplerName` from x along sigmas; resolves to the final sample.
 * Noise: `options.noise` when given. Otherwise, with `options.seed`, stochastic samplers get ComfyUI's
 * default stream: fresh torch-compatible randn from a generator seeded seed + 1, or for the SDE samplers
 * whose ComfyUI default is a torchsde Brownian tree, our seeded Brownian tree over the schedule's range
 * (deterministic for a seed, but not bit-identical to torchsde).
 */
export async function sample(
  samplerName: string,
  denoiser: Denoiser,
  x: Tensor,
  sigmas: ArrayLike<number>,
  options?: SamplerOptions,
): Promise<Tensor> {
  const info = samplerInfo(samplerName);
  let opts = options;
  const seed = options?.seed;
  if (info.stochastic && !options?.noise && seed !== undefined && seed !== null) {
    if (typeof seed !== 'number' && typeof seed !== 'bigint') throw new TypeError(`${samplerName}: option seed must be a number or bigint`);
    let noise;
    if (info.brownian) {
      const positive = Array.from(sigmas).filter((s) => s > 0);
      const sigmaMin = Math.min(...positive), sigmaMax = Math.max(...positive);
      if (!(sigmaMax > sigmaMin)) throw new RangeError(`${samplerName}: need at least two positive sigmas for Brownian noise`);
      noise = brownianTreeNoise({ seed: Number(typeof seed === 'bigint' ? seed % 2n ** 53n : seed), sigmaMin, sigmaMax });
    } else {
      noise = comfyDefaultNoise(seed);
    }
    opts = { ...options, noise };
  }
  return info.sampler(denoiser, x, sigmas, opts);
}
