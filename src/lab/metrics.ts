import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser, NoiseSource, SamplerOptions } from '../samplers/types.js';
import { mixtureLogDensity, type GaussianMixture } from './mixture.js';
import type { Rng } from '../core/rng.js';

export interface MeanWithError {
  value: number;
  stderr: number;
}

/** Root mean square difference over all elements. */
export function rmse(a: Tensor, b: Tensor): number {
  if (a.data.length !== b.data.length) throw new RangeError(`rmse: ${a.data.length} vs ${b.data.length} elements`);
  let s = 0;
  for (let i = 0; i < a.data.length; i++) s += (a.data[i]! - b.data[i]!) ** 2;
  return Math.sqrt(s / a.data.length);
}

/**
 * Mean negative log-likelihood of the rows of x under the true density (paper Table 4 metric): the data density,
 * or the marginal at `sigma` for runs that end at sigma > 0.
 */
export function meanNll(mix: GaussianMixture, x: Tensor, sigma = 0): MeanWithError {
  const rows = x.data.length / mix.dim;
  const lp = mixtureLogDensity(mix, x.data, rows, sigma);
  let s = 0;
  let s2 = 0;
  for (const v of lp) {
    if (!Number.isFinite(v)) return { value: Infinity, stderr: NaN };
    s -= v;
    s2 += v * v;
  }
  const mean = s / rows;
  return { value: mean, stderr: Math.sqrt(Math.max(0, s2 / rows - mean * mean) / Math.max(1, rows - 1)) };
}

/** Entropy of the data density, estimated on samples of it (the NLL a perfect sampler would score). */
export function mixtureEntropy(mix: GaussianMixture, samples: Tensor): MeanWithError {
  return meanNll(mix, samples);
}

/**
 * Sliced Wasserstein-2 distance between two equal-size point sets: the root mean, over random unit directions,
 * of the 1-D W2^2 between the sorted projections.
 */
export function slicedWasserstein2(x: Tensor, y: Tensor, dim: number, projections: number, rng: Rng): number {
  const n = x.data.length / dim;
  if (y.data.length / dim !== n) throw new RangeError('slicedWasserstein2: the two sets must have the same size');
  const px = new Float64Array(n);
  const py = new Float64Array(n);
  const dir = new Float64Array(dim);
  let total = 0;
  for (let p = 0; p < projections; p++) {
    let norm = 0;
    for (let j = 0; j < dim; j++) {
      dir[j] = rng.normal();
      norm += dir[j]! ** 2;
    }
    norm = Math.sqrt(norm);
    for (let r = 0; r < n; r++) {
      let a = 0;
      let b = 0;
      for (let j = 0; j < dim; j++) {
        a += x.data[r * dim + j]! * dir[j]!;
        b += y.data[r * dim + j]! * dir[j]!;
      }
      px[r] = a / norm;
      py[r] = b / norm;
    }
    px.sort();
    py.sort();
    let s = 0;
    for (let r = 0; r < n; r++) s += (px[r]! - py[r]!) ** 2;
    total += s / n;
  }
  return Math.sqrt(total / projections);
}

/** A noise source that returns `value` on draw number `hit` and zeros otherwise (to read off linear responses). */
function impulseNoise(hit: number): NoiseSource & { count: number } {
  const src = {
    count: 0,
    next(like: Tensor): Tensor {
      const v = src.count++ === hit ? 1 : 0;
      return { data: new Float64Array(like.data.length).fill(v), shape: [...like.shape] };
    },
  };
  return src;
}

export type SampleFn = (denoiser: Denoiser, x: Tensor, sigmas: ArrayLike<number>, options?: SamplerOptions) => Promise<Tensor>;

/**
 * Exact KL(true || sampler output) x d on the Gaussian testbed N(0, c^2 I), for any sampler that draws its
 * randomness only from options.noise: with D(x; s) = c^2/(s^2 + c^2) x every sampler is linear, so the output is
 * L x_T + sum_m M_m xi_m and its variance L^2 v_T + sum M_m^2 is read off by running the sampler on impulses (one
 * run per noise draw). v_T defaults to sigma_max^2 (the lab starts from sigma_max n); the true variance is
 * c^2 + sigma_last^2.
 */
export async function gaussianSamplerKl(
  sample: SampleFn,
  sigmas: ArrayLike<number>,
  c: number,
  d: number,
  options: { startVariance?: number; extra?: SamplerOptions } = {},
): Promise<number> {
  const denoiser: Denoiser = async (x, s) => ({ data: Float64Array.from(x.data, (v) => (c * c * v) / (s * s + c * c)), shape: [...x.shape] });
  const one = { data: Float64Array.of(1), shape: [1, 1] };
  const zero = { data: Float64Array.of(0), shape: [1, 1] };
  const extra = options.extra ?? {};
  const counter = impulseNoise(-1);
  const L = (await sample(denoiser, one, sigmas, { ...extra, noise: counter })).data[0]!;
  let v = L * L * (options.startVariance ?? Number(sigmas[0]) ** 2);
  for (let m = 0; m < counter.count; m++) {
    const y = (await sample(denoiser, zero, sigmas, { ...extra, noise: impulseNoise(m) })).data[0]!;
    v += y * y;
  }
  const last = Number(sigmas[sigmas.length - 1]);
  const f = (c * c + last * last) / v;
  return 0.5 * d * (f - 1 - Math.log(f));
}
