/** Seeds: ComfyUI's are unsigned 64-bit integers. */

const MAX_SEED = 0xffffffffffffffffn;

/**
 * Checks a seed: a non-negative integer below 2^64, as a number (a safe integer) or a bigint. Returns it as a
 * bigint. Throws a one-line RangeError, e.g. `seed must be an integer in [0, 2^64 - 1], got -1`.
 */
export function validateSeed(seed: unknown, what = 'seed'): bigint {
  if (typeof seed === 'bigint') {
    if (seed < 0n || seed > MAX_SEED) throw new RangeError(`${what} must be an integer in [0, 2^64 - 1], got ${seed}`);
    return seed;
  }
  if (typeof seed !== 'number' || !Number.isInteger(seed) || seed < 0) {
    throw new RangeError(`${what} must be an integer in [0, 2^64 - 1], got ${typeof seed === 'string' ? JSON.stringify(seed) : String(seed)}`);
  }
  if (seed > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`${what} ${seed} is above 2^53 - 1 and cannot be represented exactly as a number: pass a bigint`);
  }
  return BigInt(seed);
}
