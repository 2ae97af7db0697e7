import type { Tensor } from '../tensor/tensor.js';

/**
 * A denoiser returns the x0 prediction D(x; sigma) for a batch x in the k-diffusion (VE) convention,
 * x = x0 + sigma * n. It must return a tensor of the same shape as x.
 */
export type Denoiser = (x: Tensor, sigma: number) => Promise<Tensor>;

/** A source of standard normal noise. `sigma`/`sigmaNext` tell Brownian sources which interval the draw is for. */
export interface NoiseSource {
  /** Noise with x's shape and dtype for the step sigma -> sigmaNext (k-diffusion's noise_sampler(sigma, sigma_next)). */
  next(like: Tensor, sigma: number, sigmaNext: number): Tensor;
  /** Noise drawn with torch.randn_like inside a sampler (heunpp2 draws one per step). Defaults to next(). */
  randnLike?(like: Tensor): Tensor;
}

export interface StepInfo {
  i: number;
  sigma: number;
  sigmaHat: number;
  x: Tensor;
  denoised: Tensor;
}

export interface SamplerOptions {
  noise?: NoiseSource;
  /**
   * Called once per sampler step with the state before (most samplers) the update, as ComfyUI's callback.
   * The tensors are the sampler's working buffers: copy them to keep them.
   */
  onStep?: (info: StepInfo) => void;
  signal?: AbortSignal;
  /** dpm_fast and dpm_adaptive report their step control here when they finish (NFE, accepted/rejected steps). */
  onInfo?: (info: { nfe: number; steps: number; nAccept: number; nReject: number }) => void;
  /** With `sample()` and no `noise`: ComfyUI's default noise for this seed (seed + 1 stream, Brownian tree for SDE samplers). */
  seed?: number | bigint;
  /** Sampler hyperparameters (eta, s_noise, s_churn, r, order, ...); ComfyUI's defaults apply when absent. */
  [key: string]: unknown;
}

export type Sampler = (denoiser: Denoiser, x: Tensor, sigmas: ArrayLike<number>, options?: SamplerOptions) => Promise<Tensor>;

/**
 * A classifier-free-guided denoiser. After each call, `lastUncond` holds the unconditional prediction of that
 * call, which the `*_cfg_pp` samplers read (ComfyUI passes it through a post-CFG hook).
 */
export interface GuidedDenoiser extends Denoiser {
  readonly lastUncond: Tensor | null;
}
