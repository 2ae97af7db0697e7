/**
 * The bundled Fashion-MNIST model folder: where it is, what files it must hold, and its card.
 *
 * Folder layout (models/fashion-mnist/):
 *   card.json                 classes, noise schedule, prediction type, I/O names, recommended CFG
 *   unet.onnx                 eps-prediction UNet: sample [B,1,28,28] f32, timestep [B] f32, class_label [B] i64 -> eps
 *   classifier.onnx           evaluator: image [B,1,28,28] in [-1,1] -> logits [B,10], features [B,F]
 *   test-features.json        classifier-feature mean/covariance of the real test set (for FID on features)
 *   teacher-schedules.json    per-sampler, per-step-count optimized schedules (optional; --scheduler optimized
 *                             picks the one for the sampler and step count)
 *   optimized-schedule.json   AYS schedule optimized for this model (optional; --scheduler optimized's fallback)
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ModelError } from '../runtime/session.js';
import { validateSigmas } from '../core/validate.js';

export const CARD_FILE = 'card.json';
export const UNET_FILE = 'unet.onnx';
export const CLASSIFIER_FILE = 'classifier.onnx';
export const TEST_FEATURES_FILE = 'test-features.json';
export const OPTIMIZED_SCHEDULE_FILE = 'optimized-schedule.json';
export const TEACHER_SCHEDULES_FILE = 'teacher-schedules.json';

/** The package root: the nearest folder above this module whose package.json is named "ays". */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'ays') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const up = dirname(dir);
    if (up === dir) throw new ModelError('cannot find the ays package folder (package.json named "ays") above ' + fileURLToPath(import.meta.url));
    dir = up;
  }
}

/** The bundled model folder, models/fashion-mnist inside the package (found relative to this module, not the cwd). */
export function defaultModelDir(): string {
  return join(packageRoot(), 'models', 'fashion-mnist');
}

/** The schedule the model was trained with (ComfyUI/diffusers terms). */
export interface CardSchedule {
  betaSchedule: 'scaled_linear' | 'linear';
  betaStart: number;
  betaEnd: number;
  timesteps: number;
  prediction: 'eps';
}

export interface ModelCard {
  name: string;
  /** Class names as the card displays them, index = class label. */
  classes: string[];
  /** The names to type on the command line (card's class_cli_names, else the display names lower-cased). */
  classKeys: string[];
  /** The "no class" label used for classifier-free guidance. */
  nullClass: number;
  schedule: CardSchedule;
  /** Image size (square, one channel). */
  resolution: number;
  channels: number;
  recommendedCfg: number;
  inputs: { sample: string; timestep: string; classLabel: string };
  output: string;
  /** The card as parsed, for fields this reader does not interpret (metrics, training details). */
  raw: Record<string, unknown>;
}

