import type { Tensor } from '../tensor/tensor.js';
import { numel } from '../tensor/tensor.js';
import type { Rng } from '../core/rng.js';
import { importanceG, importanceInverseCdf, klubNormaliser } from './klub-closed-form.js';
import { denoiseAt, denoiseRows } from './batching.js';
import type { DenoiserPair, KlubVariant } from './types.js';

/**
 * The random numbers shared by every KLUB evaluation of one optimisation (common random numbers, spec §2):
 * data samples x0, the noises n1, n2 (and n3 for the 2M variant) and stratified uniforms u_k = (k + rand)/M.
 * Every candidate maps the same u_k through its own inverse CDF, so candidate differences are low-noise.
 */
export interface KlubDraws {
  readonly count: number;
  /** Shape of one sample (e.g. [2] or [1, 28, 28]). */
  readonly sampleShape: number[];
  readonly x0: Float64Array;
  readonly n1: Float64Array;
  readonly n2: Float64Array;
  readonly n3: Float64Array | null;
  readonly u: Float64Array;
}

export function makeKlubDraws(data: Tensor, rng: Rng, withThirdNoise = false): KlubDraws {
  const count = data.shape[0];
  if (!count) throw new RangeError('KLUB: the data sampler returned no samples');
  const size = numel(data.shape);
  const x0 = data.data instanceof Float64Array ? data.data : Float64Array.from(data.data);
  for (let i = 0; i < size; i++) {
    if (!Number.isFinite(x0[i]!)) throw new RangeError(`KLUB: data sample value ${i} is not finite`);
  }
  const u = new Float64Array(count);
  for (let k = 0; k < count; k++) u[k] = (k + rng.uniform()) / count;
  return {
    count,
    sampleShape: data.shape.slice(1),
    x0,
    n1: rng.normals(size),
    n2: rng.normals(size),
    n3: withThirdNoise ? rng.normals(size) : null,
    u,
  };
}

export interface KlubIntervalOptions {
  /** Which frozen/extrapolated prediction the solver uses (spec §4); default 'data'. */
  variant?: KlubVariant;
  /** 2M variant: the next noise level above b, whose prediction the solver extrapolates from. */
  bUp?: number;
  /** Importance width c (spec §2); default 0.5. */
  c?: number;
}

export interface KlubEstimate {
  value: number;
  /** Standard error of the mean (conservative under stratification). */
  stderr: number;
}

/**
 * Unbiased estimate of KLUB(a, b) = integral_a^b sigma^-3 E||D(x_sigma; sigma) - D(x_b; b)||^2 d sigma (spec §2),
 * with sigma drawn by inverse CDF from q ∝ sigma^-3 g(sigma; b), the unsquared g, and the closed-form Z.
 * Two batched denoiser calls: all M rows at their own sigma, then all M rows at b.
 *
 * 'eps': integrand ||eps(x_sigma) - eps(x_b)||^2 / sigma (d ln sigma), eps = (x - D)/sigma (spec §4.2).
 * '2m': D(x_b) is replaced by the extrapolation linear in ln sigma through D(x_b; b) and D(x_bUp; bUp) on the
 * same forward path, x_bUp = x_b + sqrt(bUp^2 - b^2) n3 (spec §4.3); without bUp it is the frozen form.
 */
export async function estimateKlubInterval(
  pair: DenoiserPair,
  draws: KlubDraws,
  a: number,
  b: number,
  options: KlubIntervalOptions = {},
): Promise<KlubEstimate> {
  if (!(a > 0 && b > a)) throw new RangeError(`KLUB: bad interval (${a}, ${b}); need 0 < a < b`);
  const variant = options.variant ?? 'data';
  const c = options.c ?? 0.5;
  const { M, d, z, sig, xs, xb, shape, dS, dB } = await forwardPathPredictions(pair, draws, a, b, c);
  let dUp: Float64Array | null = null;
  const bUp = options.bUp;
  if (variant === '2m' && bUp !== undefined) {
    if (!(bUp > b)) throw new RangeError(`KLUB: 2M partner ${bUp} must lie above ${b}`);
    if (!draws.n3) throw new Error('KLUB: the 2M variant needs draws made with a third noise');
    const grow = Math.sqrt((bUp - b) * (bUp + b));
    const xUp = new Float64Array(M * d);
    for (let j = 0; j < M * d; j++) xUp[j] = xb[j]! + grow * draws.n3[j]!;
    dUp = await denoiseAt(pair, { data: xUp, shape }, bUp);
  }
  let sum = 0;
  let sumSq = 0;
  const lnB = Math.log(b);
  const span = bUp !== undefined ? Math.log(bUp) - lnB : 1;
  for (let k = 0; k < M; k++) {
    const s = sig[k]!;
    let diff2 = 0;
    if (variant === 'eps') {
      for (let j = k * d, e = j + d; j < e; j++) {
        const t = (xs[j]! - dS[j]!) / s - (xb[j]! - dB[j]!) / b;
        diff2 += t * t;
      }
      diff2 *= s * s; // integrand sigma^-1 |d eps|^2 over proposal density ∝ sigma^-3 g
    } else if (dUp) {
      const w = (lnB - Math.log(s)) / span; // extrapolate below b along ln sigma
      for (let j = k * d, e = j + d; j < e; j++) {
        const pred = dB[j]! + w * (dB[j]! - dUp[j]!);
        const t = dS[j]! - pred;
        diff2 += t * t;
      }
    } else {
      for (let j = k * d, e = j + d; j < e; j++) {
        const t = dS[j]! - dB[j]!;
        diff2 += t * t;
      }
    }
    const g = importanceG(s, b, c);
    const r = g > 0 ? diff2 / g : 0;
    if (!Number.isFinite(r)) throw new RangeError(`KLUB: non-finite sample at sigma ${s} (did the denoiser return NaN?)`);
    sum += r;
    sumSq += r * r;
  }
  const mean = sum / M;
  const variance = Math.max(0, sumSq / M - mean * mean);
  return { value: z * mean, stderr: (z * Math.sqrt(variance / Math.max(1, M - 1))) };
}

