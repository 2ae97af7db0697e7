/**
 * A two-parameter schedule family for the teacher method with noise-drawing samplers, and its fit.
 *
 * The family is ComfyUI's `beta` schedule made continuous: with the model's time axis t (discrete models: the
 * timestep, fractional values interpolated in log sigma; EDM: ln(sigma)/4; flow: the model's own time), step i
 * of n sits at
 *
 *     t_i = t_end + I^-1(1 - i/n; alpha, beta) * (t_start - t_end),   sigma_i = sigma(t_i),  i = 0..n-1,  sigma_n = 0
 *
 * where I^-1 is the Beta(alpha, beta) quantile, t_start = t(sigma_max) and t_end = t(sigma_min). alpha = beta = 1
 * is uniform in t (sgm_uniform on a discrete model, without its float32 linspace); (0.6, 0.6) is ComfyUI's beta
 * without the rounding to integer timesteps. Every (alpha, beta) > 0 gives a strictly decreasing schedule from
 * sigma_max (sigma(t) is increasing), so the fit needs no constraints.
 *
 * The fit minimises the training objective of the real sampler (one run on the training batch per evaluation,
 * paired to the teacher's final state) over (log alpha, log beta): a coarse grid, then Nelder-Mead from the best
 * grid point. With two parameters the 64 training Brownian paths cannot be over-fitted the way a free schedule
 * (the DP's n - 1 sigmas) can.
 */
import { betaPpf } from '../schedules/numerics.js';
import type { ModelSampling } from '../model-sampling/types.js';

/** A model's time axis: sigma as an increasing function of t on [tEnd, tStart]. */
export interface TimeAxis {
  tStart: number;
  tEnd: number;
  sigma(t: number): number;
}

/**
 * The time axis of a model sampling: t_start and t_end with sigma(t_start) = sigma_max and sigma(t_end) = sigma_min
 * for the sampling's own sigma(t). `timestep(sigma)` is its inverse for discrete and EDM samplings; for shifted
 * flow samplings (SD3: timestep = sigma * 1000, sigma(t) shifted) it is not, so the ends are found by bisection.
 */
export function timeAxis(ms: ModelSampling): TimeAxis {
  const tStart = invertSigma(ms, ms.sigmaMax), tEnd = invertSigma(ms, ms.sigmaMin);
  if (!(tStart > tEnd)) throw new RangeError(`model sampling "${ms.name}": t(sigma_max) = ${tStart} is not above t(sigma_min) = ${tEnd}`);
  // the ends are returned exactly (sigma(t(sigma_max)) can differ from sigma_max in the last bits, and every
  // schedule and the teacher start at sigma_max)
  return { tStart, tEnd, sigma: (t) => (t === tStart ? ms.sigmaMax : t === tEnd ? ms.sigmaMin : ms.sigma(t)) };
}

/** t with sigma(t) = target: the sampling's timestep when it maps back within 1e-7, else bisection on sigma(t). */
function invertSigma(ms: ModelSampling, target: number): number {
  const close = (t: number) => Math.abs(ms.sigma(t) - target) <= 1e-7 * target;
  const t0 = ms.timestep(target);
  if (close(t0)) return t0;
  // bracket [lo, hi] with sigma(lo) < target < sigma(hi) (sigma increasing in t), widening from the timestep
  let lo = t0, hi = t0, w = Math.max(1, Math.abs(t0));
  for (let i = 0; i < 60 && !(ms.sigma(lo) < target); i++, w *= 2) lo = t0 - w;
  w = Math.max(1, Math.abs(t0));
  for (let i = 0; i < 60 && !(ms.sigma(hi) > target); i++, w *= 2) hi = t0 + w;
  if (!(ms.sigma(lo) < target && ms.sigma(hi) > target)) throw new RangeError(`model sampling "${ms.name}": no time t with sigma(t) = ${target}`);
  for (let i = 0; i < 200; i++) {
    const mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (ms.sigma(mid) < target) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}

/** Log-uniform axis over [sigmaMin, sigmaMax] (t = ln sigma): for problems without a model sampling. */
export function logSigmaAxis(sigmaMin: number, sigmaMax: number): TimeAxis {
  if (!(sigmaMin > 0 && sigmaMax > sigmaMin)) throw new RangeError(`log-sigma axis needs 0 < sigma_min < sigma_max, got ${sigmaMin}, ${sigmaMax}`);
  return { tStart: Math.log(sigmaMax), tEnd: Math.log(sigmaMin), sigma: (t) => Math.exp(t) };
}

/** The family's n-step schedule (n + 1 sigmas, ending in 0). */
export function betaFamilySigmas(axis: TimeAxis, steps: number, alpha: number, beta: number): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  if (!(alpha > 0 && beta > 0 && Number.isFinite(alpha) && Number.isFinite(beta))) throw new RangeError(`beta family needs finite alpha > 0 and beta > 0, got ${alpha}, ${beta}`);
  const span = axis.tStart - axis.tEnd;
  const out: number[] = [];
  for (let i = 0; i < steps; i++) {
    const q = i === 0 ? 1 : betaPpf(1 - i / steps, alpha, beta);
    out.push(i === 0 ? axis.sigma(axis.tStart) : axis.sigma(axis.tEnd + q * span));
  }
  out.push(0);
  for (let i = 1; i < steps; i++) {
    // quantiles of extreme parameters can collapse in float64; refuse rather than return a repeated sigma
    if (!(out[i]! < out[i - 1]!) || !(out[i]! > 0)) throw new RangeError(`beta family (${alpha}, ${beta}) gives a non-decreasing schedule at step ${i}`);
  }
  return out;
}

