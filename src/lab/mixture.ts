import type { Tensor } from '../tensor/tensor.js';
import { numel } from '../tensor/tensor.js';
import type { Rng } from '../core/rng.js';

/**
 * An isotropic Gaussian mixture p(x0) = sum_k w_k N(mu_k, s_k^2 I) in `dim` dimensions.
 * Everything about it that the lab needs has a closed form (spec §7.5).
 */
export interface GaussianMixture {
  readonly dim: number;
  /** K x dim, row-major. */
  readonly means: Float64Array;
  readonly stds: Float64Array;
  /** Normalised to sum 1. */
  readonly weights: Float64Array;
}

export function gaussianMixture(means: number[][], stds: number[], weights?: number[]): GaussianMixture {
  const K = means.length;
  if (K === 0) throw new RangeError('gaussianMixture: needs at least one component');
  const dim = means[0]!.length;
  if (stds.length !== K) throw new RangeError(`gaussianMixture: ${K} means but ${stds.length} stds`);
  const w = weights ?? new Array<number>(K).fill(1);
  if (w.length !== K) throw new RangeError(`gaussianMixture: ${K} means but ${w.length} weights`);
  const total = w.reduce((s, v) => s + v, 0);
  const flat = new Float64Array(K * dim);
  means.forEach((m, k) => {
    if (m.length !== dim) throw new RangeError('gaussianMixture: means have different lengths');
    flat.set(m, k * dim);
  });
  for (const s of stds) if (!(s >= 0)) throw new RangeError(`gaussianMixture: bad std ${s}`);
  return { dim, means: flat, stds: Float64Array.from(stds), weights: Float64Array.from(w, (v) => v / total) };
}

function rowsOf(x: Tensor, dim: number, who: string): number {
  const n = numel(x.shape);
  if (n % dim !== 0) throw new RangeError(`${who}: tensor of ${n} elements is not a batch of ${dim}-vectors`);
  return n / dim;
}

/**
 * Exact posterior mean D(x; sigma_r) for every row r of x (x = x0 + sigma n). `sigmas` is one number
 * for the whole batch or one per row. Log-sum-exp responsibilities; components more than 50 nats below the
 * best are skipped (their weight, < 2e-22, cannot change a float64 sum).
 */
export function mixtureDenoise(mix: GaussianMixture, x: Tensor, sigmas: number | ArrayLike<number>): Tensor {
  const { dim, means, stds, weights } = mix;
  const K = stds.length;
  const rows = rowsOf(x, dim, 'mixtureDenoise');
  const out = x.data instanceof Float32Array ? new Float32Array(x.data.length) : new Float64Array(x.data.length);
  const logw = new Float64Array(K);
  for (let k = 0; k < K; k++) logw[k] = Math.log(weights[k]!);
  const l = new Float64Array(K);
  const v = new Float64Array(K);
  const acc = new Float64Array(dim);
  let lastSigma = NaN;
  const base = new Float64Array(K);
  for (let r = 0; r < rows; r++) {
    const sigma = typeof sigmas === 'number' ? sigmas : sigmas[r]!;
    if (sigma !== lastSigma) {
      for (let k = 0; k < K; k++) {
        v[k] = stds[k]! * stds[k]! + sigma * sigma;
        base[k] = logw[k]! - 0.5 * dim * Math.log(v[k]!);
      }
      lastSigma = sigma;
    }
    const off = r * dim;
    let best = -Infinity;
    for (let k = 0; k < K; k++) {
      let d2 = 0;
      const mo = k * dim;
      for (let j = 0; j < dim; j++) {
        const t = x.data[off + j]! - means[mo + j]!;
        d2 += t * t;
      }
      const lk = base[k]! - d2 / (2 * v[k]!);
      l[k] = lk;
      if (lk > best) best = lk;
    }
    acc.fill(0);
    let norm = 0;
    for (let k = 0; k < K; k++) {
      const e = l[k]! - best;
      if (e < -50) continue; // below 2e-22 relative: invisible in float64 sums, and skips most exps
      const rk = Math.exp(e);
      norm += rk;
      // mu_k + s_k^2 / v_k (x - mu_k) = (1 - a) mu_k + a x with a = s_k^2 / v_k
      const a = v[k]! > 0 ? (stds[k]! * stds[k]!) / v[k]! : 1;
      const mo = k * dim;
      for (let j = 0; j < dim; j++) acc[j] = acc[j]! + (rk * ((1 - a) * means[mo + j]! + a * x.data[off + j]!));
    }
    for (let j = 0; j < dim; j++) out[off + j] = acc[j]! / norm;
  }
  return { data: out, shape: [...x.shape] };
}

/** log p(x; sigma) per row: the density of x_sigma = x0 + sigma n (sigma = 0 gives the data density). */
export function mixtureLogDensity(mix: GaussianMixture, x: ArrayLike<number>, rows: number, sigma = 0): Float64Array {
  const { dim, means, stds, weights } = mix;
  const K = stds.length;
  const out = new Float64Array(rows);
  const base = new Float64Array(K);
  const v = new Float64Array(K);
  for (let k = 0; k < K; k++) {
    v[k] = stds[k]! * stds[k]! + sigma * sigma;
    if (!(v[k]! > 0)) throw new RangeError('mixtureLogDensity: a component has zero variance at this sigma');
    base[k] = Math.log(weights[k]!) - 0.5 * dim * Math.log(2 * Math.PI * v[k]!);
  }
  const l = new Float64Array(K);
  for (let r = 0; r < rows; r++) {
    let best = -Infinity;
    for (let k = 0; k < K; k++) {
      let d2 = 0;
      for (let j = 0; j < dim; j++) {
        const t = x[r * dim + j]! - means[k * dim + j]!;
        d2 += t * t;
      }
      l[k] = base[k]! - d2 / (2 * v[k]!);
      if (l[k]! > best) best = l[k]!;
    }
    let s = 0;
    for (let k = 0; k < K; k++) s += Math.exp(l[k]! - best);
    out[r] = best + Math.log(s);
  }
  return out;
}

/** n samples of x0, as an [n, dim] float64 tensor. */
export function sampleMixture(mix: GaussianMixture, n: number, rng: Rng): Tensor {
  const { dim, means, stds, weights } = mix;
  const K = stds.length;
  const cdf = new Float64Array(K);
  let c = 0;
  for (let k = 0; k < K; k++) cdf[k] = c += weights[k]!;
  const out = new Float64Array(n * dim);
  for (let r = 0; r < n; r++) {
    const u = rng.uniform() * c;
    let k = 0;
    while (k < K - 1 && cdf[k]! <= u) k++;
    for (let j = 0; j < dim; j++) out[r * dim + j] = means[k * dim + j]! + stds[k]! * rng.normal();
  }
  return { data: out, shape: [n, dim] };
}

/** Mean squared norm of the mixture (E||x0||^2), used to size reference noise. */
export function mixtureSecondMoment(mix: GaussianMixture): number {
  let m = 0;
  for (let k = 0; k < mix.stds.length; k++) {
    let mu2 = 0;
    for (let j = 0; j < mix.dim; j++) mu2 += mix.means[k * mix.dim + j]! ** 2;
    m += mix.weights[k]! * (mu2 + mix.dim * mix.stds[k]! ** 2);
  }
  return m;
}
