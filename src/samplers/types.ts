import type { Tensor } from '../tensor/tensor.js';
import type { ModelSampling } from '../model-sampling/types.js';
import type { Denoiser, GuidedDenoiser, NoiseSource } from '../core/types.js';

export type { Denoiser, GuidedDenoiser, NoiseSource };

/** The noise a sampler draws with its default parameters (see SamplerSpec.noise). */
export type NoiseKind = 'none' | 'normal' | 'brownian';

/** A hyperparameter value: numbers, choices, flags, null (= computed at run time) and callbacks (tau_func, noise_scaler). */
export type SamplerParamValue = number | string | boolean | null | ((v: number) => number);

export interface StepInfo {
  i: number;
  sigma: number;
  sigmaHat: number;
  x: Tensor;
  denoised: Tensor;
}

export interface SamplerOptions {
  /** Explicit noise; wins over `seed`. */
  noise?: NoiseSource;
  /**
   * With `sample()` and no `noise`: the sampler's default noise for this seed (see `defaultSamplerNoise`):
   * a torch-compatible CPU generator seeded seed + 1 for samplers that draw normal noise, a Brownian tree keyed
   * by the whole 64-bit seed for the DPM++ SDE family. A number must be a safe integer; use a bigint above 2^53.
   */
  seed?: number | bigint;
  /**
   * The model sampling the denoiser belongs to. Samplers that depend on the prediction type (ComfyUI's flow
   * (CONST) paths) or on the model's sigma range (sa_solver's tau interval) read it; absent = eps/VE behaviour.
   */
  modelSampling?: ModelSampling;
  /**
   * Called once per sampler step with the state before (most samplers) the update, as ComfyUI's callback.
   * The tensors are the sampler's working buffers: copy them to keep them.
   */
  onStep?: (info: StepInfo) => void;
  signal?: AbortSignal;
  /** dpm_fast and dpm_adaptive report their step control here when they finish (NFE, accepted/rejected steps). */
  onInfo?: (info: { nfe: number; steps: number; nAccept: number; nReject: number }) => void;
  /** Sampler hyperparameters (eta, s_noise, s_churn, r, order, ...); the spec's defaults apply when absent. */
  [key: string]: unknown;
}

export type Sampler = (denoiser: Denoiser, x: Tensor, sigmas: ArrayLike<number>, options?: SamplerOptions) => Promise<Tensor>;
