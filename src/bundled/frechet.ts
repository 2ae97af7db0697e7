import { matmul, sqrtmPsd, symmetricEigen, symmetricEigenvalues } from './linalg.js';

/** Mean and covariance of a set of feature vectors (the Gaussian that FID fits). */
export interface FeatureStats {
  dim: number;
  count: number;
  mean: Float64Array;
  /** Row-major dim x dim, unbiased (divides by count - 1), like numpy.cov and torch.cov. */
  cov: Float64Array;
}

/** Mean and unbiased covariance of `count` row-major feature vectors of length `dim`, accumulated in float64. */
export function featureStats(features: ArrayLike<number>, count: number, dim: number): FeatureStats {
  if (features.length !== count * dim) {
    throw new RangeError(`featureStats: ${features.length} values is not ${count} vectors of ${dim}`);
  }
  if (count < 2) throw new RangeError(`featureStats: need at least 2 feature vectors, got ${count}`);
  const mean = new Float64Array(dim);
  for (let r = 0; r < count; r++) for (let j = 0; j < dim; j++) mean[j] = mean[j]! + (features[r * dim + j]!);
  for (let j = 0; j < dim; j++) mean[j] = mean[j]! / (count);
  const cov = new Float64Array(dim * dim);
  const centered = new Float64Array(dim);
  for (let r = 0; r < count; r++) {
    for (let j = 0; j < dim; j++) {
      const x = features[r * dim + j]!;
      if (!Number.isFinite(x)) throw new RangeError(`featureStats: feature ${j} of vector ${r} is ${x}`);
      centered[j] = x - mean[j]!;
    }
    for (let i = 0; i < dim; i++) {
      const ci = centered[i]!;
      if (ci === 0) continue;
      for (let j = i; j < dim; j++) cov[i * dim + j] = cov[i * dim + j]! + (ci * centered[j]!);
    }
  }
  for (let i = 0; i < dim; i++) {
    for (let j = i; j < dim; j++) {
      const v = cov[i * dim + j]! / (count - 1);
      cov[i * dim + j] = v;
      cov[j * dim + i] = v;
    }
  }
  return { dim, count, mean, cov };
}

/**
 * Fréchet distance between N(mu1, S1) and N(mu2, S2):
 *   ||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^{1/2}).
 * tr((S1 S2)^{1/2}) is computed as the sum of square roots of the eigenvalues of the symmetric PSD matrix
 * S1^{1/2} S2 S1^{1/2} (same spectrum as S1 S2), so no non-symmetric matrix square root is needed and
 * there is no complex-part fudge as in scipy.linalg.sqrtm-based FID code. All in float64.
 */
export function frechetDistance(
  mu1: ArrayLike<number>,
  cov1: ArrayLike<number>,
  mu2: ArrayLike<number>,
  cov2: ArrayLike<number>,
): number {
  const n = mu1.length;
  if (mu2.length !== n) throw new RangeError(`frechetDistance: means have different lengths (${n} and ${mu2.length})`);
  if (cov1.length !== n * n || cov2.length !== n * n) {
    throw new RangeError(`frechetDistance: covariances must be ${n}x${n} to match the means`);
  }
  for (const [name, values] of [['mu1', mu1], ['cov1', cov1], ['mu2', mu2], ['cov2', cov2]] as const) {
    for (let i = 0; i < values.length; i++) {
      if (!Number.isFinite(values[i]!)) throw new RangeError(`frechetDistance: ${name} has a non-finite entry at ${i}`);
    }
  }
  let meanTerm = 0;
  for (let i = 0; i < n; i++) {
    const d = mu1[i]! - mu2[i]!;
    meanTerm += d * d;
  }
  let tr1 = 0;
  let tr2 = 0;
  for (let i = 0; i < n; i++) {
    tr1 += cov1[i * n + i]!;
    tr2 += cov2[i * n + i]!;
  }
  const root1 = sqrtmPsd(cov1, n);
  const middle = matmul(matmul(root1, cov2, n), root1, n);
  const { values } = symmetricEigen(middle, n);
  let trRoot = 0;
  for (const lambda of values) trRoot += Math.sqrt(Math.max(lambda, 0));
  const d = meanTerm + tr1 + tr2 - 2 * trRoot;
  if (!Number.isFinite(d)) throw new RangeError('frechetDistance: result is not finite (check the statistics for NaN or Infinity)');
  // Rounding can leave a tiny negative value for identical distributions.
  return Math.max(d, 0);
}

