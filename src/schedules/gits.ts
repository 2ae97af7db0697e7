/**
 * GITS schedules (Chen et al., ICML 2024) for SD1.5-range models: the published tables for coefficient
 * 0.80..1.50 (step 0.05) and 2..20 steps; above 20 steps the 20-step row is log-linearly interpolated.
 * Denoise and the final 0 follow the same rule as AYS (keep round-half-even(steps*denoise)+1, last -> 0).
 */
import { validateDenoise } from '../core/validate.js';
import { GITS_NOISE_LEVELS } from './gits-tables.js';
import { loglinearInterp } from './numerics.js';
import { tableTailWithZero } from './ays.js';

export const GITS_COEFFS: readonly number[] = Object.keys(GITS_NOISE_LEVELS).map(Number);
export const GITS_DEFAULT_COEFF = 1.2;

function coeffKey(coeff: number): string {
  const snapped = Math.round(coeff * 20) / 20;
  if (!Number.isFinite(coeff) || Math.abs(coeff - snapped) > 1e-9 || !(snapped.toFixed(2) in GITS_NOISE_LEVELS)) {
    throw new RangeError(`GITS coeff must be one of ${GITS_COEFFS.map((c) => c.toFixed(2)).join(', ')}; got ${coeff}`);
  }
  return snapped.toFixed(2);
}

export function gitsSigmas(options: { steps: number; coeff?: number; denoise?: number }): number[] {
  const { steps } = options;
  const denoise = options.denoise ?? 1;
  const key = coeffKey(options.coeff ?? GITS_DEFAULT_COEFF);
  if (!Number.isInteger(steps) || steps < 2) throw new RangeError(`GITS needs an integer number of steps >= 2, got ${steps}`);
  validateDenoise(denoise);
  const rows = GITS_NOISE_LEVELS[key]!;
  const sigmas = steps <= 20 ? [...rows[steps - 2]!] : loglinearInterp(rows[rows.length - 1]!, steps + 1);
  return tableTailWithZero(sigmas, steps, denoise);
}