/**
 * J(s) = KLUB(a, s) + KLUB(s, b) for every candidate s in (a, b) at once, from ONE proposal over the whole bracket
 * (spec §2, variance reduction 2, and the paper's Algorithm 2): sigma_k ~ q ∝ sigma^-3 g(sigma; b) on (a, b) by
 * inverse CDF of the stratified u_k, weight Z(a, b) / g(sigma_k; b) (unsquared, closed-form Z). The partner of
 * sample k is D(x_s; s) when sigma_k < s and D(x_b; b) otherwise, on the same forward path. D(x_sigma_k) and D(x_b)
 * are shared by all candidates; each candidate costs one batched call on its rows below s. Unbiased for each s
 * because the integrand is zero where q is not (q > 0 on all of (a, b)).
 * Variants 'data' and 'eps' only (the 2M integrand spans three intervals).
 */
export async function estimateBracketCosts(
  pair: DenoiserPair,
  draws: KlubDraws,
  a: number,
  b: number,
  candidates: ArrayLike<number>,
  options: { variant?: 'data' | 'eps'; c?: number } = {},
): Promise<{ estimates: KlubEstimate[]; evaluations: number }> {
  if (!(a > 0 && b > a)) throw new RangeError(`KLUB: bad bracket (${a}, ${b}); need 0 < a < b`);
  const variant = options.variant ?? 'data';
  const c = options.c ?? 0.5;
  const { M, d, z, sig, xs, xb, dS, dB } = await forwardPathPredictions(pair, draws, a, b, c);
  // squared difference of sample k against a partner prediction `p` (row-major, row index pr) at level up
  const diff = (k: number, p: Float64Array, xp: Float64Array, pr: number, up: number): number => {
    const s = sig[k]!;
    let sum = 0;
    if (variant === 'eps') {
      for (let j = 0; j < d; j++) {
        const t = (xs[k * d + j]! - dS[k * d + j]!) / s - (xp[pr * d + j]! - p[pr * d + j]!) / up;
        sum += t * t;
      }
      return sum * s * s;
    }
    for (let j = 0; j < d; j++) {
      const t = dS[k * d + j]! - p[pr * d + j]!;
      sum += t * t;
    }
    return sum;
  };
  // samples are sorted by sigma (u_k is increasing), so "below s" is a prefix
  const results: KlubEstimate[] = [];
  let evaluations = 2 * M;
  for (let ci = 0; ci < candidates.length; ci++) {
    const s = candidates[ci]!;
    if (!(s > a && s < b)) throw new RangeError(`KLUB: candidate ${s} outside the bracket (${a}, ${b})`);
    let below = 0;
    while (below < M && sig[below]! < s) below++;
    let dP: Float64Array = new Float64Array(0);
    const xP = new Float64Array(below * d);
    if (below > 0) {
      for (let k = 0; k < below; k++) {
        const up = Math.sqrt(Math.max(0, (s - sig[k]!) * (s + sig[k]!)));
        for (let j = 0; j < d; j++) xP[k * d + j] = xs[k * d + j]! + up * draws.n2[k * d + j]!;
      }
      dP = await denoiseAt(pair, { data: xP, shape: [below, ...draws.sampleShape] }, s);
      evaluations += below;
    }
    let sum = 0;
    let sumSq = 0;
    for (let k = 0; k < M; k++) {
      const g = importanceG(sig[k]!, b, c);
      const num = k < below ? diff(k, dP, xP, k, s) : diff(k, dB, xb, k, b);
      const r = g > 0 ? num / g : 0;
      if (!Number.isFinite(r)) throw new RangeError(`KLUB: non-finite sample at sigma ${sig[k]} (did the denoiser return NaN?)`);
      sum += r;
      sumSq += r * r;
    }
    const mean = sum / M;
    const variance = Math.max(0, sumSq / M - mean * mean);
    results.push({ value: z * mean, stderr: z * Math.sqrt(variance / Math.max(1, M - 1)) });
  }
  return { estimates: results, evaluations };
}

/**
 * The forward-path samples shared by every KLUB estimate on (a, b): sigma drawn by inverse CDF from the
 * importance density, x_s = x0 + s n1, the path continued up to b, and the denoiser's predictions at both.
 */
async function forwardPathPredictions(pair: DenoiserPair, draws: KlubDraws, a: number, b: number, c: number) {
  const M = draws.count;
  const d = draws.x0.length / M;
  const z = klubNormaliser(a, b, c);
  const sig = new Float64Array(M);
  for (let k = 0; k < M; k++) sig[k] = importanceInverseCdf(draws.u[k]!, a, b, c, z);
  const xs = new Float64Array(M * d);
  const xb = new Float64Array(M * d);
  for (let k = 0; k < M; k++) {
    const s = sig[k]!;
    const up = Math.sqrt(Math.max(0, (b - s) * (b + s)));
    for (let j = k * d, e = j + d; j < e; j++) {
      const v = draws.x0[j]! + s * draws.n1[j]!;
      xs[j] = v;
      xb[j] = v + up * draws.n2[j]!;
    }
  }
  const shape = [M, ...draws.sampleShape];
  const dS = await denoiseRows(pair, { data: xs, shape }, sig);
  const dB = await denoiseAt(pair, { data: xb, shape }, b);
  return { M, d, z, sig, xs, xb, shape, dS, dB };
}
