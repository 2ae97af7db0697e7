/**
 * Discrete VP model sampling (SD1.x, SDXL, DeepFloyd-IF): 1000 integer timesteps with a float32 sigma table.
 *
 * The table is computed in float64 from the betas and then stored in float32, and the log table is the
 * float64 log rounded to float32, as ComfyUI stores them. sigma(t) and timestep(sigma) do their arithmetic
 * in float32 like ComfyUI's tensor code, so results match it exactly.
 */
import type { ModelSampling, Prediction } from './types.js';
import { expf32, f32 } from './float32.js';
import { predictionMaths } from './prediction.js';
import { alphasCumprod, makeBetas, rescaleZeroTerminalSnrSigmas, sigmasFromAlphasCumprod, type BetaSchedule } from './betas.js';

export interface DiscreteModelSamplingOptions {
  /** diffusers name; default 'scaled_linear' (SD1.x/SDXL). */
  betaSchedule?: BetaSchedule;
  /** beta_start; default 0.00085. */
  linearStart?: number;
  /** beta_end; default 0.012. */
  linearEnd?: number;
  /** 'eps' (default) or 'v'. */
  prediction?: Prediction;
  /** Rescale betas to zero terminal SNR (diffusers `rescale_betas_zero_snr`). */
  zeroTerminalSnr?: boolean;
  /** Number of training timesteps; default 1000. */
  timesteps?: number;
  name?: string;
}

export interface DiscreteModelSampling extends ModelSampling {
  readonly kind: 'discrete';
  readonly sigmas: Float32Array;
  /** log of the float64 sigma table, stored in float32. */
  readonly logSigmas: Float32Array;
  /** The float64 table before the float32 cast. */
  readonly sigmasFloat64: Float64Array;
  readonly betaSchedule: BetaSchedule;
  readonly zeroTerminalSnr: boolean;
}

export function discreteModelSampling(options: DiscreteModelSamplingOptions = {}): DiscreteModelSampling {
  const betaSchedule = options.betaSchedule ?? 'scaled_linear';
  const linearStart = options.linearStart ?? 0.00085;
  const linearEnd = options.linearEnd ?? 0.012;
  const prediction = options.prediction ?? 'eps';
  const zeroTerminalSnr = options.zeroTerminalSnr ?? false;
  const timesteps = options.timesteps ?? 1000;
  if (prediction !== 'eps' && prediction !== 'v') {
    throw new RangeError(`discrete model sampling supports prediction 'eps' or 'v', got "${String(prediction)}"`);
  }
  for (const [label, v] of [['linearStart', linearStart], ['linearEnd', linearEnd]] as const) {
    if (!Number.isFinite(v) || v <= 0 || v >= 1) throw new RangeError(`${label} must be in (0, 1), got ${v}`);
  }
  const betas = makeBetas(betaSchedule, timesteps, linearStart, linearEnd);
  let table = sigmasFromAlphasCumprod(alphasCumprod(betas));
  if (zeroTerminalSnr) table = rescaleZeroTerminalSnrSigmas(table);
  return discreteFromSigmaTable(table, {
    name: options.name ?? `discrete ${betaSchedule} ${linearStart}..${linearEnd} ${prediction}${zeroTerminalSnr ? ' zsnr' : ''}`,
    prediction,
    betaSchedule,
    zeroTerminalSnr,
  });
}

function discreteFromSigmaTable(
  table: Float64Array,
  meta: { name: string; prediction: Prediction; betaSchedule: BetaSchedule; zeroTerminalSnr: boolean },
): DiscreteModelSampling {
  const sigmas = Float32Array.from(table);
  const logSigmas = Float32Array.from(table, (s) => Math.log(s));
  const last = sigmas.length - 1;
  for (const s of sigmas) if (!Number.isFinite(s) || s <= 0) throw new RangeError(`sigma table has a non-positive or non-finite value (${s})`);

  const sigma = (t: number): number => {
    if (Number.isNaN(t)) throw new RangeError('sigma(t): timestep is NaN');
    // float32 timestep, clamped to the table, log-sigma linear interpolation, float32 throughout
    const tc = Math.min(Math.max(f32(t), 0), last);
    const lo = Math.floor(tc);
    const hi = Math.ceil(tc);
    const w = f32(tc - lo);
    const logSigma = f32(f32(f32(1 - w) * logSigmas[lo]!) + f32(w * logSigmas[hi]!));
    return expf32(logSigma);
  };

  const timestep = (s: number): number => {
    if (Number.isNaN(s) || s < 0) throw new RangeError(`timestep(sigma): sigma must be a non-negative number, got ${s}`);
    // nearest log-sigma, first index on ties (torch argmin), with float32 differences
    const logSigma = f32(Math.log(f32(s)));
    let best = 0;
    let bestDist = Infinity;
    for (let i = 0; i <= last; i++) {
      const d = Math.abs(f32(logSigma - logSigmas[i]!));
      if (d < bestDist) {
        bestDist = d;
        best = i;
      }
    }
    return best;
  };

  return {
    ...predictionMaths(meta.prediction),
    kind: 'discrete',
    name: meta.name,
    prediction: meta.prediction,
    sigmaMin: sigmas[0]!,
    sigmaMax: sigmas[last]!,
    sigmaData: 1,
    sigmas,
    logSigmas,
    sigmasFloat64: table,
    betaSchedule: meta.betaSchedule,
    zeroTerminalSnr: meta.zeroTerminalSnr,
    sigma,
    timestep,
    percentToSigma(percent: number): number {
      if (Number.isNaN(percent)) throw new RangeError('percentToSigma: percent is NaN');
      // ComfyUI: 0 means "before the start" (a huge sigma), 1 means the end (0)
      if (percent <= 0) return 999999999.9;
      if (percent >= 1) return 0;
      return sigma((1 - percent) * last);
    },
  };
}
