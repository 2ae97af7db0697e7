// What the samplers need to know about the model sampling to run on flow-matching models as ComfyUI does
// (comfy/k_diffusion/sampling.py). On a rectified-flow sampling (SD3, Flux: x = (1 - sigma) x0 + sigma n, ComfyUI's
// CONST), the half-log-SNR samplers work in lambda = log(alpha / sigma) = -logit(sigma) with alpha = 1 - sigma,
// move a first sigma of 1 (lambda = -inf) just below it, and the ancestral samplers switch to their
// rectified-flow variants (beside their eps versions in euler.ts and dpmpp.ts, built on the helpers here).
// Without a model sampling, or on eps/v/EDM samplings, everything stays in the VE convention:
// lambda = -log(sigma), alpha = 1.
import type { Tensor } from '../tensor/tensor.js';
import type { ModelSampling } from '../model-sampling/types.js';
import { lambdaOf, sigmaOfLambda, type Run } from './common.js';

/** The run's `modelSampling` option, checked; undefined when absent. */
export function modelSamplingOf(run: Run): ModelSampling | undefined {
  const ms = run.options.modelSampling;
  if (ms === undefined || ms === null) return undefined;
  const m = ms as Partial<ModelSampling>;
  if (typeof ms !== 'object' || typeof m.kind !== 'string' || typeof m.percentToSigma !== 'function' || typeof m.noiseScaling !== 'function') {
    throw new TypeError(`${run.name}: option modelSampling must be a model sampling such as modelSampling('sd3'), got ${String(ms)}`);
  }
  return ms as ModelSampling;
}

/** ComfyUI's `isinstance(model_sampling, CONST)`: the rectified-flow samplings. */
export const isFlow = (ms: ModelSampling | undefined): boolean => ms?.kind === 'flow';

/** Half-log-SNR time of a model sampling: lambda(sigma), its inverse, and alpha_t = sigma * e^lambda. */
export interface HalfLogSnr {
  lambda(sigma: number): number;
  sigma(lambda: number): number;
  /** The signal scale at (sigma, lambda(sigma)): 1 in the VE convention, sigma e^lambda (= 1 - sigma) for flow. */
  alpha(sigma: number, lambda: number): number;
}

const VE: HalfLogSnr = { lambda: lambdaOf, sigma: sigmaOfLambda, alpha: () => 1 };

const FLOW: HalfLogSnr = {
  // -logit(sigma), as torch computes logit: log(p / (1 - p))
  lambda: (sigma) => -Math.log(sigma / (1 - sigma)),
  // sigmoid(-lambda)
  sigma: (lambda) => 1 / (1 + Math.exp(lambda)),
  // ComfyUI computes alpha this way rather than as 1 - sigma; they agree to rounding
  alpha: (sigma, lambda) => sigma * Math.exp(lambda),
};

export function halfLogSnr(ms: ModelSampling | undefined): HalfLogSnr {
  return isFlow(ms) ? FLOW : VE;
}

/**
 * ComfyUI's offset_first_sigma_for_snr: on flow samplings a first sigma >= 1 (lambda = -inf) becomes
 * percent_to_sigma(1e-4), in place on the sampler's own copy of the sigmas. Any later sigma >= 1 has no
 * half-log-SNR on a flow sampling: a one-line RangeError before the first model call.
 */
export function offsetFirstSigma(run: Run, sigmas: Float64Array, ms: ModelSampling | undefined): void {
  if (!ms || !isFlow(ms)) return;
  if (sigmas.length > 1 && sigmas[0]! >= 1) sigmas[0] = ms.percentToSigma(1e-4);
  for (let i = 1; i < sigmas.length; i++) {
    if (sigmas[i]! >= 1) {
      throw new RangeError(`${run.name}: sigmas[${i}] = ${sigmas[i]} is not below 1; on a flow model sampling (${ms.name}) only the first sigma may reach 1`);
    }
  }
}

/**
 * The prologue of the half-log-SNR samplers: the run's model sampling's half-log-SNR, after ComfyUI's first-sigma
 * offset on the sampler's own sigmas (offsetFirstSigma).
 */
export function halfLogSnrOf(run: Run, sigmas: Float64Array): HalfLogSnr {
  const ms = modelSamplingOf(run);
  offsetFirstSigma(run, sigmas, ms);
  return halfLogSnr(ms);
}

/**
 * k-diffusion's get_ancestral_step with Python's min: min(a, NaN) is a. The cfg_pp samplers ask for it with
 * sigma_from = sigma / alpha = Infinity at a flow sigma of 1, where the up-step is sigma_to and the down-step 0.
 */
export function ancestralStepPy(sigmaFrom: number, sigmaTo: number, eta: number): [number, number] {
  if (!eta) return [sigmaTo, 0];
  const candidate = eta * Math.sqrt((sigmaTo ** 2 * (sigmaFrom ** 2 - sigmaTo ** 2)) / sigmaFrom ** 2);
  const up = candidate < sigmaTo ? candidate : sigmaTo;
  return [Math.sqrt(sigmaTo ** 2 - up ** 2), up];
}

/** One step of ComfyUI's rectified-flow ancestral samplers (sample_*_RF). */
export interface RfAncestralStep {
  /** Where the deterministic part lands: sigma_next (1 + (sigma_next / sigma - 1) eta). */
  down: number;
  /** alpha_next / alpha_down with alpha = 1 - sigma: rescales the signal before renoising. */
  rescale: number;
  /** Standard deviation of the fresh noise that brings the level back to sigma_next (before s_noise). */
  renoise: number;
}

export function rfAncestralStep(sigma: number, sigmaNext: number, eta: number): RfAncestralStep {
  const down = sigmaNext * (1 + (sigmaNext / sigma - 1) * eta);
  const alphaNext = 1 - sigmaNext, alphaDown = 1 - down;
  return { down, rescale: alphaNext / alphaDown, renoise: Math.sqrt(sigmaNext ** 2 - (down ** 2 * alphaNext ** 2) / alphaDown ** 2) };
}

/** x <- (to / from) x + (1 - to / from) denoised: the flow ODE's step for a constant x0 prediction. */
export function flowStep(x: Tensor, denoised: Tensor, from: number, to: number): void {
  const xd = x.data, dd = denoised.data, k = to / from, c = 1 - k;
  for (let j = 0; j < xd.length; j++) xd[j] = k * xd[j]! + c * dd[j]!;
}

/** x <- rescale x + c n: the RF ancestral renoising. */
export function rescaleAddNoise(x: Tensor, rescale: number, c: number, n: Tensor): void {
  const xd = x.data, nd = n.data;
  for (let j = 0; j < xd.length; j++) xd[j] = rescale * xd[j]! + c * nd[j]!;
}
