/**
 * Closed forms behind the KLUB estimator (spec §2) and the Gaussian unit tests (spec §7).
 * All sigma math in float64. `c` is the importance-distribution width (0.5 in the paper).
 */

/** phi(y) = y - ln(1 + y), computed without cancellation for small y. */
function phi(y: number): number {
  if (Math.abs(y) < 0.01) {
    // y^2/2 - y^3/3 + y^4/4 - ... (error below 1e-18 relative for |y| < 0.01)
    let term = y * y;
    let sum = 0;
    for (let k = 2; k <= 10; k++) {
      sum += (k % 2 === 0 ? 1 : -1) * (term / k);
      term *= y;
    }
    return sum;
  }
  return y - Math.log1p(y);
}

/** The unsquared importance factor g(sigma; b) = 1/(sigma^2 + c^2) - 1/(b^2 + c^2) (spec §2, erratum). */
export function importanceG(sigma: number, b: number, c: number): number {
  // (b^2 - sigma^2) / ((sigma^2 + c^2)(b^2 + c^2)), written to stay accurate as sigma -> b
  return ((b - sigma) * (b + sigma)) / ((sigma * sigma + c * c) * (b * b + c * c));
}

/**
 * P(a, s; b) = integral_a^s sigma^-3 g(sigma; b) d sigma, for a <= s <= b. With u = 1/sigma^2 the first part is
 * (1/2c^4)[phi(c^2/a^2) - phi(c^2/s^2)], the second (1/a^2 - 1/s^2) / (2 (b^2 + c^2)).
 */
export function importanceMass(a: number, s: number, b: number, c: number): number {
  const c2 = c * c;
  const first = (phi(c2 / (a * a)) - phi(c2 / (s * s))) / (2 * c2 * c2);
  const second = (1 / (a * a) - 1 / (s * s)) / (2 * (b * b + c2));
  return first - second;
}

/** The normaliser Z(a, b) = integral_a^b sigma^-3 g(sigma; b) d sigma (spec §2, closed form). */
export function klubNormaliser(a: number, b: number, c: number): number {
  return importanceMass(a, b, b, c);
}

/**
 * Inverse CDF of q(sigma) ∝ sigma^-3 g(sigma; b) on (a, b): solves P(a, s; b) = u Z(a, b) in t = ln s.
 * Safeguarded Newton (the derivative sigma^-2 g is known) with a bisection fallback; converges to ~1e-14 in t.
 * The spec suggests plain bisection; this reaches the same root with fewer evaluations.
 */
export function importanceInverseCdf(u: number, a: number, b: number, c: number, z = klubNormaliser(a, b, c)): number {
  const target = u * z;
  let lo = Math.log(a);
  let hi = Math.log(b);
  let t = lo + u * (hi - lo);
  for (let iter = 0; iter < 100; iter++) {
    const s = Math.exp(t);
    const f = importanceMass(a, s, b, c) - target;
    if (f > 0) hi = t;
    else lo = t;
    const df = importanceG(s, b, c) / (s * s);
    let next = df > 0 ? t - f / df : NaN;
    if (!(next > lo && next < hi)) next = 0.5 * (lo + hi);
    if (Math.abs(next - t) < 1e-14 || hi - lo < 1e-14) return Math.exp(next);
    t = next;
  }
  return Math.exp(t);
}

/** Exact KLUB of a schedule on N(0, c^2 I) data, divided by c^4 d: sum of Z over the intervals (spec §7.2). */
export function gaussianKlubPerC4d(ascending: ArrayLike<number>, c: number): number {
  let total = 0;
  for (let i = 1; i < ascending.length; i++) total += klubNormaliser(ascending[i - 1]!, ascending[i]!, c);
  return total;
}

/** Paper Theorem 3.1: the KL-optimal Euler/DDIM schedule for N(0, c^2 I) data; ascending, n+1 values. */
export function klOptimalGaussianSchedule(sigmaMin: number, sigmaMax: number, n: number, c: number): Float64Array {
  const lo = Math.atan(sigmaMin / c);
  const hi = Math.atan(sigmaMax / c);
  const out = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) out[i] = c * Math.tan((1 - i / n) * lo + (i / n) * hi);
  out[0] = sigmaMin;
  out[n] = sigmaMax;
  return out;
}

/** Spec §7.2 (corrected): the KLUB-optimal schedule on N(0, c^2 I); w = t^2/(t^2+c^2) is geometric in i. */
export function klubOptimalGaussianSchedule(sigmaMin: number, sigmaMax: number, n: number, c: number): Float64Array {
  const w = (t: number): number => (t * t) / (t * t + c * c);
  const w0 = w(sigmaMin);
  const wn = w(sigmaMax);
  const out = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) {
    const wi = Math.pow(w0, 1 - i / n) * Math.pow(wn, i / n);
    out[i] = c * Math.sqrt(wi / (1 - wi));
  }
  out[0] = sigmaMin;
  out[n] = sigmaMax;
  return out;
}

/** KL(N(0, v_true) || N(0, v_out)) per dimension times d: d/2 (f - 1 - ln f) with f = v_true / v_out. */
export function gaussianKl(vTrue: number, vOut: number, d: number): number {
  const f = vTrue / vOut;
  return 0.5 * d * (f - 1 - Math.log(f));
}

/**
 * The output KL of a sampler that keeps N(0, c^2 I) data Gaussian: the variance of x starts at sigma_max^2 + c^2,
 * `step(v, a, b, c^2)` maps it over each step b -> a of the ascending schedule (walked from the top), and the
 * result is compared with the true marginal at sigma_min, N(0, sigma_min^2 + c^2).
 */
function gaussianOutputKl(ascending: ArrayLike<number>, c: number, d: number, step: (v: number, a: number, b: number, c2: number) => number): number {
  const n = ascending.length - 1;
  const c2 = c * c;
  let v = ascending[n]! ** 2 + c2;
  for (let i = n; i >= 1; i--) v = step(v, ascending[i - 1]!, ascending[i]!, c2);
  return gaussianKl(ascending[0]! ** 2 + c2, v, d);
}

/**
 * Exact output KL of Euler (DDIM, ODE) on N(0, c^2 I) data for an ascending schedule that ends at sigma_min:
 * start x ~ N(0, sigma_max^2 + c^2); each step b -> a multiplies x by (ab + c^2)/(b^2 + c^2) (spec §7.1).
 * Compared against the true marginal at sigma_min, N(0, sigma_min^2 + c^2).
 */
export function gaussianEulerKl(ascending: ArrayLike<number>, c: number, d = 1): number {
  return gaussianOutputKl(ascending, c, d, (v, a, b, c2) => {
    const k = (a * b + c2) / (b * b + c2);
    return v * (k * k);
  });
}

/**
 * Exact output KL of stochastic DDIM (eta = 1; the first-order data-prediction SDE step) on N(0, c^2 I) data:
 * v <- k^2 v + a^2 (1 - a^2/b^2), k = r + (1 - r) c^2/(b^2 + c^2), r = a^2/b^2 (spec §7.3).
 */
export function gaussianStochasticDdimKl(ascending: ArrayLike<number>, c: number, d = 1): number {
  return gaussianOutputKl(ascending, c, d, (v, a, b, c2) => {
    const r = (a * a) / (b * b);
    const k = r + ((1 - r) * c2) / (b * b + c2);
    return k * k * v + a * a * (1 - r);
  });
}
