/**
 * Align Your Steps (Sabour, Fidler, Kreis, ICML 2024): NVIDIA's published 10-step schedules, log-linear
 * interpolation to any step count, and the two deployed conventions for the last step.
 *
 * - 'comfyui' (default; also diffusers): interpolate the 11 values to steps+1 points, keep the last
 *   round-half-even(steps*denoise)+1 of them, then *replace* the last value by 0. At 10 steps the list is
 *   the published table with sigma_min swapped for 0.
 * - 'a1111' (A1111/Forge): the 3-decimal tables, interpolated to `steps` points, then 0 *appended*, so the table is only
 *   reproduced at 11 steps. With denoise < 1 it keeps the last floor(min(denoise, 0.999)*steps)+1 values,
 *   A1111's img2img rule.
 */
import { validateDenoise, validateSteps } from '../core/validate.js';
import { loglinearInterp, roundHalfEven } from './numerics.js';
import { f32 } from '../model-sampling/float32.js';

export type AysTableName = 'SD1' | 'SDXL' | 'SVD' | 'IF';

/** Sigmas (11 values, descending) of the 10-step AYS schedules. SD1/SDXL/SVD as on NVIDIA's page; IF (stage I)
 * is the cosine sigma table at the paper's timesteps, which reproduces the paper's Table 3 to 3 decimals. */
export const AYS_NOISE_LEVELS: Readonly<Record<AysTableName, readonly number[]>> = {
  SD1: [14.6146412293, 6.4745760956, 3.8636745985, 2.694615152, 1.8841921177, 1.3943805092, 0.9642583904, 0.6523686016, 0.3977456272, 0.1515232662, 0.0291671582],
  SDXL: [14.6146412293, 6.3184485287, 3.7681790315, 2.1811480769, 1.3405244945, 0.8620721141, 0.5550693289, 0.3798540708, 0.2332364134, 0.1114188177, 0.0291671582],
  SVD: [700.0, 54.5, 15.886, 7.977, 4.248, 1.789, 0.981, 0.403, 0.173, 0.034, 0.002],
  IF: [160.41363806, 8.0812307822, 3.314865823, 1.8847884445, 1.2067948788, 0.784644984, 0.55249689226, 0.29287693401, 0.18555110554, 0.03026731095, 0.0064254127711],
};

/** A1111/Forge ship the paper's 3-decimal tables (Table 3); the 'a1111' convention uses them where they exist. */
export const AYS_A1111_NOISE_LEVELS: Readonly<Partial<Record<AysTableName, readonly number[]>>> = {
  SD1: [14.615, 6.475, 3.861, 2.697, 1.886, 1.396, 0.963, 0.652, 0.399, 0.152, 0.029],
  SDXL: [14.615, 6.315, 3.771, 2.181, 1.342, 0.862, 0.555, 0.38, 0.234, 0.113, 0.029],
};

/** The published integer timesteps of the discrete tables (11 values, descending). SVD is continuous: none. */
export const AYS_TIMESTEPS: Readonly<Partial<Record<AysTableName, readonly number[]>>> = {
  SD1: [999, 850, 736, 645, 545, 455, 343, 233, 124, 24, 0],
  SDXL: [999, 845, 730, 587, 443, 310, 193, 116, 53, 13, 0],
  IF: [995, 920, 811, 686, 555, 418, 315, 174, 109, 12, 0],
};

/** Which AYS table a model preset uses. */
export const AYS_TABLE_FOR_MODEL: Readonly<Record<string, AysTableName>> = {
  sd15: 'SD1',
  sdxl: 'SDXL',
  svd: 'SVD',
  'deepfloyd-if': 'IF',
};

export type AysConvention = 'comfyui' | 'a1111';

export interface AysOptions {
  table: AysTableName;
  steps: number;
  denoise?: number;
  convention?: AysConvention;
}

function checkTable(table: string): asserts table is AysTableName {
  if (!Object.prototype.hasOwnProperty.call(AYS_NOISE_LEVELS, table)) {
    throw new RangeError(`unknown AYS table "${table}"; valid: ${Object.keys(AYS_NOISE_LEVELS).join(', ')}`);
  }
}

/** Keep the tail for denoise and zero the last value: the rule shared by ComfyUI's AYS and GITS nodes. */
export function tableTailWithZero(sigmas: readonly number[], steps: number, denoise: number): number[] {
  validateDenoise(denoise);
  let kept = steps;
  if (denoise < 1) {
    if (denoise <= 0) return [];
    kept = roundHalfEven(steps * denoise);
  }
  const out = sigmas.slice(-(kept + 1));
  out[out.length - 1] = 0;
  return out.map(f32);
}

export function alignYourStepsSigmas(options: AysOptions): number[] {
  const { table, steps } = options;
  const denoise = options.denoise ?? 1;
  const convention = options.convention ?? 'comfyui';
  checkTable(table);
  validateSteps(steps);
  validateDenoise(denoise);
  const levels = AYS_NOISE_LEVELS[table];
  if (convention === 'comfyui') {
    const sigmas = steps + 1 === levels.length ? [...levels] : loglinearInterp(levels, steps + 1);
    return tableTailWithZero(sigmas, steps, denoise);
  }
  if (convention === 'a1111') {
    const a1111 = AYS_A1111_NOISE_LEVELS[table] ?? levels;
    const sigmas = steps === a1111.length ? [...a1111] : loglinearInterp(a1111, steps);
    sigmas.push(0);
    if (denoise >= 1) return sigmas.map(f32);
    if (denoise <= 0) return [];
    const kept = Math.floor(Math.min(denoise, 0.999) * steps);
    return sigmas.slice(-(kept + 1)).map(f32);
  }
  throw new RangeError(`unknown AYS convention "${String(convention)}"; valid: comfyui, a1111`);
}

/** NVIDIA's published timesteps interpolated like the sigmas are not defined; this returns the raw 11. */
export function aysTimesteps(table: AysTableName): readonly number[] {
  checkTable(table);
  const ts = AYS_TIMESTEPS[table];
  if (!ts) throw new RangeError(`AYS table ${table} is for a continuous-time model and has no integer timesteps`);
  return ts;
}
