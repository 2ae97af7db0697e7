import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser, SamplerOptions } from './types.js';
import { samplerInfo } from './registry.js';

/** Run the sampler ComfyUI calls `samplerName` from x along sigmas; resolves to the final sample. */
export async function sample(
  samplerName: string,
  denoiser: Denoiser,
  x: Tensor,
  sigmas: ArrayLike<number>,
  options?: SamplerOptions,
): Promise<Tensor> {
  return samplerInfo(samplerName).sampler(denoiser, x, sigmas, options);
}
