/**
 * Small dense float64 linear algebra for feature statistics: symmetric eigendecomposition (cyclic Jacobi)
 * and what the Fréchet distance needs from it. Matrices are row-major Float64Array of n*n.
 */

export interface SymmetricEigen {
  /** Eigenvalues, unsorted. */
  values: Float64Array;
  /** Eigenvectors as columns: vectors[r * n + k] is component r of eigenvector k. */
  vectors: Float64Array;
}

/**
 * Eigendecomposition of a real symmetric matrix by the cyclic Jacobi method (float64).
 * Jacobi is slow-ish (O(n^3) per sweep) but unconditionally stable and accurate to working precision
 * even for tiny eigenvalues, which matters for nearly singular covariance matrices.
 */
export function symmetricEigen(matrix: ArrayLike<number>, n: number, maxSweeps = 100): SymmetricEigen {
  if (matrix.length !== n * n) throw new RangeError(`symmetricEigen: expected ${n * n} entries, got ${matrix.length}`);
  const a = Float64Array.from(matrix);
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) {
      const x = a[i * n + j]!;
      const y = a[j * n + i]!;
      if (!Number.isFinite(x) || !Number.isFinite(y)) throw new RangeError('symmetricEigen: matrix has a non-finite entry');
      // Symmetrize: callers pass covariances that are symmetric up to rounding.
      a[i * n + j] = a[j * n + i] = 0.5 * (x + y);
    }
  }
  const v = new Float64Array(n * n);
  for (let i = 0; i < n; i++) v[i * n + i] = 1;

  let scale = 0;
  for (let i = 0; i < n * n; i++) scale = Math.max(scale, Math.abs(a[i]!));
  if (scale === 0) return { values: new Float64Array(n), vectors: v };

  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let off = 0;
    for (let p = 0; p < n; p++) for (let q = p + 1; q < n; q++) off += a[p * n + q]! * a[p * n + q]!;
    if (Math.sqrt(off) <= 1e-15 * scale * n) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) {
        const apq = a[p * n + q]!;
        if (apq === 0) continue;
        const app = a[p * n + p]!;
        const aqq = a[q * n + q]!;
        // Rotation angle that zeroes a[p][q] (Golub & Van Loan, Algorithm 8.4.1).
        const theta = (aqq - app) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < n; k++) {
          const akp = a[k * n + p]!;
          const akq = a[k * n + q]!;
          a[k * n + p] = c * akp - s * akq;
          a[k * n + q] = s * akp + c * akq;
        }
        for (let k = 0; k < n; k++) {
          const apk = a[p * n + k]!;
          const aqk = a[q * n + k]!;
          a[p * n + k] = c * apk - s * aqk;
          a[q * n + k] = s * apk + c * aqk;
        }
        a[p * n + q] = a[q * n + p] = 0;
        for (let k = 0; k < n; k++) {
          const vkp = v[k * n + p]!;
          const vkq = v[k * n + q]!;
          v[k * n + p] = c * vkp - s * vkq;
          v[k * n + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) values[i] = a[i * n + i]!;
  return { values, vectors: v };
}

/** Square root of a symmetric positive semi-definite matrix; negative rounding-noise eigenvalues clamp to 0. */
export function sqrtmPsd(matrix: ArrayLike<number>, n: number): Float64Array {
  const { values, vectors } = symmetricEigen(matrix, n);
  const out = new Float64Array(n * n);
  for (let k = 0; k < n; k++) {
    const r = Math.sqrt(Math.max(values[k]!, 0));
    if (r === 0) continue;
    for (let i = 0; i < n; i++) {
      const vik = vectors[i * n + k]! * r;
      if (vik === 0) continue;
      for (let j = 0; j < n; j++) out[i * n + j] = out[i * n + j]! + (vik * vectors[j * n + k]!);
    }
  }
  return out;
}

/** C = A * B for n x n row-major matrices. */
export function matmul(a: ArrayLike<number>, b: ArrayLike<number>, n: number): Float64Array {
  const c = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k]!;
      if (aik === 0) continue;
      for (let j = 0; j < n; j++) c[i * n + j] = c[i * n + j]! + (aik * b[k * n + j]!);
    }
  }
  return c;
}

