/** User-given sigma lists: parsing (comma list or JSON) and validation. */

/**
 * Checks a schedule: at least two values, all finite and non-negative, strictly descending except that the
 * last may be 0. Returns the same numbers. Throws RangeError/TypeError naming the first problem.
 */
export function validateSigmas(sigmas: readonly unknown[], what = 'sigmas'): number[] {
  if (!Array.isArray(sigmas)) throw new TypeError(`${what} must be an array of numbers`);
  if (sigmas.length < 2) throw new RangeError(`${what} needs at least two values (one step), got ${sigmas.length}`);
  const out: number[] = [];
  sigmas.forEach((v, i) => {
    if (typeof v !== 'number') throw new TypeError(`${what}[${i}] is not a number: ${JSON.stringify(v)}`);
    if (!Number.isFinite(v)) throw new RangeError(`${what}[${i}] is not finite: ${v}`);
    if (v < 0) throw new RangeError(`${what}[${i}] is negative: ${v}`);
    if (i > 0 && !(v < out[i - 1]!)) {
      throw new RangeError(`${what} must be strictly descending: ${what}[${i}] = ${v} is not below ${what}[${i - 1}] = ${out[i - 1]}`);
    }
    if (v === 0 && i !== sigmas.length - 1) throw new RangeError(`${what}[${i}] is 0 before the end; only the last value may be 0`);
    out.push(v);
  });
  return out;
}

/**
 * Parses a sigma list typed by a user: a JSON array ("[14.6, 7.1, 0]"), a JSON object with a `sigmas`
 * array (the schedule files ays writes), or numbers separated by commas and/or whitespace.
 */
export function parseSigmas(text: string): number[] {
  const trimmed = text.trim();
  if (trimmed === '') throw new RangeError('the sigma list is empty');
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(trimmed);
    } catch (err) {
      throw new TypeError(`sigmas look like JSON but do not parse: ${(err as Error).message}`);
    }
    return sigmasFromScheduleJson(parsed);
  }
  const parts = trimmed.split(/[\s,]+/).filter((p) => p !== '');
  const values = parts.map((p) => {
    const v = Number(p);
    if (!/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(p) || Number.isNaN(v)) throw new TypeError(`"${p}" in the sigma list is not a number`);
    return v;
  });
  return validateSigmas(values);
}

/** Accepts a parsed JSON value: an array of numbers, or an object whose `sigmas` is one (optimizer output). */
export function sigmasFromScheduleJson(value: unknown): number[] {
  if (Array.isArray(value)) return validateSigmas(value);
  if (value !== null && typeof value === 'object' && 'sigmas' in value) {
    const s = (value as { sigmas: unknown }).sigmas;
    if (!Array.isArray(s)) throw new TypeError('the "sigmas" field must be an array of numbers');
    return validateSigmas(s);
  }
  throw new TypeError('expected a JSON array of sigmas or an object with a "sigmas" array');
}