/** Fréchet distance between two FeatureStats. */
export function frechetDistanceOfStats(a: FeatureStats, b: { mean: ArrayLike<number>; cov: ArrayLike<number> }): number {
  return frechetDistance(a.mean, a.cov, b.mean, b.cov);
}

/**
 * Fréchet distances from many sample sets to one fixed reference Gaussian N(mu2, C2), for bootstraps: the
 * reference's square root S2 and trace are computed once; for a set X (count x dim rows, centred Xc, C1 =
 * Xc^T Xc / (count - 1)) tr((C1 C2)^{1/2}) is the sum of square roots of the eigenvalues of S2 C1 S2, whose
 * non-zero spectrum is that of the count x count matrix (Xc S2)(Xc S2)^T / (count - 1): one eigen-decomposition
 * of size min(count, dim) per set instead of two of size dim. Same value as frechetDistance(featureStats(X), ...).
 */
export function frechetToReference(reference: { mean: ArrayLike<number>; cov: ArrayLike<number> }, dim: number): (features: ArrayLike<number>, count: number) => number {
  if (reference.mean.length !== dim || reference.cov.length !== dim * dim) throw new RangeError(`frechetToReference: the reference is not ${dim}-dimensional`);
  const root2 = sqrtmPsd(reference.cov, dim);
  let tr2 = 0;
  for (let i = 0; i < dim; i++) tr2 += reference.cov[i * dim + i]!;
  return (features, count) => {
    if (features.length !== count * dim) throw new RangeError(`frechetToReference: ${features.length} values is not ${count} vectors of ${dim}`);
    if (count < 2) throw new RangeError(`frechetToReference: need at least 2 feature vectors, got ${count}`);
    const mean = new Float64Array(dim);
    for (let r = 0; r < count; r++) for (let j = 0; j < dim; j++) mean[j] = mean[j]! + features[r * dim + j]!;
    let meanTerm = 0;
    for (let j = 0; j < dim; j++) {
      mean[j] = mean[j]! / count;
      meanTerm += (mean[j]! - reference.mean[j]!) ** 2;
    }
    // y = (x - mean) S2, row by row; tr(C1) from the centred rows
    const y = new Float64Array(count * dim);
    const centred = new Float64Array(dim);
    let tr1 = 0;
    for (let r = 0; r < count; r++) {
      for (let j = 0; j < dim; j++) {
        const v = features[r * dim + j]! - mean[j]!;
        if (!Number.isFinite(v)) throw new RangeError(`frechetToReference: feature ${j} of vector ${r} is not finite`);
        centred[j] = v;
        tr1 += v * v;
      }
      for (let k = 0; k < dim; k++) {
        let acc = 0;
        for (let j = 0; j < dim; j++) acc += centred[j]! * root2[j * dim + k]!;
        y[r * dim + k] = acc;
      }
    }
    tr1 /= count - 1;
    const m = Math.min(count, dim);
    const gram = new Float64Array(m * m);
    if (count <= dim) {
      for (let a = 0; a < count; a++) {
        for (let b = a; b < count; b++) {
          let acc = 0;
          for (let k = 0; k < dim; k++) acc += y[a * dim + k]! * y[b * dim + k]!;
          gram[a * m + b] = gram[b * m + a] = acc / (count - 1);
        }
      }
    } else {
      for (let r = 0; r < count; r++) {
        for (let a = 0; a < dim; a++) {
          const ya = y[r * dim + a]!;
          for (let b = a; b < dim; b++) gram[a * m + b] = gram[a * m + b]! + ya * y[r * dim + b]!;
        }
      }
      for (let a = 0; a < dim; a++) {
        for (let b = a; b < dim; b++) gram[a * m + b] = gram[b * m + a] = gram[a * m + b]! / (count - 1);
      }
    }
    let trRoot = 0;
    for (const lambda of symmetricEigenvalues(gram, m)) trRoot += Math.sqrt(Math.max(lambda, 0));
    return Math.max(meanTerm + tr1 + tr2 - 2 * trRoot, 0);
  };
}
