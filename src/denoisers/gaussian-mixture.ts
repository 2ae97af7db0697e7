import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser } from '../core/types.js';

export interface GaussianMixture {
  /** K x D component means. */
  means: readonly (readonly number[])[];
  /** K isotropic standard deviations. */
  stds: readonly number[];
  /** K mixture weights (need not sum to 1; only ratios matter). */
  weights: readonly number[];
}

/**
 * The exact denoiser E[x0 | x0 + sigma n = x] for a mixture of isotropic Gaussians, per batch row of D values,
 * in float64 with a log-sum-exp over components (the analytic model behind the conformance data):
 * v_k = s_k^2 + sigma^2, l_k = ln w_k - D/2 ln v_k - |x - mu_k|^2 / (2 v_k), r = softmax(l),
 * D(x) = sum_k r_k (mu_k + s_k^2 / v_k (x - mu_k)). The output has x's dtype.
 */
export function gaussianMixtureDenoiser(mixture: GaussianMixture): Denoiser {
  const K = mixture.means.length;
  if (K === 0 || mixture.stds.length !== K || mixture.weights.length !== K) {
    throw new RangeError(`gaussianMixtureDenoiser: means, stds and weights need the same number of components (got ${K}, ${mixture.stds.length}, ${mixture.weights.length})`);
  }
  const D = mixture.means[0]!.length;
  for (const m of mixture.means) {
    if (m.length !== D) throw new RangeError('gaussianMixtureDenoiser: every mean needs the same dimension');
  }
  for (const w of mixture.weights) if (!(w > 0)) throw new RangeError(`gaussianMixtureDenoiser: weights must be positive, got ${w}`);
  const means = mixture.means.map((m) => Float64Array.from(m));
  const logW = mixture.weights.map(Math.log);
  const s2 = mixture.stds.map((s) => s * s);
  return async (x: Tensor, sigma: number): Promise<Tensor> => {
    const n = x.data.length;
    if (n % D !== 0) throw new RangeError(`gaussianMixtureDenoiser: x has ${n} values, not a multiple of the dimension ${D}`);
    const out = x.data instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
    const l = new Float64Array(K);
    for (let row = 0; row < n; row += D) {
      let lmax = -Infinity;
      for (let k = 0; k < K; k++) {
        const v = s2[k]! + sigma * sigma;
        const mu = means[k]!;
        let sq = 0;
        for (let j = 0; j < D; j++) {
          const e = x.data[row + j]! - mu[j]!;
          sq += e * e;
        }
        l[k] = logW[k]! - (D / 2) * Math.log(v) - sq / (2 * v);
        if (l[k]! > lmax) lmax = l[k]!;
      }
      let z = 0;
      for (let k = 0; k < K; k++) {
        l[k] = Math.exp(l[k]! - lmax);
        z += l[k]!;
      }
      for (let j = 0; j < D; j++) {
        let acc = 0;
        const xv = x.data[row + j]!;
        for (let k = 0; k < K; k++) {
          const v = s2[k]! + sigma * sigma;
          const mu = means[k]![j]!;
          acc += (l[k]! / z) * (mu + (s2[k]! / v) * (xv - mu));
        }
        out[row + j] = acc;
      }
    }
    return { data: out, shape: [...x.shape] };
  };
}
