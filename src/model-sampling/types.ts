/**
 * How a model maps a noise level (sigma, k-diffusion convention) to its own inputs.
 *
 * - discrete: VP models trained on 1000 integer timesteps (SD1.x, SDXL, DeepFloyd-IF); x_sigma = x_vp * sqrt(1 + sigma^2).
 * - edm: continuous VE/EDM models (SVD), t = ln(sigma) / 4.
 * - flow: rectified flow (SD3, Flux), x_sigma = (1 - sigma) x0 + sigma n, sigma in [0, 1].
 */
import type { Tensor } from '../tensor/tensor.js';

export type ModelSamplingKind = 'discrete' | 'edm' | 'flow';

/**
 * What the network outputs (ComfyUI's prediction classes): noise (EPS), velocity (V_PREDICTION), the EDM
 * preconditioned output (EDM: x0 = c_skip x + c_out out), or flow velocity n - x0 (CONST).
 */
export type Prediction = 'eps' | 'v' | 'edm' | 'flow';

/**
 * Arithmetic of the denoising maths: 'float64' computes in float64 and returns Float64Array (round once when
 * storing); 'float32' follows torch's float32 tensor ops one by one and returns Float32Array.
 */
export type Precision = 'float64' | 'float32';

export interface ModelSampling {
  readonly kind: ModelSamplingKind;
  /** Preset name where there is one (sd15, sdxl, svd, sd3, flux, deepfloyd-if) or a description. */
  readonly name: string;
  readonly prediction: Prediction;
  readonly sigmaMin: number;
  readonly sigmaMax: number;
  /** EDM sigma_data (1 for SD/SDXL/SVD conventions). */
  readonly sigmaData: number;
  /** The float32 sigma table ComfyUI keeps (ascending): discrete models index it by timestep (1000 entries);
   * edm and flow samplings keep one too (1000, or 10000 for Flux), which table-based schedules use. */
  readonly sigmas?: Float32Array;
  /** Model time -> sigma (discrete: log-sigma interpolation between integer timesteps, clamped). */
  sigma(t: number): number;
  /** Sigma -> model time (discrete: nearest log-sigma index, an integer). */
  timestep(sigma: number): number;
  /** ComfyUI's sampling-percent (0 = start, 1 = end) to sigma. */
  percentToSigma(percent: number): number;
  /** The network input for x at sigma: c_in x (x itself for flow). See prediction.ts. */
  calculateInput(sigma: number, x: Tensor, precision?: Precision): Tensor;
  /** The x0 prediction from the network output for input x (unscaled) at sigma. */
  calculateDenoised(sigma: number, modelOutput: Tensor, x: Tensor, precision?: Precision): Tensor;
  /** The starting latent from unit noise (and a latent for img2img); maxDenoise: the schedule starts at sigma_max. */
  noiseScaling(sigma: number, noise: Tensor, latent: Tensor | null, maxDenoise: boolean): Tensor;
  /** The final latent back in the model's latent scale (flow: / (1 - sigma); the rest: unchanged). */
  inverseNoiseScaling(sigma: number, latent: Tensor): Tensor;
}
