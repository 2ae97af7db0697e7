/**
 * ComfyUI's scheduler nodes that take explicit parameters, and the nodes that edit a sigma list.
 * Sigma lists here are plain descending number arrays; results are float32 values like ComfyUI's tensors.
 */
import { validateDenoise, validateSteps } from '../core/validate.js';
import type { ModelSampling } from '../model-sampling/types.js';
import { cosf32, f32, sinf32, torchLinspaceF32 } from '../model-sampling/float32.js';
import { roundHalfEven } from './numerics.js';
import { betaSigmas } from './comfy-schedulers.js';

export { karrasSigmas, exponentialSigmas, polyexponentialSigmas, vpSigmas, laplaceSigmas, klOptimalSigmas } from './k-diffusion.js';

/** BetaSamplingScheduler node: the `beta` schedule with chosen alpha and beta. */
export function betaSamplingSigmas(ms: ModelSampling, steps: number, alpha = 0.6, beta = 0.6): number[] {
  return betaSigmas(ms, steps, alpha, beta);
}

/**
 * SDTurboScheduler node: the model's sigmas at timesteps 999, 899, ..., 99; denoise d starts at
 * index 10 - floor(10 d) and takes `steps` of them (at most 10), then 0.
 */
export function sdTurboSigmas(ms: ModelSampling, steps: number, denoise = 1): number[] {
  if (!Number.isInteger(steps) || steps < 1 || steps > 10) throw new RangeError(`SDTurbo steps must be an integer in 1..10, got ${steps}`);
  validateDenoise(denoise);
  if (ms.kind !== 'discrete') throw new RangeError(`SDTurbo needs a discrete (1000-timestep) model, got ${ms.name} (${ms.kind})`);
  const start = 10 - Math.trunc(10 * denoise);
  const timesteps = [999, 899, 799, 699, 599, 499, 399, 299, 199, 99].slice(start, start + steps);
  const out = timesteps.map((t) => ms.sigma(t));
  out.push(0);
  return out;
}

function checkList(sigmas: readonly number[]): void {
  if (!Array.isArray(sigmas)) throw new TypeError('sigmas must be an array of numbers');
  for (const s of sigmas) if (typeof s !== 'number' || Number.isNaN(s)) throw new TypeError(`sigmas must be numbers, got ${String(s)}`);
}

/** SplitSigmas: [sigmas[0..step]], [sigmas[step..]] (both include sigmas[step]). */
export function splitSigmas(sigmas: readonly number[], step: number): [number[], number[]] {
  checkList(sigmas);
  if (!Number.isInteger(step) || step < 0) throw new RangeError(`step must be an integer >= 0, got ${step}`);
  return [sigmas.slice(0, step + 1), sigmas.slice(step)];
}

/**
 * SplitSigmasDenoise: the low part is the last round-half-even(steps*denoise)+1 sigmas, the high part
 * everything before it. Note ComfyUI's quirk, kept here: when that rounds to 0 steps the high part is
 * empty (Python's sigmas[:-0]) rather than the whole list.
 */
export function splitSigmasDenoise(sigmas: readonly number[], denoise: number): [number[], number[]] {
  checkList(sigmas);
  validateDenoise(denoise);
  const steps = Math.max(sigmas.length - 1, 0);
  const total = roundHalfEven(steps * denoise);
  const high = total === 0 ? [] : sigmas.slice(0, sigmas.length - total);
  return [high, sigmas.slice(-(total + 1))];
}

/** FlipSigmas: reverse the list (for unsampling); a leading 0 becomes 1e-4 so the first step is not at 0. */
export function flipSigmas(sigmas: readonly number[]): number[] {
  checkList(sigmas);
  const out = [...sigmas].reverse();
  if (out.length > 0 && out[0] === 0) out[0] = f32(0.0001);
  return out;
}

export type ExtendSpacing = 'linear' | 'cosine' | 'sine';

/**
 * ExtendIntermediateSigmas: insert steps-1 points between each pair whose upper sigma lies in
 * [endAtSigma, startAtSigma] (startAtSigma < 0 means no upper limit), spaced linearly, by sin (cosine) or
 * by 1-cos (sine) of the fraction.
 */
export function extendIntermediateSigmas(
  sigmas: readonly number[],
  steps: number,
  startAtSigma: number,
  endAtSigma: number,
  spacing: ExtendSpacing = 'linear',
): number[] {
  checkList(sigmas);
  validateSteps(steps);
  const upper = startAtSigma < 0 ? Infinity : startAtSigma;
  const shape: Record<ExtendSpacing, (x: number) => number> = {
    linear: (x) => x,
    cosine: (x) => sinf32(f32(f32(x * f32(Math.PI)) / 2)),
    sine: (x) => f32(1 - cosf32(f32(f32(x * f32(Math.PI)) / 2))),
  };
  const fn = shape[spacing];
  if (!fn) throw new RangeError(`unknown spacing "${spacing}"; valid: linear, cosine, sine`);
  const fractions = torchLinspaceF32(0, 1, steps + 1).slice(1, -1).map(fn);
  const out: number[] = [];
  for (let i = 0; i < sigmas.length - 1; i++) {
    const cur = f32(sigmas[i]!);
    const next = f32(sigmas[i + 1]!);
    out.push(cur);
    if (endAtSigma <= cur && cur <= upper) {
      const diff = f32(next - cur);
      for (const w of fractions) out.push(f32(f32(w * diff) + cur));
    }
  }
  if (sigmas.length > 0) out.push(f32(sigmas[sigmas.length - 1]!));
  return out;
}

/**
 * SamplingPercentToSigma: the model's sigma at a sampling percent (0 = start, 1 = end). By default the
 * ends are ComfyUI's sentinels (a huge sigma at 0, 0 at 1); `returnActualSigma` gives sigma_max / sigma_min.
 */
export function samplingPercentToSigma(ms: ModelSampling, percent: number, returnActualSigma = false): number {
  if (typeof percent !== 'number' || Number.isNaN(percent) || percent < 0 || percent > 1) {
    throw new RangeError(`sampling percent must be a number in [0, 1], got ${percent}`);
  }
  if (returnActualSigma) {
    if (percent === 0) return ms.sigmaMax;
    if (percent === 1) return ms.sigmaMin;
  }
  return ms.percentToSigma(percent);
}
