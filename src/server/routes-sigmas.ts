/**
 * Schedules view routes: `POST /api/sigmas` (every scheduler x step count on a model sampling, each result
 * with its own error when that combination does not exist) and the saved-schedule store.
 */
import type { ModelSampling } from '../model-sampling/types.js';
import type { Pipeline } from '../pipelines/types.js';
import { STUDIO_MODEL } from './backend.js';
import { HttpError } from './http.js';
import { SAVED_PREFIX, NameTakenError, type SavedSchedule } from './saved-schedules.js';
import { limits, saveScheduleBody, sigmasBody } from './schemas.js';
import { logSnr, loglinearResample, scheduleExports } from './schedule-views.js';
import { ScheduleError } from './sigmas-thread.js';
import { checkSchedulers, describeModelSampling, modelSchedulers, resolveModel, studioPipeline, type StudioContext } from './context.js';
import { describeMismatch, rangeFits, scheduleRange } from '../cli/schedule-range.js';

interface SigmasBody {
  model: string;
  schedulers: string[];
  steps: number[];
  denoise?: number;
  coeff?: number;
  /** The model's own schedules (the bundled model's 'optimized') can depend on the sampler they were made for. */
  sampler?: string;
}

/** Steps a schedule computes before keeping the last ones: ComfyUI's KSampler rule floor(steps / denoise). */
export function computedSteps(steps: number, denoise = 1): number {
  return Math.ceil(steps / denoise);
}

/** Refuses requests whose work is unbounded (tiny denoise, many combinations), before computing anything. */
export function checkSigmasWork(body: SigmasBody): void {
  let total = 0;
  for (const steps of body.steps) {
    const n = computedSteps(steps, body.denoise);
    if (n > limits.sigmaMaxComputedSteps) {
      throw new HttpError(
        400,
        `denoise ${body.denoise} at ${steps} steps means computing ${n} schedule steps (steps / denoise); at most ${limits.sigmaMaxComputedSteps}: raise denoise or lower steps`,
      );
    }
    total += n * body.schedulers.length;
  }
  if (total > limits.sigmaMaxWork) {
    throw new HttpError(400, `this request computes ${total} schedule steps (schedulers x step counts x steps / denoise); at most ${limits.sigmaMaxWork}: ask for fewer`);
  }
}

/** Whether a saved schedule fits a model's sigma range; undefined when it does, else why not. */
export function savedMismatch(entry: SavedSchedule, ms: ModelSampling, modelName: string): string | undefined {
  const range = scheduleRange(entry, entry.sigmas);
  return rangeFits(range, ms) ? undefined : `${SAVED_PREFIX}${entry.name} ${describeMismatch(range, ms, modelName)}`;
}

export function savedSummary(entry: SavedSchedule) {
  const range = scheduleRange(entry, entry.sigmas);
  return {
    name: SAVED_PREFIX + entry.name,
    steps: entry.sigmas.length - 1,
    model: entry.model,
    sigmaMin: range.sigmaMin,
    sigmaMax: range.sigmaMax,
    source: entry.source,
    createdAt: entry.createdAt,
  };
}

type SigmasResult = { scheduler: string; steps: number; sigmas: number[]; logSnr: Array<number | null>; exports: ReturnType<typeof scheduleExports> } | { scheduler: string; steps: number; error: string };

/** One scheduler at one step count; a combination the library refuses is an error result, not a failed request. */
async function oneSchedule(ctx: StudioContext, body: SigmasBody, model: ModelSampling, pipeline: Pipeline | undefined, scheduler: string, steps: number): Promise<number[]> {
  if (scheduler.startsWith(SAVED_PREFIX)) {
    const entry = ctx.saved.get(scheduler.slice(SAVED_PREFIX.length))!;
    const mismatch = savedMismatch(entry, model, body.model);
    if (mismatch) throw new ScheduleError(`${mismatch}: saved for another model`);
    return loglinearResample(entry.sigmas, steps);
  }
  if (pipeline && modelSchedulers(pipeline).includes(scheduler)) {
    return pipeline.schedule({ scheduler, steps, ...(body.sampler !== undefined ? { sampler: body.sampler } : {}) });
  }
  const request = { scheduler, steps, denoise: body.denoise, coeff: body.coeff };
  // Preset models are computed on the schedule thread; the studio model's own sampling here (same bounds).
  if (body.model !== STUDIO_MODEL) return ctx.sigmasThread.compute({ model: body.model, ...request });
  try {
    return ctx.backend.sigmas({ model, ...request });
  } catch (err) {
    throw new ScheduleError(err instanceof Error ? err.message : String(err));
  }
}

export function registerSigmasRoutes(ctx: StudioContext): void {
  const { app, saved } = ctx;

  app.post<{ Body: SigmasBody }>('/api/sigmas', { schema: { body: sigmasBody } }, async (request) => {
    const body = request.body;
    const pipeline = body.model === STUDIO_MODEL ? await studioPipeline(ctx) : undefined;
    checkSchedulers(ctx, body.schedulers, pipeline ? modelSchedulers(pipeline) : []);
    const model = await resolveModel(ctx, body.model);
    checkSigmasWork(body);
    const results: SigmasResult[] = [];
    for (const scheduler of body.schedulers) {
      for (const steps of body.steps) {
        try {
          const sigmas = await oneSchedule(ctx, body, model, pipeline, scheduler, steps);
          if (sigmas.some((s) => !Number.isFinite(s))) throw new ScheduleError('produced a non-finite sigma');
          results.push({ scheduler, steps, sigmas, logSnr: sigmas.map((s) => logSnr(model, s)), exports: scheduleExports(model, sigmas) });
        } catch (err) {
          if (!(err instanceof ScheduleError || err instanceof RangeError || err instanceof TypeError)) throw err;
          results.push({ scheduler, steps, error: `${scheduler} at ${steps} steps: ${err.message}` });
        }
      }
    }
    // Nothing could be built: a plain 400 with the first reason. Otherwise the view plots what works.
    const failed = results.filter((r): r is Extract<SigmasResult, { error: string }> => 'error' in r);
    if (failed.length === results.length) throw new HttpError(400, failed[0]!.error);
    return { model: describeModelSampling(body.model, model), results };
  });

  app.get('/api/schedules/saved', async () => ({ saved: saved.list() }));

  app.post<{ Body: { name: string; sigmas: number[]; model?: string; source?: string } }>(
    '/api/schedules/saved',
    { schema: { body: saveScheduleBody } },
    async (request, reply) => {
      const { name, sigmas, model, source } = request.body;
      for (let i = 1; i < sigmas.length; i++) {
        if (!(sigmas[i]! < sigmas[i - 1]!)) throw new HttpError(400, `sigmas must decrease strictly; sigmas[${i}] = ${sigmas[i]} follows ${sigmas[i - 1]}`);
      }
      if (sigmas.slice(0, -1).some((s) => s === 0)) throw new HttpError(400, 'only the last sigma may be 0');
      try {
        const entry = await saved.save({ name, sigmas, model: model ?? '', source: source ?? 'saved from the studio' });
        return reply.status(201).send({ saved: entry, scheduler: SAVED_PREFIX + entry.name });
      } catch (err) {
        if (err instanceof NameTakenError) throw new HttpError(409, err.message);
        throw err;
      }
    },
  );
}
