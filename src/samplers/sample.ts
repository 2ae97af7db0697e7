import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser, SamplerOptions } from './types.js';
import { samplerSpec, type SamplerName, type SamplerParamsByName } from './registry.js';
import { defaultSamplerNoise } from './default-noise.js';

/**
 * Run the sampler ComfyUI calls `samplerName` from x along sigmas; resolves to the final sample.
 * Noise: `options.noise` when given; otherwise, with `options.seed`, the sampler's default noise for that seed
 * (`defaultSamplerNoise`: seed + 1 generator stream, or a Brownian tree keyed by the whole 64-bit seed for the
 * DPM++ SDE family). Every sampler that draws noise works with a seed alone. With a literal sampler name, the
 * hyperparameters are typed by its spec (`eta: 'x'` or a wrong `solver_type` does not compile).
 *
 * @example await sample('dpmpp_2m_sde', denoiser, x, sigmas, { seed: 42n, modelSampling: ms })
 */
export async function sample<N extends string>(
  samplerName: N,
  denoiser: Denoiser,
  x: Tensor,
  sigmas: ArrayLike<number>,
  options?: SamplerOptions & (N extends SamplerName ? Partial<SamplerParamsByName[N]> : unknown),
): Promise<Tensor> {
  const spec = samplerSpec(samplerName);
  const seed = options?.seed;
  if (options && !options.noise && seed !== undefined && seed !== null) {
    return spec.sampler(denoiser, x, sigmas, { ...options, noise: defaultSamplerNoise(spec, seed, sigmas) });
  }
  return spec.sampler(denoiser, x, sigmas, options);
}
