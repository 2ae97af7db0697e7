/**
 * The one default-noise rule: what a sampler draws when the caller gives a seed and no noise source.
 * `sample()` applies it; pipelines call `sample()` with the seed, so both paths give the same result.
 */
import type { NoiseSource } from '../core/types.js';
import { brownianTreeNoise, comfyDefaultNoise } from '../noise/sources.js';
import { validateSeed } from '../noise/seed.js';
import type { NoiseKind } from './types.js';

/**
 * The noise ComfyUI gives a sampler for `seed` when none is passed:
 * - `brownian` (the DPM++ SDE family): a Brownian tree over [smallest positive sigma, largest sigma] of the
 *   schedule, keyed by the whole 64-bit seed (deterministic for a seed; not bit-identical to torchsde);
 * - everything else (`normal`, and `none` samplers that draw anyway when asked to, e.g. churn): a
 *   torch-compatible CPU generator seeded with seed + 1 (mod 2^64). Like torch's mt19937, it uses the low 32 bits.
 * The seed is a non-negative integer below 2^64 (a bigint above 2^53 - 1).
 *
 * @example sample('dpmpp_2m_sde', d, x, sigmas, { noise: defaultSamplerNoise(samplerSpec('dpmpp_2m_sde'), 42n, sigmas) })
 *          // the same as sample('dpmpp_2m_sde', d, x, sigmas, { seed: 42n })
 */
export function defaultSamplerNoise(spec: { readonly name: string; readonly noise: NoiseKind }, seed: number | bigint, sigmas: ArrayLike<number>): NoiseSource {
  const s = validateSeed(seed);
  if (spec.noise !== 'brownian') return comfyDefaultNoise(s);
  let sigmaMin = Infinity, sigmaMax = -Infinity;
  for (let i = 0; i < sigmas.length; i++) {
    const v = sigmas[i]!;
    if (v > 0 && v < sigmaMin) sigmaMin = v;
    if (v > sigmaMax) sigmaMax = v;
  }
  if (sigmaMax > sigmaMin) return brownianTreeNoise({ seed: s, sigmaMin, sigmaMax });
  // one positive sigma: a schedule of one step to 0 never draws; say so if it does
  const refuse = (): never => {
    throw new RangeError(`${spec.name}: Brownian noise needs at least two positive sigmas, got [${Array.from(sigmas).join(', ')}]`);
  };
  return { next: refuse, randnLike: refuse };
}
