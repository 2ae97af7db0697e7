/**
 * The sigma-range check for schedule files used on a model (`ays sigmas/plot --from`): a schedule made for
 * another sigma range (e.g. an EDM testbed's 0.002..80 on SD1.5's 0.0292..14.61) maps every step above the
 * model's sigma_max to its last timestep, so it is refused, naming both ranges, unless --force.
 *
 * The range a file was made for is read from what it records (`model.sigma_min/sigma_max`, or the same keys in
 * `made_by`); a file that records nothing is judged by its own list, which must then lie inside the model's range.
 */
import type { ModelSampling } from '../model-sampling/types.js';
import { UsageError } from './errors.js';

/** Relative slack for comparing ranges (the presets print 4-6 digits). */
const RANGE_TOLERANCE = 2e-3;

export interface SigmaRange {
  sigmaMin: number;
  sigmaMax: number;
  /** true when the file recorded the range it was made for; false when read off its list. */
  recorded: boolean;
}

function recordedRange(value: unknown): { sigmaMin: number; sigmaMax: number } | undefined {
  if (value === null || typeof value !== 'object') return undefined;
  const v = value as Record<string, unknown>;
  const lo = v.sigma_min ?? v.sigmaMin;
  const hi = v.sigma_max ?? v.sigmaMax;
  return typeof lo === 'number' && typeof hi === 'number' && lo > 0 && hi > lo ? { sigmaMin: lo, sigmaMax: hi } : undefined;
}

/** The sigma range a parsed schedule file was made for. */
export function scheduleRange(file: unknown, sigmas: readonly number[]): SigmaRange {
  const obj = file !== null && typeof file === 'object' && !Array.isArray(file) ? (file as Record<string, unknown>) : {};
  const recorded = recordedRange(obj.model) ?? recordedRange(obj.made_by);
  if (recorded) return { ...recorded, recorded: true };
  const positive = sigmas.filter((s) => s > 0);
  return { sigmaMin: Math.min(...positive), sigmaMax: Math.max(...positive), recorded: false };
}

const fmt = (x: number) => String(Number(x.toPrecision(4)));

/** Whether a schedule made for `range` can run on a model with this sigma range. */
export function rangeFits(range: SigmaRange, ms: Pick<ModelSampling, 'sigmaMin' | 'sigmaMax'>): boolean {
  const near = (a: number, b: number) => Math.abs(a - b) <= RANGE_TOLERANCE * Math.max(a, b);
  return range.recorded
    ? near(range.sigmaMin, ms.sigmaMin) && near(range.sigmaMax, ms.sigmaMax)
    : range.sigmaMax <= ms.sigmaMax * (1 + RANGE_TOLERANCE) && range.sigmaMin >= ms.sigmaMin * (1 - RANGE_TOLERANCE);
}

/** `spans sigma 0.2..80, but sd15 has sigma 0.02917..14.61` */
export function describeMismatch(range: SigmaRange, ms: Pick<ModelSampling, 'sigmaMin' | 'sigmaMax'>, modelName: string): string {
  const what = range.recorded ? 'was made for sigma' : 'spans sigma';
  return `${what} ${fmt(range.sigmaMin)}..${fmt(range.sigmaMax)}, but ${modelName} has sigma ${fmt(ms.sigmaMin)}..${fmt(ms.sigmaMax)}`;
}

/** Throws a one-line UsageError when `range` does not fit the model's (unless `force`). */
export function checkScheduleRange(where: string, range: SigmaRange, ms: ModelSampling, modelName: string, force: boolean): void {
  if (force || rangeFits(range, ms)) return;
  throw new UsageError(`${where} ${describeMismatch(range, ms, modelName)}; it was made for another model (pass --force to use it anyway)`);
}
