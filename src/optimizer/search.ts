/**
 * Zeroth-order coordinate search over a schedule (spec §3, Algorithm 1), independent of what the cost is:
 * the AYS optimizer plugs in Monte Carlo KLUB estimates, the unit tests the exact Gaussian KLUB.
 * Schedules are ascending here (sigma_0 = sigma_min < ... < sigma_n = sigma_max); endpoints never move.
 */

import { exponentialSigmas, karrasSigmas } from '../schedules/k-diffusion.js';
/** A table of admissible sigmas indexed by integer timestep (discrete models), increasing with t. */
export interface TimestepGrid {
  readonly sigmas: ArrayLike<number>;
}

/** Nearest timestep in log sigma (ties go to the lower timestep). */
export function nearestTimestep(grid: TimestepGrid, sigma: number): number {
  const s = grid.sigmas;
  const target = Math.log(sigma);
  let lo = 0;
  let hi = s.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (s[mid]! <= sigma) lo = mid;
    else hi = mid;
  }
  return Math.abs(Math.log(s[lo]!) - target) <= Math.abs(Math.log(s[hi]!) - target) ? lo : hi;
}

/**
 * The timestep of a sigma on the table: its index when it is a table sigma, else the log-linear interpolation
 * between the two table sigmas around it (an off-table point, as subdivision keeps between adjacent timesteps,
 * gets a fractional timestep instead of repeating a neighbour's).
 */
export function fractionalTimestep(grid: TimestepGrid, sigma: number): number {
  const s = grid.sigmas;
  const k = nearestTimestep(grid, sigma);
  if (s[k] === sigma || sigma <= s[0]! || sigma >= s[s.length - 1]!) return k;
  const lo = s[k]! < sigma ? k : k - 1;
  const a = Math.log(s[lo]!), b = Math.log(s[lo + 1]!);
  return lo + (Math.log(sigma) - a) / (b - a);
}

/**
 * The candidates for coordinate i: the current value first, then up to `count - 1` values evenly spaced in
 * log sigma over the open bracket (sigma_{i-1}, sigma_{i+1}), shrunk towards the current value by `window`
 * (1 = whole bracket). On a timestep grid the values are snapped to table sigmas strictly inside the bracket.
 */
export function coordinateCandidates(
  schedule: ArrayLike<number>,
  i: number,
  count: number,
  window = 1,
  grid?: TimestepGrid,
): Float64Array {
  const cur = schedule[i]!;
  const lc = Math.log(cur);
  const lo = lc + window * (Math.log(schedule[i - 1]!) - lc);
  const hi = lc + window * (Math.log(schedule[i + 1]!) - lc);
  const out: number[] = [cur];
  const others = count - 1;
  for (let k = 1; k <= others; k++) {
    let v = Math.exp(lo + ((hi - lo) * k) / (others + 1));
    if (grid) v = grid.sigmas[nearestTimestep(grid, v)]!;
    if (v > schedule[i - 1]! && v < schedule[i + 1]! && !out.includes(v)) out.push(v);
  }
  return Float64Array.from(out);
}

/** Cost of each candidate value for coordinate i (lower is better); candidates[0] is the current value. */
export type CoordinateCost = (schedule: Float64Array, i: number, candidates: Float64Array) => Promise<Float64Array>;

export interface SweepOptions {
  /** Candidates per update including the current value; default 11 (paper). */
  candidates?: number;
  window?: number;
  grid?: TimestepGrid;
  signal?: AbortSignal;
  /** Called after each coordinate update. */
  onUpdate?: (i: number, value: number, cost: number) => void;
}

/** One Gauss-Seidel sweep over `indices` (in the given order); returns whether any coordinate moved. */
export async function coordinateSweep(
  schedule: Float64Array,
  indices: readonly number[],
  cost: CoordinateCost,
  options: SweepOptions = {},
): Promise<boolean> {
  let changed = false;
  for (const i of indices) {
    options.signal?.throwIfAborted();
    const cands = coordinateCandidates(schedule, i, options.candidates ?? 11, options.window ?? 1, options.grid);
    if (cands.length < 2) continue;
    const costs = await cost(schedule, i, cands);
    let best = 0;
    for (let k = 1; k < cands.length; k++) if (costs[k]! < costs[best]!) best = k;
    if (best !== 0) {
      schedule[i] = cands[best]!;
      changed = true;
    }
    options.onUpdate?.(i, schedule[i]!, costs[best]!);
  }
  return changed;
}

/** Geometric-mean subdivision (spec §3 step 2): n steps -> 2n steps; old points keep even indices. */
export function subdivide(schedule: ArrayLike<number>, grid?: TimestepGrid): Float64Array {
  const n = schedule.length - 1;
  const out = new Float64Array(2 * n + 1);
  for (let i = 0; i <= n; i++) out[2 * i] = schedule[i]!;
  for (let i = 0; i < n; i++) {
    let mid = Math.sqrt(schedule[i]! * schedule[i + 1]!);
    if (grid) {
      // the table sigma strictly inside the bracket nearest to the geometric mean in log sigma (the nearest table
      // sigma overall can be a bracket end, which gave repeated timesteps such as 1, 0, 0); the geometric mean
      // stays only when no table sigma lies strictly inside (adjacent timesteps)
      const t = grid.sigmas;
      let best = -1;
      for (let k = 0; k < t.length; k++) {
        const v = t[k]!;
        if (v > schedule[i]! && v < schedule[i + 1]! && (best < 0 || Math.abs(Math.log(v / mid)) < Math.abs(Math.log(t[best]! / mid)))) best = k;
      }
      if (best >= 0) mid = t[best]!;
    }
    out[2 * i + 1] = mid;
  }
  return out;
}

/**
 * The schedules' Karras formula (src/schedules/k-diffusion.ts, float64 with exact ends) as the optimizer's
 * ascending grid: n + 1 values from sigmaMin to sigmaMax.
 */
export function edmSchedule(sigmaMin: number, sigmaMax: number, n: number, rho = 7): Float64Array {
  return Float64Array.from(karrasSigmas(n + 1, sigmaMin, sigmaMax, rho, { precision: 'float64' }).slice(0, -1).reverse());
}

/** The schedules' exponential (log-sigma uniform) formula, float64 with exact ends, ascending, n + 1 values. */
export function logSnrSchedule(sigmaMin: number, sigmaMax: number, n: number): Float64Array {
  return Float64Array.from(exponentialSigmas(n + 1, sigmaMin, sigmaMax, { precision: 'float64' }).slice(0, -1).reverse());
}
