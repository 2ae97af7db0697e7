/**
 * Rectified-flow model sampling (SD3, Flux): x_sigma = (1 - sigma) x0 + sigma n, sigma in (0, 1].
 *
 * - SD3 style (`flowModelSampling`): sigma(t) = shift*u / (1 + (shift-1)*u) with u = t / multiplier, t in model time
 *   units (0..1000); timestep(sigma) = sigma * multiplier.
 * - Flux style (`fluxModelSampling`): sigma(t) = e^mu / (e^mu + (1/t - 1)) with t in (0, 1]; timestep(sigma) = sigma.
 *   Flux's shift mu grows with the image's token count (see fluxShiftForResolution).
 * Each keeps a float32 table of sigma at T evenly spaced times (1000 for SD3, 10000 for Flux), like ComfyUI.
 */
import type { ModelSampling } from './types.js';
import { f32 } from './float32.js';
import { predictionMaths } from './prediction.js';

export interface FlowModelSamplingOptions {
  shift?: number;
  multiplier?: number;
  timesteps?: number;
  name?: string;
}

export interface FlowModelSampling extends ModelSampling {
  readonly kind: 'flow';
  readonly sigmas: Float32Array;
  readonly shift: number;
}

function checkShift(shift: number): void {
  if (!(Number.isFinite(shift) && shift > 0)) throw new RangeError(`shift must be a positive number, got ${shift}`);
}

/** Shifted time: shift*t / (1 + (shift-1) t), float64. */
export function timeSnrShift(shift: number, t: number): number {
  return shift === 1 ? t : (shift * t) / (1 + (shift - 1) * t);
}

/** The parts in which SD3-style and Flux-style flow samplings differ; everything else is shared. */
interface FlowParts {
  name: string;
  shift: number;
  timesteps: number;
  /** Model time of table entry i (0-based). */
  tableTime(i: number): number;
  sigmaOfT(t: number): number;
  timestepOfSigma(sigma: number): number;
  /** Float64 shifted time for percentToSigma. */
  shiftedTime(t: number): number;
}

function buildFlowSampling(parts: FlowParts): FlowModelSampling {
  const { sigmaOfT, timestepOfSigma, shiftedTime, timesteps } = parts;
  const sigmas = new Float32Array(timesteps);
  for (let i = 0; i < timesteps; i++) sigmas[i] = sigmaOfT(parts.tableTime(i));
  return {
    ...predictionMaths('flow'),
    kind: 'flow',
    name: parts.name,
    prediction: 'flow',
    shift: parts.shift,
    sigmaMin: sigmas[0]!,
    sigmaMax: sigmas[timesteps - 1]!,
    sigmaData: 1,
    sigmas,
    sigma(t: number): number {
      if (Number.isNaN(t)) throw new RangeError('sigma(t): t is NaN');
      return sigmaOfT(t);
    },
    timestep(sigma: number): number {
      if (Number.isNaN(sigma) || sigma < 0) throw new RangeError(`timestep(sigma): sigma must be a non-negative number, got ${sigma}`);
      return timestepOfSigma(sigma);
    },
    percentToSigma(percent: number): number {
      if (Number.isNaN(percent)) throw new RangeError('percentToSigma: percent is NaN');
      if (percent <= 0) return 1;
      if (percent >= 1) return 0;
      return shiftedTime(1 - percent);
    },
  };
}

export function flowModelSampling(options: FlowModelSamplingOptions = {}): FlowModelSampling {
  const shift = options.shift ?? 1;
  const multiplier = options.multiplier ?? 1000;
  const timesteps = options.timesteps ?? 1000;
  checkShift(shift);
  const sigmaOfT = (t: number): number => {
    // float32 tensor arithmetic
    const u = f32(f32(t) / f32(multiplier));
    if (shift === 1) return u;
    return f32(f32(shift * u) / f32(1 + f32((shift - 1) * u)));
  };
  return buildFlowSampling({
    name: options.name ?? `flow shift ${shift}`,
    shift,
    timesteps,
    tableTime: (i) => f32(f32(f32(i + 1) / timesteps) * multiplier),
    sigmaOfT,
    timestepOfSigma: (sigma) => f32(f32(sigma) * multiplier),
    shiftedTime: (t) => timeSnrShift(shift, t),
  });
}

/** Flux time shift e^mu / (e^mu + (1/t - 1)), float64. */
export function fluxTimeShift(mu: number, t: number): number {
  const e = Math.exp(mu);
  return e / (e + (1 / t - 1));
}

/**
 * Flux's resolution-dependent shift: linear in the number of 2x2 latent patches, 0.5 at 256 tokens
 * (256x256 pixels) and 1.15 at 4096 tokens (1024x1024), as in ComfyUI's ModelSamplingFlux node.
 */
export function fluxShiftForResolution(width: number, height: number, baseShift = 0.5, maxShift = 1.15): number {
  if (!(width > 0 && height > 0)) throw new RangeError(`width and height must be positive, got ${width}x${height}`);
  const tokens = (width * height) / (8 * 8 * 2 * 2);
  const slope = (maxShift - baseShift) / (4096 - 256);
  return tokens * slope + (baseShift - slope * 256);
}

export function fluxModelSampling(options: { shift?: number; timesteps?: number; name?: string } = {}): FlowModelSampling {
  const shift = options.shift ?? 1.15;
  const timesteps = options.timesteps ?? 10000;
  if (!Number.isFinite(shift)) throw new RangeError(`shift must be a finite number, got ${shift}`);
  const e32 = f32(Math.exp(shift));
  const sigmaOfT = (t: number): number => {
    const tt = f32(t);
    return f32(e32 / f32(e32 + f32(f32(1 / tt) - 1)));
  };
  return buildFlowSampling({
    name: options.name ?? `flux shift ${shift}`,
    shift,
    timesteps,
    tableTime: (i) => f32(f32(i + 1) / timesteps),
    sigmaOfT,
    timestepOfSigma: (sigma) => f32(sigma),
    shiftedTime: (t) => fluxTimeShift(shift, t),
  });
}
