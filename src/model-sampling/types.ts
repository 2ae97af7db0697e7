/**
 * How a model maps a noise level (sigma, k-diffusion convention) to its own inputs.
 *
 * - discrete: VP models trained on 1000 integer timesteps (SD1.x, SDXL, DeepFloyd-IF); x_sigma = x_vp * sqrt(1 + sigma^2).
 * - edm: continuous VE/EDM models (SVD), t = ln(sigma) / 4.
 * - flow: rectified flow (SD3, Flux), x_sigma = (1 - sigma) x0 + sigma n, sigma in [0, 1].
 */
export type ModelSamplingKind = 'discrete' | 'edm' | 'flow';

/** What the network outputs: noise, velocity (v-prediction), or flow velocity (n - x0). */
export type Prediction = 'eps' | 'v' | 'flow';

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
}
