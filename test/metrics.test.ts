import { test } from 'node:test';
import assert from 'node:assert/strict';
import { featureStats, frechetDistance } from '../src/bundled/frechet.js';
import { matmul, sqrtmPsd, symmetricEigen } from '../src/bundled/linalg.js';

// Deterministic pseudo-random numbers (mulberry32) so the cases are fixed.
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomSymmetric(n: number, seed: number): Float64Array {
  const r = rng(seed);
  const a = new Float64Array(n * n);
  for (let i = 0; i < n; i++) for (let j = i; j < n; j++) a[i * n + j] = a[j * n + i] = r() * 2 - 1;
  return a;
}

/** A random orthogonal matrix from Gram-Schmidt on random vectors. */
function randomOrthogonal(n: number, seed: number): Float64Array {
  const r = rng(seed);
  const q = new Float64Array(n * n); // columns
  for (let k = 0; k < n; k++) {
    const col = Array.from({ length: n }, () => r() * 2 - 1);
    for (let m = 0; m < k; m++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += col[i]! * q[i * n + m]!;
      for (let i = 0; i < n; i++) col[i]! -= dot * q[i * n + m]!;
    }
    const norm = Math.hypot(...col);
    for (let i = 0; i < n; i++) q[i * n + k] = col[i]! / norm;
  }
  return q;
}

/** Q diag(d) Q^T */
function withSpectrum(q: Float64Array, d: number[]): Float64Array {
  const n = d.length;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += q[i * n + k]! * d[k]! * q[j * n + k]!;
      out[i * n + j] = s;
    }
  return out;
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('Jacobi eigendecomposition reconstructs a random symmetric matrix with orthonormal vectors', () => {
  const n = 40;
  const a = randomSymmetric(n, 7);
  const { values, vectors } = symmetricEigen(a, n);
  const rebuilt = withSpectrum(vectors, Array.from(values));
  assert.ok(maxAbsDiff(rebuilt, a) < 1e-12, `reconstruction error ${maxAbsDiff(rebuilt, a)}`);
  const vtv = new Float64Array(n * n);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let k = 0; k < n; k++) s += vectors[k * n + i]! * vectors[k * n + j]!;
      vtv[i * n + j] = s;
    }
  const eye = new Float64Array(n * n);
  for (let i = 0; i < n; i++) eye[i * n + i] = 1;
  assert.ok(maxAbsDiff(vtv, eye) < 1e-12);
});

test('Jacobi finds a known spectrum, including tiny and zero eigenvalues', () => {
  const spectrum = [5, 2, 1, 1e-9, 0, 3.5, 0.25];
  const q = randomOrthogonal(spectrum.length, 11);
  const { values } = symmetricEigen(withSpectrum(q, spectrum), spectrum.length);
  const got = Array.from(values).sort((x, y) => x - y);
  const want = [...spectrum].sort((x, y) => x - y);
  for (let i = 0; i < want.length; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-13, `eigenvalue ${i}: ${got[i]} vs ${want[i]}`);
});

test('sqrtmPsd squares back to the matrix', () => {
  const n = 12;
  const spectrum = Array.from({ length: n }, (_, i) => (i + 1) * 0.3);
  const s = withSpectrum(randomOrthogonal(n, 3), spectrum);
  const root = sqrtmPsd(s, n);
  assert.ok(maxAbsDiff(matmul(root, root, n), s) < 1e-12);
});

test('Fréchet distance of identical Gaussians is 0', () => {
  const n = 10;
  const cov = withSpectrum(randomOrthogonal(n, 5), Array.from({ length: n }, (_, i) => 1 / (i + 1)));
  const mu = Array.from({ length: n }, (_, i) => i * 0.1);
  assert.ok(frechetDistance(mu, cov, mu, cov) < 1e-12);
});

test('Fréchet distance of 1-D Gaussians is (m1-m2)^2 + (s1-s2)^2', () => {
  const d = frechetDistance([1.5], [4], [-0.5], [0.25]);
  assert.ok(Math.abs(d - (4 + (2 - 0.5) ** 2)) < 1e-14, `got ${d}`);
});

test('Fréchet distance of Gaussians with commuting covariances has the closed form', () => {
  const n = 16;
  const q = randomOrthogonal(n, 9);
  const a = Array.from({ length: n }, (_, i) => 0.1 + i * 0.2);
  const b = Array.from({ length: n }, (_, i) => 3 / (i + 1));
  const mu1 = Array.from({ length: n }, (_, i) => Math.sin(i));
  const mu2 = Array.from({ length: n }, (_, i) => Math.cos(i));
  let want = 0;
  for (let i = 0; i < n; i++) want += (mu1[i]! - mu2[i]!) ** 2 + (Math.sqrt(a[i]!) - Math.sqrt(b[i]!)) ** 2;
  const got = frechetDistance(mu1, withSpectrum(q, a), mu2, withSpectrum(q, b));
  assert.ok(Math.abs(got - want) < 1e-11 * want, `got ${got}, want ${want}`);
});

