import { loglinearInterp } from './search.js';

/**
 * The JSON an optimizer writes (`ays optimize --out`). `sigmas` is ready to run: descending, steps + 1 values,
 * the last replaced by 0 as ComfyUI and diffusers deploy AYS lists; so `ays sigmas --scheduler custom --from`
 * and getSigmas({scheduler: 'custom'}) read it as is. `table` keeps the paper's convention (ending at sigma_min),
 * `master_sigmas` the finest schedule (40 steps for AYS) from which other step counts are interpolated.
 */
export interface ScheduleFile {
  format: 'ays-schedule';
  version: 1;
  method: 'ays' | 'gits';
  steps: number;
  sigmas: number[];
  table: number[];
  timesteps?: number[];
  master_sigmas: number[];
  master_timesteps?: number[];
  /** How it was made: target, solver, KLUB variant, samples, seed, stages, stop reason, timings, trace. */
  made_by: Record<string, unknown>;
}

export function makeScheduleFile(fields: Omit<ScheduleFile, 'format' | 'version' | 'sigmas' | 'steps'> & { steps?: number }): ScheduleFile {
  const steps = fields.steps ?? fields.table.length - 1;
  const table = fields.table.length === steps + 1 ? fields.table : Array.from(loglinearInterp(fields.master_sigmas, steps + 1));
  const sigmas = [...table];
  sigmas[sigmas.length - 1] = 0;
  return { format: 'ays-schedule', version: 1, method: fields.method, steps, sigmas, table, timesteps: fields.timesteps, master_sigmas: fields.master_sigmas, master_timesteps: fields.master_timesteps, made_by: fields.made_by };
}

function numbers(value: unknown, what: string, where: string): number[] {
  if (!Array.isArray(value) || value.length < 2 || value.some((v) => typeof v !== 'number' || !Number.isFinite(v))) {
    throw new TypeError(`${where}: "${what}" must be an array of at least two finite numbers`);
  }
  for (let i = 1; i < value.length; i++) {
    if (!(value[i] < value[i - 1])) throw new RangeError(`${where}: "${what}" must be strictly decreasing (index ${i})`);
  }
  return value as number[];
}

/** Parse and check a schedule file (also accepts a bare sigma array). */
export function readScheduleFile(text: string, where = 'schedule file'): ScheduleFile {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TypeError(`${where}: not valid JSON (${err instanceof Error ? err.message : String(err)})`);
  }
  if (Array.isArray(value)) {
    const sigmas = numbers(value, 'sigmas', where);
    return makeScheduleFile({ method: 'ays', table: sigmas, master_sigmas: sigmas.filter((s) => s > 0), made_by: { source: where } });
  }
  if (value === null || typeof value !== 'object') throw new TypeError(`${where}: expected an object with a "sigmas" array`);
  const v = value as Record<string, unknown>;
  const sigmas = numbers(v.sigmas, 'sigmas', where);
  const table = v.table === undefined ? sigmas : numbers(v.table, 'table', where);
  const master = v.master_sigmas === undefined ? table.filter((s) => s > 0) : numbers(v.master_sigmas, 'master_sigmas', where);
  return {
    format: 'ays-schedule',
    version: 1,
    method: v.method === 'gits' ? 'gits' : 'ays',
    steps: sigmas.length - 1,
    sigmas,
    table,
    timesteps: Array.isArray(v.timesteps) ? (v.timesteps as number[]) : undefined,
    master_sigmas: master,
    master_timesteps: Array.isArray(v.master_timesteps) ? (v.master_timesteps as number[]) : undefined,
    made_by: typeof v.made_by === 'object' && v.made_by !== null ? (v.made_by as Record<string, unknown>) : {},
  };
}

/**
 * The descending, 0-ended sigma list for `steps` steps: the file's own list when the count matches, else the
 * log-linear interpolation of the master schedule to steps + 1 values with the last replaced by 0 (spec §5).
 */
export function sigmasForSteps(file: ScheduleFile, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  if (steps === file.steps) return [...file.sigmas];
  const out = Array.from(loglinearInterp(file.master_sigmas, steps + 1));
  out[out.length - 1] = 0;
  return out;
}
