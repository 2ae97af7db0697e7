/**
 * The one place where a sigma list, a step count and a denoise strength are checked. Every caller (schedules, samplers,
 * pipelines, CLI, server) uses these, so a bad input reads the same wherever it comes from.
 */

/**
 * Checks a schedule: at least 2 values, all finite and non-negative, strictly descending (so only the
 * last may be 0). Returns a plain float64 copy. Throws a one-line RangeError naming the first problem,
 * e.g. `sigmas must be strictly descending: sigmas[2] = 2 is not below sigmas[1] = 2`.
 *
 * @param what how the list is named in the message (default `sigmas`), e.g. `--sigmas` or `schedule.sigmas`.
 * @example validateSigmas([14.6, 3, 1, 0]) // [14.6, 3, 1, 0]
 */
export function validateSigmas(sigmas: ArrayLike<number>, what = 'sigmas'): number[] {
  if (sigmas === null || typeof sigmas !== 'object' || typeof sigmas.length !== 'number') {
    throw new RangeError(`${what} must be an array of numbers, got ${describe(sigmas)}`);
  }
  const n = sigmas.length;
  if (n < 2) throw new RangeError(`${what} needs at least 2 sigmas (at least two values: a start and an end), got ${n}`);
  const out: number[] = new Array<number>(n);
  for (let i = 0; i < n; i++) {
    const v: unknown = sigmas[i];
    if (typeof v !== 'number') throw new RangeError(`${what}[${i}] is not a number: ${describe(v)}`);
    if (!Number.isFinite(v)) throw new RangeError(`${what}[${i}] is not finite: ${v}`);
    if (v < 0) throw new RangeError(`${what}[${i}] is negative: ${v}`);
    if (i > 0 && !(v < out[i - 1]!)) {
      throw new RangeError(`${what} must be strictly descending: ${what}[${i}] = ${v} is not below ${what}[${i - 1}] = ${out[i - 1]}`);
    }
    if (v === 0 && i !== n - 1) throw new RangeError(`${what}[${i}] is 0 before the end; only the last value may be 0`);
    out[i] = v;
  }
  return out;
}

/**
 * Checks a step count: an integer >= 1. Returns it. Throws a one-line RangeError,
 * e.g. `steps must be an integer >= 1, got 2.5`.
 *
 * @param what how the value is named in the message (default `steps`), e.g. `--steps`.
 * @example validateSteps(10) // 10
 */
export function validateSteps(steps: unknown, what = 'steps'): number {
  if (typeof steps !== 'number' || !Number.isInteger(steps) || steps < 1) {
    throw new RangeError(`${what} must be an integer >= 1, got ${describe(steps)}`);
  }
  return steps;
}

/**
 * Checks a denoise strength: a number in [0, 1] (1 = the full schedule, 0 = no steps). Returns it. Throws a
 * one-line RangeError, e.g. `denoise must be a number in [0, 1], got 1.5`.
 */
export function validateDenoise(denoise: unknown, what = 'denoise'): number {
  if (typeof denoise !== 'number' || Number.isNaN(denoise) || denoise < 0 || denoise > 1) {
    throw new RangeError(`${what} must be a number in [0, 1], got ${describe(denoise)}`);
  }
  return denoise;
}

function describe(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v);
  if (typeof v === 'bigint') return `${v}n`;
  if (Array.isArray(v)) return 'an array';
  if (v !== null && typeof v === 'object') return 'an object';
  return String(v);
}
