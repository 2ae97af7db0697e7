/**
 * The bundled model's per-sampler optimized schedules (models/fashion-mnist/teacher-schedules.json): teacher-
 * matching schedules made by `npm run bench:optimize` for each sampler and step count, with their held-out
 * numbers. `carriedTeacherSigmas` picks the one for a sampler and step count (undefined when there is none; the
 * caller then falls back to the model's single optimized-schedule.json).
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validateSigmas } from '../core/validate.js';

export const TEACHER_SCHEDULES_FILE = 'teacher-schedules.json';

export interface CarriedTeacherSchedule {
  sampler: string;
  steps: number;
  sigmas: number[];
  method: string;
  /** Held-out paired RMS of this schedule and of the best shipped one at the same step count. */
  heldOut?: { rms: number; rmsStdErr: number; bestShipped: string; bestShippedRms: number };
}

export interface TeacherScheduleSet {
  model: { name: string; sigma_min: number; sigma_max: number };
  schedules: CarriedTeacherSchedule[];
}

const cache = new Map<string, TeacherScheduleSet | null>();

/** Read the folder's schedule set (null when the folder has none); errors name the file. */
export function readTeacherSchedules(dir: string): TeacherScheduleSet | null {
  if (cache.has(dir)) return cache.get(dir)!;
  const path = join(dir, TEACHER_SCHEDULES_FILE);
  if (!existsSync(path)) {
    cache.set(dir, null);
    return null;
  }
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new Error(`${path}: not valid JSON (${(err as Error).message.split('\n')[0]})`);
  }
  const v = raw as Partial<TeacherScheduleSet>;
  if (!v || !Array.isArray(v.schedules) || !v.model) throw new Error(`${path}: expected { model, schedules: [...] }`);
  for (const s of v.schedules) {
    if (typeof s.sampler !== 'string' || !Number.isInteger(s.steps)) throw new Error(`${path}: every schedule needs a sampler and steps`);
    validateSigmas(s.sigmas, `${path} (${s.sampler}, ${s.steps} steps)`);
    if (s.sigmas.length !== s.steps + 1) throw new Error(`${path}: ${s.sampler} ${s.steps} steps has ${s.sigmas.length} sigmas`);
  }
  const set = v as TeacherScheduleSet;
  cache.set(dir, set);
  return set;
}

/** The carried teacher schedule for this sampler and step count, if the folder has one. */
export function carriedTeacherSigmas(dir: string, sampler: string, steps: number): number[] | undefined {
  const set = readTeacherSchedules(dir);
  const s = set?.schedules.find((e) => e.sampler === sampler && e.steps === steps);
  return s ? [...s.sigmas] : undefined;
}