export interface FamilyPoint {
  alpha: number;
  beta: number;
  sigmas: number[];
  /** Training objective on the fit rows. */
  fitLoss: number;
  /** Objective on the validation rows (NaN when there are none). */
  valLoss: number;
}

export interface FamilyFitOptions {
  steps: number;
  /** Grid values of alpha and beta (default 0.45, 0.7, 1, 1.5). */
  grid?: readonly number[];
  /** Nelder-Mead evaluations after the grid (default 14, give or take the 1-2 of the step that crosses it; 0 = grid only). */
  localEvaluations?: number;
  /** Initial simplex size in log alpha / log beta (default 0.25). */
  localStep?: number;
  onProgress?: (done: number, total: number, best: number) => void;
}

export interface FamilyFitResult {
  best: FamilyPoint;
  /** The best grid point (the local search starts there, and never returns a worse fit loss). */
  bestStart: FamilyPoint;
  /** Every distinct point evaluated, in order. */
  evaluated: FamilyPoint[];
  evaluations: number;
}

/**
 * Fit (alpha, beta) by minimising `evaluate(sigmas).fitLoss` over a grid, then Nelder-Mead in log space.
 * `evaluate` runs the real sampler once; repeated points are cached.
 */
export async function fitBetaFamily(
  axis: TimeAxis,
  evaluate: (sigmas: number[]) => Promise<{ fitLoss: number; valLoss: number }>,
  o: FamilyFitOptions,
): Promise<FamilyFitResult> {
  const gridValues = o.grid ?? [0.45, 0.7, 1, 1.5];
  const localEvals = o.localEvaluations ?? 14;
  const step0 = o.localStep ?? 0.25;
  const total = gridValues.length ** 2 + localEvals;
  const cache = new Map<string, FamilyPoint>();
  const evaluated: FamilyPoint[] = [];
  let best: FamilyPoint | null = null;
  const at = async (la: number, lb: number): Promise<FamilyPoint> => {
    // parameters kept in a sane range: beyond it the quantiles collapse and the schedule degenerates
    la = Math.min(Math.log(8), Math.max(Math.log(0.08), la));
    lb = Math.min(Math.log(8), Math.max(Math.log(0.08), lb));
    const alpha = Math.exp(la), beta = Math.exp(lb);
    const key = `${alpha.toPrecision(12)},${beta.toPrecision(12)}`;
    const hit = cache.get(key);
    if (hit) return hit;
    let pt: FamilyPoint;
    let sigmas: number[] | null = null;
    try {
      sigmas = betaFamilySigmas(axis, o.steps, alpha, beta);
    } catch {
      sigmas = null;
    }
    if (sigmas) {
      const r = await evaluate(sigmas);
      pt = { alpha, beta, sigmas, fitLoss: r.fitLoss, valLoss: r.valLoss };
      evaluated.push(pt);
    } else {
      pt = { alpha, beta, sigmas: [], fitLoss: Infinity, valLoss: Infinity };
    }
    cache.set(key, pt);
    if (!best || pt.fitLoss < best.fitLoss) best = pt;
    o.onProgress?.(Math.min(evaluated.length, total), total, best.fitLoss);
    return pt;
  };
  for (const a of gridValues) for (const b of gridValues) await at(Math.log(a), Math.log(b));
  const bestStart: FamilyPoint = best!;
  if (!Number.isFinite(bestStart.fitLoss)) throw new RangeError('beta family: no grid point gives a valid schedule');
  // Nelder-Mead (standard coefficients) in (log alpha, log beta), a fixed budget of new evaluations
  const budgetEnd = evaluated.length + localEvals;
  if (localEvals <= 0) return { best: bestStart, bestStart, evaluated, evaluations: evaluated.length };
  type V = { u: [number, number]; f: number };
  const val = async (u: [number, number]): Promise<V> => ({ u, f: (await at(u[0], u[1])).fitLoss });
  const s0: [number, number] = [Math.log(bestStart.alpha), Math.log(bestStart.beta)];
  let simplex: V[] = [await val(s0), await val([s0[0] + step0, s0[1]]), await val([s0[0], s0[1] + step0])];
  while (evaluated.length < budgetEnd) {
    simplex.sort((a, b) => a.f - b.f);
    const [b0, b1, w] = simplex as [V, V, V];
    if (Math.hypot(w.u[0] - b0.u[0], w.u[1] - b0.u[1]) < 1e-3 && Math.hypot(b1.u[0] - b0.u[0], b1.u[1] - b0.u[1]) < 1e-3) break;
    const c: [number, number] = [(b0.u[0] + b1.u[0]) / 2, (b0.u[1] + b1.u[1]) / 2];
    const pt = (t: number): [number, number] => [c[0] + t * (w.u[0] - c[0]), c[1] + t * (w.u[1] - c[1])];
    const before = evaluated.length;
    const r = await val(pt(-1));
    if (r.f < b0.f) {
      const e = await val(pt(-2));
      simplex = [b0, b1, e.f < r.f ? e : r];
    } else if (r.f < b1.f) {
      simplex = [b0, b1, r];
    } else {
      const k = await val(r.f < w.f ? pt(-0.5) : pt(0.5));
      if (k.f < Math.min(r.f, w.f)) simplex = [b0, b1, k];
      else {
        const shrink = (v: V) => val([b0.u[0] + 0.5 * (v.u[0] - b0.u[0]), b0.u[1] + 0.5 * (v.u[1] - b0.u[1])]);
        simplex = [b0, await shrink(b1), await shrink(w)];
      }
    }
    // every proposal was a cached point (clamped to the range): nothing new to learn
    if (evaluated.length === before) break;
  }
  return { best: best!, bestStart, evaluated, evaluations: evaluated.length };
}
