import { readFileSync } from 'node:fs';
import { loglinearInterp } from '../core/numerics.js';

/**
 * The JSON an optimizer writes (`ays optimize --out`). `sigmas` is ready to run: descending, steps + 1 values,
 * the last replaced by 0 as ComfyUI and diffusers deploy AYS lists; so `ays sigmas --scheduler custom --from`
 * and getSigmas({scheduler: 'custom'}) read it as is. `table` keeps the paper's convention (ending at sigma_min),
 * `master_sigmas` the finest schedule (40 steps for AYS) from which other step counts are interpolated.
 */
/** The model a schedule was made for (schedule files from `ays optimize --model`). */
export interface ScheduleModelInfo {
  name: string;
  /** sha256 of the weights (the UNet), when known. */
  hash?: string;
  /** Model-sampling kind: 'discrete' (eps/v), 'edm', 'flow' ... */
  sampling: string;
  sigma_min: number;
  sigma_max: number;
}

/** One row of the held-out table a schedule file records. */
export interface HeldOutRow {
  scheduler: string;
  rms: number;
  rmsStdErr: number;
  /** RMS minus the written schedule's RMS, with the paired standard error (absent for the written one). */
  diff?: number;
  diffStdErr?: number;
}

export type ScheduleMethod = 'ays' | 'gits' | 'teacher';

export interface ScheduleFile {
  format: 'ays-schedule';
  version: 1;
  method: ScheduleMethod;
  steps: number;
  sigmas: number[];
  table: number[];
  timesteps?: number[];
  master_sigmas: number[];
  master_timesteps?: number[];
  /** How it was made: target, solver, KLUB variant, samples, seed, stages, stop reason, timings, trace. */
  made_by: Record<string, unknown>;
  /** The model it was made for (absent for testbed schedules and bare lists). */
  model?: ScheduleModelInfo;
  /** The sampler it was optimized for. */
  sampler?: string;
  /** Training noises: seed and count (torch.randn(seed, [samples, ...])), cfg. */
  training?: { seed: number; samples: number; cfg?: number };
  /** The guard's table on held-out noises (seed disjoint from training), best first. */
  held_out?: { seed: number; samples: number; reference: string; rows: HeldOutRow[] };
}

export function makeScheduleFile(fields: Omit<ScheduleFile, 'format' | 'version' | 'sigmas' | 'steps'> & { steps?: number }): ScheduleFile {
  const steps = fields.steps ?? fields.table.length - 1;
  const table = fields.table.length === steps + 1 ? fields.table : Array.from(loglinearInterp(fields.master_sigmas, steps + 1, { exactEnds: true }));
  const sigmas = [...table];
  sigmas[sigmas.length - 1] = 0;
  return {
    format: 'ays-schedule',
    version: 1,
    method: fields.method,
    steps,
    sigmas,
    table,
    timesteps: fields.timesteps,
    master_sigmas: fields.master_sigmas,
    master_timesteps: fields.master_timesteps,
    made_by: fields.made_by,
    ...(fields.model ? { model: fields.model } : {}),
    ...(fields.sampler ? { sampler: fields.sampler } : {}),
    ...(fields.training ? { training: fields.training } : {}),
    ...(fields.held_out ? { held_out: fields.held_out } : {}),
  };
}

/** A teacher schedule file: the sigmas are used as they are (no replacement of the last value). */
export function teacherScheduleFile(fields: {
  sigmas: number[];
  model: ScheduleModelInfo;
  sampler: string;
  training: { seed: number; samples: number; cfg?: number };
  held_out?: ScheduleFile['held_out'];
  made_by: Record<string, unknown>;
  method?: ScheduleMethod;
}): ScheduleFile {
  const sigmas = [...fields.sigmas];
  return {
    format: 'ays-schedule',
    version: 1,
    method: fields.method ?? 'teacher',
    steps: sigmas.length - 1,
    sigmas,
    table: sigmas,
    master_sigmas: sigmas.filter((s) => s > 0),
    made_by: fields.made_by,
    model: fields.model,
    sampler: fields.sampler,
    training: fields.training,
    ...(fields.held_out ? { held_out: fields.held_out } : {}),
  };
}

