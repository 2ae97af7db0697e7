/** Small float64 numerics the schedules need: numpy's linspace/interp, Python's round, the Beta quantile. */

/** numpy.linspace(start, stop, num, endpoint): i*step + start, with the exact stop at the end. */
export function npLinspace(start: number, stop: number, num: number, endpoint = true): number[] {
  if (num <= 0) return [];
  const div = endpoint ? num - 1 : num;
  const out = new Array<number>(num);
  if (div === 0) {
    out[0] = start;
    return out;
  }
  const step = (stop - start) / div;
  for (let i = 0; i < num; i++) out[i] = i * step + start;
  if (endpoint && num > 1) out[num - 1] = stop;
  return out;
}

/** numpy.interp for increasing xp: piecewise linear, clamped to fp's ends outside [xp0, xpN]. */
export function npInterp(x: number, xp: readonly number[], fp: readonly number[]): number {
  const n = xp.length;
  if (x <= xp[0]!) return fp[0]!;
  if (x >= xp[n - 1]!) return fp[n - 1]!;
  let lo = 0;
  let hi = n - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (xp[mid]! <= x) lo = mid;
    else hi = mid;
  }
  if (x === xp[lo]) return fp[lo]!;
  const slope = (fp[lo + 1]! - fp[lo]!) / (xp[lo + 1]! - xp[lo]!);
  return slope * (x - xp[lo]!) + fp[lo]!;
}

/**
 * Log-linear interpolation of a descending schedule to `count` points (NVIDIA's AYS howto): log sigma is
 * linear in the position on a uniform [0, 1] grid; both ends are kept.
 */
export function loglinearInterp(descending: readonly number[], count: number): number[] {
  const ascendingLogs = [...descending].reverse().map((s) => Math.log(s));
  const xs = npLinspace(0, 1, ascendingLogs.length);
  const newXs = npLinspace(0, 1, count);
  return newXs.map((x) => Math.exp(npInterp(x, xs, ascendingLogs))).reverse();
}

/** Python 3 round(x): to the nearest integer, halves to even. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** numpy.rint: same rule as roundHalfEven. */
export const rint = roundHalfEven;

function logGamma(x: number): number {
  // Lanczos approximation (g = 7, n = 9), about 15 significant digits for x > 0
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.abs(Math.sin(Math.PI * x))) - logGamma(1 - x);
  const xx = x - 1;
  let a = c[0]!;
  const t = xx + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (xx + i);
  return 0.5 * Math.log(2 * Math.PI) + (xx + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta function (modified Lentz). */
function betaContinuedFraction(x: number, a: number, b: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 10000; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-16) break;
  }
  return h;
}

/** Regularised incomplete beta I_x(a, b), the Beta(a, b) CDF. */
export function betaCdf(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  if (x < (a + 1) / (a + b + 2)) return (Math.exp(lnFront) * betaContinuedFraction(x, a, b)) / a;
  return 1 - (Math.exp(lnFront) * betaContinuedFraction(1 - x, b, a)) / b;
}

/** Beta(a, b) quantile (inverse CDF) by bisection to full float64 precision. */
export function betaPpf(p: number, a: number, b: number): number {
  if (!(a > 0 && b > 0)) throw new RangeError(`beta distribution needs alpha > 0 and beta > 0, got ${a}, ${b}`);
  if (p <= 0) return 0;
  if (p >= 1) return 1;
  // exact where the answer is known in closed form, so ties like 0.5 * 999 = 499.5 round as intended
  if (a === b && p === 0.5) return 0.5;
  if (a === 1 && b === 1) return p;
  let lo = 0;
  let hi = 1;
  for (let i = 0; i < 200; i++) {
    const mid = 0.5 * (lo + hi);
    if (mid <= lo || mid >= hi) break;
    if (betaCdf(mid, a, b) < p) lo = mid;
    else hi = mid;
  }
  return 0.5 * (lo + hi);
}