test('Fréchet distance of 2-D Gaussians with non-commuting covariances matches the 2x2 closed form', () => {
  // For 2x2 PSD M: tr sqrt(M) = sqrt(tr M + 2 sqrt(det M)); here M ~ S1 S2 (same spectrum).
  const s1 = [2, 0.7, 0.7, 1];
  const s2 = [0.5, -0.2, -0.2, 3];
  const p = matmul(s1, s2, 2);
  const det1 = s1[0]! * s1[3]! - s1[1]! * s1[2]!;
  const det2 = s2[0]! * s2[3]! - s2[1]! * s2[2]!;
  const trRoot = Math.sqrt(p[0]! + p[3]! + 2 * Math.sqrt(det1 * det2));
  const want = (1 - 0) ** 2 + (2 - 4) ** 2 + 3 + 3.5 - 2 * trRoot;
  const got = frechetDistance([1, 2], s1, [0, 4], s2);
  assert.ok(Math.abs(got - want) < 1e-13, `got ${got}, want ${want}`);
  assert.ok(Math.abs(frechetDistance([0, 4], s2, [1, 2], s1) - want) < 1e-13, 'symmetric in its arguments');
});

test('Fréchet distance handles a rank-deficient covariance (fewer samples than dimensions)', () => {
  // S1 = 0 (a point mass) vs S2: distance = ||mu||^2 + tr S2.
  const n = 5;
  const s2 = withSpectrum(randomOrthogonal(n, 2), [1, 2, 3, 4, 5]);
  const got = frechetDistance(new Float64Array(n), new Float64Array(n * n), [1, 0, 0, 0, 0], s2);
  assert.ok(Math.abs(got - 16) < 1e-12, `got ${got}`);
});

test('featureStats gives the sample mean and unbiased covariance', () => {
  // Three 2-D points: (1,2), (3,6), (5,7).
  const s = featureStats([1, 2, 3, 6, 5, 7], 3, 2);
  assert.deepEqual(Array.from(s.mean), [3, 5]);
  // var x = ((−2)^2+0+2^2)/2 = 4; var y = (9+1+4)/2 = 7; cov = ((−2)(−3)+0+2*2)/2 = 5
  assert.deepEqual(Array.from(s.cov), [4, 5, 5, 7]);
});

test('Fréchet distance of large samples from one Gaussian approaches 0, and a shifted one approaches the shift', () => {
  const r = rng(42);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
  const dim = 4;
  const count = 20000;
  const draw = (shift: number) => {
    const f = new Float64Array(count * dim);
    for (let i = 0; i < f.length; i++) f[i] = gauss() + (i % dim === 0 ? shift : 0);
    return featureStats(f, count, dim);
  };
  const a = draw(0);
  const b = draw(0);
  const c = draw(3);
  const same = frechetDistance(a.mean, a.cov, b.mean, b.cov);
  const shifted = frechetDistance(a.mean, a.cov, c.mean, c.cov);
  assert.ok(same < 0.01, `same distribution: ${same}`);
  assert.ok(Math.abs(shifted - 9) < 0.2, `shift by 3: ${shifted}`);
});

test('bad inputs give clear errors', () => {
  assert.throws(() => frechetDistance([1, 2], [1, 0, 0, 1], [1], [1]), /different lengths/);
  assert.throws(() => frechetDistance([1], [Number.NaN], [1], [1]), /non-finite/);
  assert.throws(() => featureStats([1, 2, 3], 2, 2), /is not 2 vectors of 2/);
  assert.throws(() => featureStats([1, 2], 1, 2), /at least 2/);
});

test('rmsDifference is the root-mean-square of the pixel differences', async () => {
  const { rmsDifference } = await import('../src/bundled/run.js');
  const a = { data: Float32Array.from([0, 0.5, 1, 0.25]), shape: [1, 1, 2, 2] };
  const b = { data: Float32Array.from([0, 0.5, 0, 0.25]), shape: [1, 1, 2, 2] };
  assert.equal(rmsDifference(a, a), 0);
  assert.equal(rmsDifference(a, b), 0.5);
  assert.throws(() => rmsDifference(a, { data: new Float32Array(3), shape: [3] }), /4 vs 3 values/);
});
