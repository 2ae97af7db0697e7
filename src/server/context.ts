/** What every group of studio routes shares: the app, the registries, the queue, the stores, the model. */
import type { FastifyInstance } from 'fastify';
import type { ModelSampling } from '../model-sampling/types.js';
import type { Pipeline } from '../pipelines/types.js';
import { STUDIO_MODEL, type StudioBackend } from './backend.js';
import { HttpError } from './http.js';
import { JobQueue, QueueFullError, type Job } from './jobs.js';
import type { OutputFolder } from './output.js';
import { SAVED_PREFIX, type SavedSchedules } from './saved-schedules.js';
import type { SigmasThread } from './sigmas-thread.js';

/** Seconds a client is asked to wait after a 429 (one small grid takes about this long). */
export const RETRY_AFTER_SECONDS = 10;

export interface StudioContext {
  app: FastifyInstance;
  backend: StudioBackend;
  queue: JobQueue;
  saved: SavedSchedules;
  output: OutputFolder;
  sigmasThread: SigmasThread;
  /** Files each job wrote, by job id then file name (the only files the job routes serve). */
  jobFiles: Map<string, Map<string, string>>;
}

export function unknownName(kind: string, value: string, known: readonly string[]): HttpError {
  return new HttpError(400, `unknown ${kind} "${value}"; valid ${kind}s: ${known.join(', ')}`);
}

/** The studio's pipeline; a model that cannot be loaded is a 503 that says why. */
export async function studioPipeline(ctx: StudioContext): Promise<Pipeline> {
  try {
    return await ctx.backend.pipeline();
  } catch (err) {
    throw new HttpError(503, `the studio model could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Schedulers only the studio model has: `optimized` when it carries an optimized schedule (the bundled model may). */
export function modelSchedulers(pipeline: Pipeline): readonly string[] {
  return pipeline.capabilities.extraSchedulers;
}

/** Class names to show ("T-shirt/top"), for class-conditional models. */
export function pipelineClassNames(pipeline: Pipeline): readonly string[] | undefined {
  return pipeline.capabilities.conditioning === 'class' ? pipeline.capabilities.classNames : undefined;
}

export function describeModelSampling(name: string, ms: ModelSampling, description?: string) {
  return { name, kind: ms.kind, prediction: ms.prediction, sigmaMin: ms.sigmaMin, sigmaMax: ms.sigmaMax, description: description ?? ms.name };
}

/** The model sampling a request names: a preset, or the studio model's own. */
export async function resolveModel(ctx: StudioContext, name: string): Promise<ModelSampling> {
  if (name === STUDIO_MODEL) return (await studioPipeline(ctx)).modelSampling;
  if (!ctx.backend.modelSamplingNames().includes(name)) throw unknownName('model', name, [...ctx.backend.modelSamplingNames(), STUDIO_MODEL]);
  return ctx.backend.modelSampling(name);
}

/** Names that look like `saved:x` resolve against the saved store; `extra` are the studio model's own. */
export function checkSchedulers(ctx: StudioContext, names: readonly string[], extra: readonly string[] = []): void {
  const { backend, saved } = ctx;
  for (const n of names) {
    const known = n.startsWith(SAVED_PREFIX) ? saved.get(n.slice(SAVED_PREFIX.length)) !== undefined : backend.schedulerNames().includes(n) || extra.includes(n);
    if (!known) throw unknownName('scheduler', n, [...backend.schedulerNames(), ...extra, ...saved.list().map((s) => SAVED_PREFIX + s.name)]);
  }
}

/** Queue a job; a full queue is a 429 with Retry-After. */
export function submitJob(ctx: StudioContext, kind: string, request: unknown, run: Parameters<JobQueue['submit']>[2], onFinal?: () => void): Job {
  try {
    return ctx.queue.submit(kind, request, run, onFinal);
  } catch (err) {
    if (err instanceof QueueFullError) throw new HttpError(429, err.message, { 'retry-after': String(RETRY_AFTER_SECONDS) });
    throw err;
  }
}
