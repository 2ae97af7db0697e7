/**
 * The pipeline's link to the library's schedules, samplers and noise: sigmas for a named schedule, the
 * seeded starting latents with ComfyUI's noise scaling, and one sampler run.
 */
import type { ModelSampling } from '../model-sampling/types.js';
import type { GuidedDenoiser } from '../samplers/types.js';
import type { Tensor } from '../tensor/tensor.js';
import { getSigmas, schedulerNames } from '../schedules/index.js';
import { sample } from '../samplers/sample.js';
import { samplerInfo, samplerNames } from '../samplers/registry.js';
import { brownianTreeNoise, comfyDefaultNoise, prepareNoise } from '../noise/sources.js';
import { initialLatent } from '../denoisers/model.js';
import type { NoiseSource } from '../samplers/types.js';
import { GenerateOptionsError } from './errors.js';

export function checkSchedulerName(name: string, explicitSigmas?: readonly number[]): void {
  if (explicitSigmas) return;
  if (!schedulerNames.includes(name)) throw new GenerateOptionsError(`unknown scheduler "${name}"; valid: ${schedulerNames.join(', ')}`);
}

export function checkSamplerName(name: string): void {
  if (!samplerNames.includes(name)) throw new GenerateOptionsError(`unknown sampler "${name}"; valid: ${samplerNames.join(', ')}`);
}

/** The schedule for `steps` (ComfyUI's rules, including denoise and the samplers that drop a sigma); [] for denoise 0. */
export function scheduleSigmas(ms: ModelSampling, scheduler: string, steps: number, denoise: number, sampler: string, coeff?: number): number[] {
  if (denoise === 0) return [];
  try {
    return getSigmas({ model: ms, scheduler, steps, denoise, sampler, ...(coeff !== undefined ? { coeff } : {}) });
  } catch (err) {
    throw new GenerateOptionsError(err instanceof Error ? err.message : String(err));
  }
}

/**
 * Starting latents as ComfyUI's KSampler makes them: noise = torch.randn(latent shape) from the seed on the CPU,
 * scaled by the library's initialLatent (noise * sqrt(1 + sigma0^2) at full denoise, latent + noise * sigma0
 * otherwise). With no sigmas (denoise 0) the latent comes back as it is.
 */
export function initialLatents(ms: ModelSampling, seed: number | bigint, shape: number[], sigmas: readonly number[], latent: Float32Array | null): Tensor {
  if (sigmas.length === 0) return { data: latent ? Float32Array.from(latent) : new Float32Array(shape.reduce((a, b) => a * b, 1)), shape: [...shape] };
  const noise = prepareNoise(seed, shape);
  return initialLatent(noise, sigmas[0]!, ms, latent ? { data: latent, shape: [...shape] } : undefined);
}

export interface RunSamplerOptions {
  seed: number | bigint;
  signal?: AbortSignal;
  onStep?: (i: number, sigma: number) => void;
}

/** Samplers that read the unconditional prediction (cfg_pp): CFG must run even at scale 1, as ComfyUI does for them. */
export function samplerNeedsUncond(name: string): boolean {
  return samplerInfo(name).needsUncond === true;
}

/**
 * The noise a sampler adds, seeded as ComfyUI seeds it: the DPM++ SDE family draws from a Brownian tree over the
 * schedule's range keyed by the seed; every other sampler (ancestral, SEEDS, and deterministic ones such as
 * heunpp2 that draw randn_like anyway) from a CPU generator seeded with seed + 1.
 */
function samplerNoise(name: string, seed: number | bigint, sigmas: readonly number[]): NoiseSource {
  if (samplerInfo(name).stochastic && /^dpmpp_(2m_|3m_)?sde/.test(name)) {
    const positive = sigmas.filter((s) => s > 0);
    const seed32 = Number(BigInt(seed) & 0xffffffffn);
    return brownianTreeNoise({ seed: seed32, sigmaMin: Math.min(...positive), sigmaMax: Math.max(...positive) });
  }
  // built on first use: a sampler that draws no noise never seeds the stream (seed + 1 does not exist for 2^64 - 1)
  let stream: NoiseSource | undefined;
  const get = () => (stream ??= comfyDefaultNoise(seed));
  return { next: (like, s, sNext) => get().next(like, s, sNext), randnLike: (like) => {
      const src = get();
      return src.randnLike ? src.randnLike(like) : src.next(like, 0, 0);
    },
  };
}

/** Run a named sampler over the sigmas. */
export async function runSampler(name: string, denoiser: GuidedDenoiser, x: Tensor, sigmas: readonly number[], options: RunSamplerOptions): Promise<Tensor> {
  const noise = samplerNoise(name, options.seed, sigmas);
  return sample(name, denoiser, x, sigmas, {
    noise,
    ...(options.signal ? { signal: options.signal } : {}),
    onStep: (info) => options.onStep?.(info.i, info.sigma),
  });
}
