/**
 * The low layer's types: what a denoiser and a noise source are. Samplers, noise sources, denoisers, the
 * optimizer and the lab all speak these, so they live below all of them.
 */
import type { Tensor } from '../tensor/tensor.js';

/**
 * A denoiser returns the x0 prediction D(x; sigma) for a batch x in the k-diffusion (VE) convention,
 * x = x0 + sigma * n. It must return a tensor of the same shape as x.
 */
export type Denoiser = (x: Tensor, sigma: number) => Promise<Tensor>;

/**
 * A classifier-free-guided denoiser. After each call, `lastUncond` holds the unconditional prediction of that
 * call (null when the call ran without one), which the `*_cfg_pp` samplers read (ComfyUI passes it through a
 * post-CFG hook). Build one with `cfg(cond, uncond, scale)` or `guidedModelDenoiser(ms, model, scale)`.
 */
export interface GuidedDenoiser extends Denoiser {
  readonly lastUncond: Tensor | null;
}

/** A source of standard normal noise. `sigma`/`sigmaNext` tell Brownian sources which interval the draw is for. */
export interface NoiseSource {
  /** Noise with x's shape and dtype for the step sigma -> sigmaNext (k-diffusion's noise_sampler(sigma, sigma_next)). */
  next(like: Tensor, sigma: number, sigmaNext: number): Tensor;
  /** Noise drawn with torch.randn_like inside a sampler (heunpp2 draws one per step). Defaults to next(). */
  randnLike?(like: Tensor): Tensor;
}