/**
 * Eigenvalues only (unsorted) of a real symmetric matrix: Householder reduction to tridiagonal form, then the
 * implicit QL iteration with Wilkinson-style shifts (float64). About 4/3 n^3 operations, far fewer than the
 * Jacobi sweeps of symmetricEigen; for the bootstrap, where only the spectrum is needed, many times over.
 */
export function symmetricEigenvalues(matrix: ArrayLike<number>, n: number): Float64Array {
  if (matrix.length !== n * n) throw new RangeError(`symmetricEigenvalues: expected ${n * n} entries, got ${matrix.length}`);
  const a = Float64Array.from(matrix);
  for (let i = 0; i < n * n; i++) if (!Number.isFinite(a[i]!)) throw new RangeError('symmetricEigenvalues: matrix has a non-finite entry');
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) a[i * n + j] = a[j * n + i] = 0.5 * (a[i * n + j]! + a[j * n + i]!);
  const d = new Float64Array(n);
  const e = new Float64Array(n); // e[k]: entry (k, k+1) of the tridiagonal matrix; e[n-1] = 0
  const v = new Float64Array(n);
  const p = new Float64Array(n);
  for (let k = 0; k < n - 2; k++) {
    // Householder vector for column k below the diagonal: H x = alpha e1
    let norm2 = 0;
    for (let i = k + 1; i < n; i++) norm2 += a[i * n + k]! ** 2;
    const x0 = a[(k + 1) * n + k]!;
    const norm = Math.sqrt(norm2);
    if (norm === 0) {
      e[k] = 0;
      continue;
    }
    const alpha = x0 > 0 ? -norm : norm;
    for (let i = k + 1; i < n; i++) v[i] = a[i * n + k]!;
    v[k + 1] = x0 - alpha;
    let vtv = 0;
    for (let i = k + 1; i < n; i++) vtv += v[i]! ** 2;
    e[k] = alpha;
    if (vtv === 0) continue;
    // A22 <- H A22 H with H = I - 2 v v^T / vtv: p = 2 A22 v / vtv, w = p - (v.p / vtv) v, A22 -= v w^T + w v^T
    let vp = 0;
    for (let i = k + 1; i < n; i++) {
      let s = 0;
      for (let j = k + 1; j < n; j++) s += a[i * n + j]! * v[j]!;
      p[i] = (2 * s) / vtv;
      vp += v[i]! * p[i]!;
    }
    const kk = vp / vtv;
    for (let i = k + 1; i < n; i++) p[i] = p[i]! - kk * v[i]!;
    for (let i = k + 1; i < n; i++) {
      for (let j = k + 1; j < n; j++) a[i * n + j] = a[i * n + j]! - v[i]! * p[j]! - p[i]! * v[j]!;
    }
  }
  for (let i = 0; i < n; i++) d[i] = a[i * n + i]!;
  if (n >= 2) e[n - 2] = a[(n - 1) * n + (n - 2)]!;
  e[n - 1] = 0;
  // implicit QL on the tridiagonal (d, e)
  for (let l = 0; l < n; l++) {
    for (let iter = 0; ; iter++) {
      let m = l;
      for (; m < n - 1; m++) {
        const dd = Math.abs(d[m]!) + Math.abs(d[m + 1]!);
        if (Math.abs(e[m]!) <= Number.EPSILON * dd) break;
      }
      if (m === l) break;
      if (iter === 100) throw new RangeError('symmetricEigenvalues: the QL iteration did not converge');
      let g = (d[l + 1]! - d[l]!) / (2 * e[l]!);
      let r = Math.hypot(g, 1);
      g = d[m]! - d[l]! + e[l]! / (g + (g >= 0 ? r : -r));
      let s = 1;
      let c = 1;
      let shift = 0;
      let i = m - 1;
      let underflow = false;
      for (; i >= l; i--) {
        const f = s * e[i]!;
        const b = c * e[i]!;
        r = Math.hypot(f, g);
        e[i + 1] = r;
        if (r === 0) {
          d[i + 1] = d[i + 1]! - shift;
          e[m] = 0;
          underflow = true;
          break;
        }
        s = f / r;
        c = g / r;
        g = d[i + 1]! - shift;
        r = (d[i]! - g) * s + 2 * c * b;
        shift = s * r;
        d[i + 1] = g + shift;
        g = c * r - b;
      }
      if (underflow) continue;
      d[l] = d[l]! - shift;
      e[l] = g;
      e[m] = 0;
    }
  }
  return d;
}
