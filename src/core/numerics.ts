/**
 * Shared float64 numerics of the low layer: numpy's linspace / interp, the AYS log-linear interpolation of a
 * schedule, and the half log-SNR lambda of a noise level. Schedules, samplers, pipelines and the optimizer use
 * these rather than their own copies.
 */

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

export interface LoglinearInterpOptions {
  /**
   * Return the input's first and last values exactly. Off by default: numpy's exp(log(sigma)) round trip can
   * move an end by an ulp, and ComfyUI's AYS tables carry that; the optimizer's schedules keep their ends.
   */
  exactEnds?: boolean;
}

/**
 * Log-linear interpolation of a descending schedule to `count` points (NVIDIA's AYS howto): log sigma is
 * linear in the position on a uniform [0, 1] grid, with numpy's arithmetic.
 *
 * @example
 * loglinearInterp([100, 10, 1], 5); // [100, 31.62..., 10, 3.16..., 1] (ends up to numpy's rounding)
 */
export function loglinearInterp(descending: readonly number[], count: number, options: LoglinearInterpOptions = {}): number[] {
  const ascendingLogs = [...descending].reverse().map((s) => Math.log(s));
  const xs = npLinspace(0, 1, ascendingLogs.length);
  const newXs = npLinspace(0, 1, count);
  const out = newXs.map((x) => Math.exp(npInterp(x, xs, ascendingLogs))).reverse();
  if (options.exactEnds && count >= 2 && descending.length >= 1) {
    out[0] = descending[0]!;
    out[count - 1] = descending[descending.length - 1]!;
  }
  return out;
}

/** lambda = -log(sigma): the half log-SNR of a noise level in the VE (k-diffusion) convention. */
export function lambdaOf(sigma: number): number {
  return -Math.log(sigma);
}

/** The noise level of a half log-SNR: sigma = exp(-lambda). */
export function sigmaOfLambda(lambda: number): number {
  return Math.exp(-lambda);
}
