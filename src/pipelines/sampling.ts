/**
 * The pipeline's link to the library's schedules and noise: names checked, sigmas for a named schedule, the
 * seeded starting latents with ComfyUI's noise scaling. The sampler's own noise is `sample()`'s ({ seed }).
 */
import type { ModelSampling } from '../model-sampling/types.js';
import type { Tensor } from '../tensor/tensor.js';
import { getSigmas, schedulerNames } from '../schedules/index.js';
import { samplerSpec, samplerNames } from '../samplers/registry.js';
import { prepareNoise } from '../noise/sources.js';
import { initialLatent } from '../denoisers/model.js';
import { GenerateOptionsError } from './errors.js';
import type { SamplingRequest } from './types.js';

/** The library's scheduler names only (kept for the flow pipelines; `checkSchedulerKnown` takes a pipeline's own too). */
export function checkSchedulerName(name: string, explicitSigmas?: readonly number[]): void {
  if (!explicitSigmas) checkSchedulerKnown(name);
}

/** A scheduler name the library knows, or one of the pipeline's own (`extra`, e.g. 'optimized'). */
export function checkSchedulerKnown(name: string, extra: readonly string[] = []): void {
  if (!schedulerNames.includes(name) && !extra.includes(name)) {
    throw new GenerateOptionsError(`unknown scheduler "${name}"; valid: ${[...schedulerNames, ...extra].join(', ')}`);
  }
}

/**
 * A request's batch size and image size, checked before any model work: the init image's own size when there is
 * one (width/height, if given, must match it), else width/height or `defaultSize`. `from` tags size errors that
 * come from the init image.
 */
export function requestSize(req: SamplingRequest, defaultSize: number): { batch: number; width: number; height: number; from: string } {
  const fail = (m: string): never => {
    throw new GenerateOptionsError(m);
  };
  const batch = req.batchSize ?? 1;
  if (!Number.isInteger(batch) || batch < 1) fail(`batch size must be a positive integer, got ${batch}`);
  let width = req.width;
  let height = req.height;
  if (req.init) {
    const [, c, h, w] = req.init.shape;
    if (req.init.shape.length !== 4 || c !== 3) fail(`init image must be [1, 3, H, W], got [${req.init.shape.join(', ')}]`);
    if (width !== undefined && width !== w) fail(`width ${width} differs from the init image's width ${w}; resize the image or leave width out`);
    if (height !== undefined && height !== h) fail(`height ${height} differs from the init image's height ${h}; resize the image or leave height out`);
    width = w;
    height = h;
  }
  width ??= defaultSize;
  height ??= defaultSize;
  return { batch, width, height, from: req.init ? ' (from the init image)' : '' };
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

/** Samplers that read the unconditional prediction (cfg_pp): CFG must run even at scale 1, as ComfyUI does for them. */
export function samplerNeedsUncond(name: string): boolean {
  return samplerSpec(name).needsUncond === true;
}
