/** User-given sigma lists: parsing (comma list or JSON); validation is core/validate.ts's validateSigmas. */
import { validateSigmas } from '../core/validate.js';

export { validateSigmas };

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