/**
 * Refuse a schedule file made for another sigma range (another model), naming both ranges, unless `force`.
 * Files without a recorded model are accepted. Relative tolerance 1e-4 (float32 tables).
 */
export function checkScheduleRange(file: ScheduleFile, range: { sigmaMin: number; sigmaMax: number }, options: { force?: boolean; where?: string } = {}): void {
  const m = file.model;
  if (!m || options.force) return;
  const close = (a: number, b: number) => Math.abs(a - b) <= 1e-4 * Math.max(Math.abs(a), Math.abs(b));
  if (!close(m.sigma_min, range.sigmaMin) || !close(m.sigma_max, range.sigmaMax)) {
    throw new RangeError(
      `${options.where ?? 'schedule file'} was made for ${m.name} with sigmas ${fmtRange(m.sigma_min, m.sigma_max)}, ` +
        `but this model's range is ${fmtRange(range.sigmaMin, range.sigmaMax)}; pass --force to use it anyway`,
    );
  }
}

function fmtRange(a: number, b: number): string {
  return `[${Number(a.toPrecision(6))}, ${Number(b.toPrecision(6))}]`;
}

/** Read a schedule file from disk for a model: parse, check the sigma range, and return it. */
export function loadScheduleFileFor(path: string, range: { sigmaMin: number; sigmaMax: number }, options: { force?: boolean } = {}): ScheduleFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new RangeError(`cannot read schedule file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const file = readScheduleFile(text, path);
  checkScheduleRange(file, range, { ...options, where: path });
  return file;
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

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function modelInfo(v: unknown, where: string): { model: ScheduleModelInfo } | undefined {
  if (v === undefined) return undefined;
  if (!isObject(v)) throw new TypeError(`${where}: "model" must be an object`);
  const { name, hash, sampling, sigma_min, sigma_max } = v;
  if (typeof sigma_min !== 'number' || typeof sigma_max !== 'number' || !(sigma_min >= 0) || !(sigma_max > sigma_min)) {
    throw new TypeError(`${where}: "model" needs numbers sigma_min < sigma_max`);
  }
  return {
    model: {
      name: typeof name === 'string' ? name : '?',
      ...(typeof hash === 'string' ? { hash } : {}),
      sampling: typeof sampling === 'string' ? sampling : '?',
      sigma_min,
      sigma_max,
    },
  };
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
    method: v.method === 'gits' || v.method === 'teacher' ? v.method : 'ays',
    steps: sigmas.length - 1,
    sigmas,
    table,
    timesteps: Array.isArray(v.timesteps) ? (v.timesteps as number[]) : undefined,
    master_sigmas: master,
    master_timesteps: Array.isArray(v.master_timesteps) ? (v.master_timesteps as number[]) : undefined,
    made_by: typeof v.made_by === 'object' && v.made_by !== null ? (v.made_by as Record<string, unknown>) : {},
    ...(modelInfo(v.model, where) ?? {}),
    ...(typeof v.sampler === 'string' ? { sampler: v.sampler } : {}),
    ...(isObject(v.training) ? { training: v.training as ScheduleFile['training'] } : {}),
    ...(isObject(v.held_out) ? { held_out: v.held_out as ScheduleFile['held_out'] } : {}),
  };
}

/**
 * The descending, 0-ended sigma list for `steps` steps: the file's own list when the count matches, else the
 * log-linear interpolation of the master schedule to steps + 1 values with the last replaced by 0 (spec §5).
 */
export function sigmasForSteps(file: ScheduleFile, steps: number): number[] {
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`steps must be a positive integer, got ${steps}`);
  if (steps === file.steps) return [...file.sigmas];
  const out = Array.from(loglinearInterp(file.master_sigmas, steps + 1, { exactEnds: true }));
  out[out.length - 1] = 0;
  return out;
}
