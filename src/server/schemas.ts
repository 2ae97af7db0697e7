/**
 * JSON schemas of every request body. Fastify validates bodies with them (ajv) before a handler runs,
 * and answers 400 naming the field that is wrong. Names (schedulers, samplers, models) are checked
 * against the registries in the handlers, so the message can list the valid ones.
 */
import { SAVED_NAME_PATTERN } from './saved-schedules.js';

/** Limits that keep one request from asking for unbounded work. */
export const limits = {
  /** Largest request body in bytes (answer: 413). */
  bodyBytes: 64 * 1024,
  sigmaSchedulers: 16,
  sigmaStepCounts: 8,
  sigmaMaxSteps: 1000,
  /** Steps one schedule may compute: ComfyUI computes steps / denoise and keeps the last steps + 1. */
  sigmaMaxComputedSteps: 10000,
  /** Schedule steps one /api/sigmas request may compute in all (schedulers x step counts x steps / denoise): what 16 x 8 x 1000 steps at denoise 1 take. */
  sigmaMaxWork: 128000,
  gridSchedulers: 6,
  gridSamplers: 6,
  gridStepCounts: 6,
  gridMaxSteps: 100,
  gridClasses: 10,
  /** Cells in one grid (rows x columns). */
  gridCells: 64,
  promptChars: 2000,
  optimizeMaxSteps: 40,
  optimizeMaxSweeps: 12,
  savedMaxSigmas: 1001,
} as const;

const name = { type: 'string', minLength: 1, maxLength: 80 } as const;

/** A non-empty list of at most `maxItems` items (the grid and schedule axes of /api/sigmas and /api/generate). */
function listOf<T>(maxItems: number, items: T) {
  return { type: 'array', minItems: 1, maxItems, items } as const;
}

/** Step counts: a non-empty list of at most `maxItems` counts of 1 to `maxSteps` steps each. */
const stepCounts = (maxItems: number, maxSteps: number) => listOf(maxItems, { type: 'integer', minimum: 1, maximum: maxSteps } as const);

export const sigmasBody = {
  type: 'object',
  additionalProperties: false,
  required: ['model', 'schedulers', 'steps'],
  properties: {
    model: name,
    schedulers: listOf(limits.sigmaSchedulers, name),
    steps: stepCounts(limits.sigmaStepCounts, limits.sigmaMaxSteps),
    denoise: { type: 'number', exclusiveMinimum: 0, maximum: 1 },
    coeff: { type: 'number', minimum: 0.5, maximum: 2 },
    sampler: name,
  },
} as const;

export const generateBody = {
  type: 'object',
  additionalProperties: false,
  required: ['schedulers', 'samplers', 'steps', 'seed', 'cfg'],
  properties: {
    schedulers: listOf(limits.gridSchedulers, name),
    samplers: listOf(limits.gridSamplers, name),
    steps: stepCounts(limits.gridStepCounts, limits.gridMaxSteps),
    // class indices or names
    classes: listOf(limits.gridClasses, { anyOf: [{ type: 'integer', minimum: 0, maximum: 999 }, name] } as const),
    prompt: { type: 'string', minLength: 1, maxLength: limits.promptChars },
    negativePrompt: { type: 'string', maxLength: limits.promptChars },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295 },
    cfg: { type: 'number', minimum: 0, maximum: 30 },
    width: { type: 'integer', minimum: 16, maximum: 1024, multipleOf: 8 },
    height: { type: 'integer', minimum: 16, maximum: 1024, multipleOf: 8 },
  },
} as const;

export const optimizeBody = {
  type: 'object',
  additionalProperties: false,
  required: ['method', 'target', 'steps'],
  properties: {
    method: { type: 'string', enum: ['teacher', 'ays', 'gits'] },
    target: name,
    /** teacher: the sampler the schedule is for (checked against the registry in the handler). */
    sampler: name,
    steps: { type: 'integer', minimum: 2, maximum: limits.optimizeMaxSteps },
    maxSweeps: { type: 'integer', minimum: 1, maximum: limits.optimizeMaxSweeps },
    seed: { type: 'integer', minimum: 0, maximum: 4294967295 },
  },
} as const;

export const saveScheduleBody = {
  type: 'object',
  additionalProperties: false,
  required: ['name', 'sigmas'],
  properties: {
    name: { type: 'string', pattern: SAVED_NAME_PATTERN },
    sigmas: { type: 'array', minItems: 2, maxItems: limits.savedMaxSigmas, items: { type: 'number', minimum: 0 } },
    model: { type: 'string', maxLength: 80 },
    source: { type: 'string', maxLength: 200 },
  },
} as const;

export const jobParams = {
  type: 'object',
  required: ['id'],
  properties: { id: { type: 'string', pattern: '^[0-9a-f-]{36}$' } },
} as const;

export const jobFileParams = {
  type: 'object',
  required: ['id', 'file'],
  properties: {
    id: { type: 'string', pattern: '^[0-9a-f-]{36}$' },
    // Only names the job itself wrote are served; the pattern keeps separators and dots out anyway.
    file: { type: 'string', pattern: '^(cell-[0-9]{3}|grid)\\.png$' },
  },
} as const;
