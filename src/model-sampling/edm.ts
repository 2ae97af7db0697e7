/**
 * Continuous EDM model sampling (SVD): sigma in [sigmaMin, sigmaMax], model time t = ln(sigma) / 4.
 *
 * ComfyUI also keeps a 1000-entry float32 table, log-uniform between the two ends, which schedules such as
 * `simple`, `ddim_uniform` and `beta` index; sigmaMin/sigmaMax are that table's float32 ends.
 */
import type { ModelSampling, Prediction } from './types.js';
import { expf32, f32, torchLinspaceF32 } from './float32.js';
import { predictionMaths } from './prediction.js';

export interface EdmModelSamplingOptions {
  sigmaMin?: number;
  sigmaMax?: number;
  sigmaData?: number;
  prediction?: Prediction;
  name?: string;
}

export interface EdmModelSampling extends ModelSampling {
  readonly kind: 'edm';
  readonly sigmas: Float32Array;
}

export function edmModelSampling(options: EdmModelSamplingOptions = {}): EdmModelSampling {
  const min = options.sigmaMin ?? 0.002;
  const max = options.sigmaMax ?? 700;
  const sigmaData = options.sigmaData ?? 1;
  const prediction = options.prediction ?? 'v';
  if (!(Number.isFinite(min) && Number.isFinite(max) && min > 0 && max > min)) {
    throw new RangeError(`edm model sampling needs 0 < sigmaMin < sigmaMax, got ${min}..${max}`);
  }
  if (!(Number.isFinite(sigmaData) && sigmaData > 0)) throw new RangeError(`sigmaData must be positive, got ${sigmaData}`);
  const sigmas = Float32Array.from(torchLinspaceF32(Math.log(min), Math.log(max), 1000), (l) => expf32(l));
  const sigmaMin = sigmas[0]!;
  const sigmaMax = sigmas[sigmas.length - 1]!;
  return {
    ...predictionMaths(prediction, sigmaData),
    kind: 'edm',
    name: options.name ?? `edm ${min}..${max}`,
    prediction,
    sigmaMin,
    sigmaMax,
    sigmaData,
    sigmas,
    sigma(t: number): number {
      if (Number.isNaN(t)) throw new RangeError('sigma(t): t is NaN');
      return expf32(f32(f32(t) / 0.25));
    },
    timestep(sigma: number): number {
      if (Number.isNaN(sigma) || sigma < 0) throw new RangeError(`timestep(sigma): sigma must be a non-negative number, got ${sigma}`);
      return f32(0.25 * f32(Math.log(f32(sigma))));
    },
    percentToSigma(percent: number): number {
      if (Number.isNaN(percent)) throw new RangeError('percentToSigma: percent is NaN');
      if (percent <= 0) return 999999999.9;
      if (percent >= 1) return 0;
      // log-linear in float64 between the table's ends, as ComfyUI does
      const logMin = Math.log(sigmaMin);
      return Math.exp((Math.log(sigmaMax) - logMin) * (1 - percent) + logMin);
    },
  };
}