function readJson(path: string, label: string): unknown {
  if (!existsSync(path)) throw new ModelError(`${label}: file not found (${path})`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as unknown;
  } catch (err) {
    throw new ModelError(`${label}: not valid JSON (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** First defined value among several possible keys (the card is written by the training tool; accept its spellings). */
function pick(obj: Record<string, unknown>, ...keys: string[]): unknown {
  for (const k of keys) {
    if (obj[k] !== undefined) return obj[k];
  }
  return undefined;
}

function numberField(obj: Record<string, unknown>, fallback: number, label: string, ...keys: string[]): number {
  const v = pick(obj, ...keys);
  if (v === undefined) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelError(`${label}: "${keys[0]}" must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/** Read and check card.json of a class-conditional model folder. */
export function readCard(dir: string): ModelCard {
  const path = join(dir, CARD_FILE);
  const label = `${CARD_FILE} in ${dir}`;
  const raw = readJson(path, label);
  if (!isRecord(raw)) throw new ModelError(`${label}: expected a JSON object`);

  const classesValue = pick(raw, 'classes', 'class_names', 'classNames');
  if (!Array.isArray(classesValue) || classesValue.length === 0 || !classesValue.every((c) => typeof c === 'string' && c.trim() !== '')) {
    throw new ModelError(`${label}: "classes" must be a non-empty list of class names`);
  }
  const classes = classesValue as string[];
  const keysValue = pick(raw, 'class_cli_names', 'class_keys');
  const classKeys =
    Array.isArray(keysValue) && keysValue.length === classes.length && keysValue.every((k) => typeof k === 'string' && k.trim() !== '')
      ? (keysValue as string[])
      : classes.map((c) => c.toLowerCase());
  const nullClass = numberField(raw, classes.length, label, 'null_class', 'unconditional_class', 'nullClass', 'uncond_label');
  if (!Number.isInteger(nullClass) || nullClass < 0) throw new ModelError(`${label}: "null_class" must be a non-negative integer`);

  const s = isRecord(raw.schedule) ? raw.schedule : isRecord(raw.noise_schedule) ? raw.noise_schedule : {};
  const betaSchedule = (pick(s, 'beta_schedule', 'betaSchedule') ?? 'scaled_linear') as string;
  if (betaSchedule !== 'scaled_linear' && betaSchedule !== 'linear') {
    throw new ModelError(`${label}: beta_schedule "${betaSchedule}" is not supported (scaled_linear or linear)`);
  }
  const prediction = (pick(s, 'prediction', 'prediction_type') ?? pick(raw, 'prediction', 'prediction_type') ?? 'eps') as string;
  if (prediction !== 'eps' && prediction !== 'epsilon') {
    throw new ModelError(`${label}: prediction "${prediction}" is not supported; the class-conditional pipeline runs eps-prediction models`);
  }
  const schedule: CardSchedule = {
    betaSchedule,
    betaStart: numberField(s, 0.00085, label, 'beta_start', 'linear_start', 'betaStart'),
    betaEnd: numberField(s, 0.012, label, 'beta_end', 'linear_end', 'betaEnd'),
    timesteps: numberField(s, 1000, label, 'num_train_timesteps', 'timesteps', 'steps'),
    prediction: 'eps',
  };

  const io = isRecord(raw.io) ? raw.io : isRecord(raw.inputs) ? { inputs: raw.inputs } : {};
  const ins = isRecord(io.inputs) ? io.inputs : {};
  const nameOf = (v: unknown, fallback: string): string => (typeof v === 'string' ? v : isRecord(v) && typeof v.name === 'string' ? v.name : fallback);
  const cfgValue = pick(raw, 'recommended_cfg', 'recommendedCfg', 'cfg');
  const cfgObj = isRecord(cfgValue) ? cfgValue : undefined;
  const recommendedCfg = cfgObj ? numberField(cfgObj, 3, label, 'default', 'recommended', 'value') : cfgValue === undefined ? 3 : Number(cfgValue);
  if (!Number.isFinite(recommendedCfg)) throw new ModelError(`${label}: "recommended_cfg" must be a number`);

  return {
    name: typeof raw.name === 'string' ? raw.name : 'fashion-mnist',
    classes,
    classKeys,
    nullClass,
    schedule,
    resolution: numberField(raw, 28, label, 'resolution', 'image_size'),
    channels: numberField(raw, 1, label, 'channels', 'in_channels'),
    recommendedCfg,
    inputs: {
      sample: nameOf(ins.sample, 'sample'),
      timestep: nameOf(ins.timestep, 'timestep'),
      classLabel: nameOf(ins.class_label ?? ins.classLabel, 'class_label'),
    },
    output: nameOf(isRecord(io.outputs) ? io.outputs.eps : io.output, 'eps'),
    raw,
  };
}

/** A schedule optimized for one model, carried next to it (optimized-schedule.json). */
export interface CarriedSchedule {
  /** The optimized sigmas for `steps` steps, descending, last one as the optimizer left it. */
  sigmas: number[];
  /** The master (reference) schedule that other step counts interpolate from, descending (AYS's 10-step list style). */
  masterSigmas: number[];
  /** How it was made (optimizer, data, Monte Carlo samples, ...). */
  description: string;
  source: string;
}

function sigmaList(v: unknown, what: string, label: string): number[] {
  if (!Array.isArray(v) || v.length < 2 || !v.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)) {
    throw new ModelError(`${label}: "${what}" must be a list of at least 2 non-negative numbers`);
  }
  for (let i = 1; i < v.length; i++) {
    if (!((v[i] as number) < (v[i - 1] as number))) throw new ModelError(`${label}: "${what}" must be strictly decreasing (entry ${i})`);
  }
  return v as number[];
}

/** The model's carried optimized schedule, or undefined when the folder has none (the file is absent). */
export function readCarriedSchedule(dir: string): CarriedSchedule | undefined {
  const path = join(dir, OPTIMIZED_SCHEDULE_FILE);
  if (!existsSync(path)) return undefined;
  const label = `${OPTIMIZED_SCHEDULE_FILE} in ${dir}`;
  const raw = readJson(path, label);
  if (!isRecord(raw)) throw new ModelError(`${label}: expected a JSON object`);
  const master = sigmaList(pick(raw, 'master_sigmas', 'sigmas'), 'master_sigmas', label);
  const sigmas = raw.sigmas === undefined ? master : sigmaList(raw.sigmas, 'sigmas', label);
  const how = pick(raw, 'how_made', 'description');
  return {
    sigmas,
    masterSigmas: master,
    description: typeof how === 'string' ? how : isRecord(how) ? JSON.stringify(how) : '',
    source: path,
  };
}

/** Check that a model folder exists and holds the files a use needs; the message names what is missing. */
export function checkModelFolder(dir: string, files: readonly string[]): string {
  const abs = resolve(dir);
  if (!existsSync(abs)) throw new ModelError(`model folder not found: ${abs}`);
  if (!statSync(abs).isDirectory()) throw new ModelError(`not a model folder (it is a file): ${abs}`);
  const missing = files.filter((f) => !existsSync(join(abs, f)));
  if (missing.length > 0) {
    throw new ModelError(
      `model folder ${abs} is missing ${missing.join(', ')}` +
        (abs === resolve(defaultModelDir()) ? ' (the bundled model files ship with the package; reinstall or re-clone it)' : ''),
    );
  }
  return abs;
}

/** One carried teacher-matching schedule: the sigmas `sampler` runs for `steps` steps (steps + 1 values). */
export interface CarriedTeacherSchedule {
  sampler: string;
  steps: number;
  sigmas: number[];
  method: string;
  /** Held-out paired RMS of this schedule and of the best shipped one at the same step count. */
  heldOut?: { rms: number; rmsStdErr: number; bestShipped: string; bestShippedRms: number };
}

/** teacher-schedules.json: schedules made by `npm run bench:optimize` for each sampler and step count. */
export interface TeacherScheduleSet {
  model: { name: string; sigma_min: number; sigma_max: number };
  schedules: CarriedTeacherSchedule[];
}

const teacherCache = new Map<string, TeacherScheduleSet | null>();

/** Read the folder's teacher schedule set (null when the folder has none); errors name the file. */
export function readTeacherSchedules(dir: string): TeacherScheduleSet | null {
  const path = join(resolve(dir), TEACHER_SCHEDULES_FILE);
  if (teacherCache.has(path)) return teacherCache.get(path)!;
  if (!existsSync(path)) {
    teacherCache.set(path, null);
    return null;
  }
  const raw = readJson(path, path);
  const v = raw as Partial<TeacherScheduleSet> | null;
  if (!isRecord(v) || !Array.isArray(v.schedules) || !isRecord(v.model)) throw new ModelError(`${path}: expected { model, schedules: [...] }`);
  for (const s of v.schedules) {
    if (!isRecord(s) || typeof s.sampler !== 'string' || !Number.isInteger(s.steps)) throw new ModelError(`${path}: every schedule needs a sampler and steps`);
    validateSigmas(s.sigmas as number[], `${path} (${s.sampler}, ${s.steps} steps)`);
    if ((s.sigmas as number[]).length !== (s.steps as number) + 1) throw new ModelError(`${path}: ${s.sampler} ${s.steps} steps has ${(s.sigmas as number[]).length} sigmas`);
  }
  const set = v as TeacherScheduleSet;
  teacherCache.set(path, set);
  return set;
}

/** The carried teacher schedule of a set for this sampler and step count (a copy), if it has one. */
export function teacherSigmasIn(set: TeacherScheduleSet | null | undefined, sampler: string | undefined, steps: number): number[] | undefined {
  const s = sampler === undefined ? undefined : set?.schedules.find((e) => e.sampler === sampler && e.steps === steps);
  return s ? [...s.sigmas] : undefined;
}

/** The carried teacher schedule for this sampler and step count, if the folder has one. */
export function carriedTeacherSigmas(dir: string, sampler: string, steps: number): number[] | undefined {
  return teacherSigmasIn(readTeacherSchedules(dir), sampler, steps);
}
