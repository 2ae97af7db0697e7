/**
 * Optimize view routes: list what can be optimized, start a teacher-matching, AYS or GITS run as a job whose
 * `sweep` events carry the KLUB (AYS) and the metric, and return the schedule when it finishes.
 */
import type { FastifyInstance } from 'fastify';
import type { Job, JobContext, JobQueue } from './jobs.js';
import type { OutputFolder } from './output.js';
import type { SavedSchedules } from './saved-schedules.js';
import { optimizeBody, limits } from './schemas.js';
import { samplerNames } from '../samplers/registry.js';

export type OptimizeMethod = 'teacher' | 'ays' | 'gits';

export interface OptimizeTarget {
  name: string;
  description: string;
  /** Model sampling name the resulting schedule belongs to (stored with a saved schedule). */
  model: string;
  methods: OptimizeMethod[];
}

export interface OptimizeRequest {
  method: OptimizeMethod;
  target: string;
  steps: number;
  /** teacher: the sampler the schedule is for (default euler); the other methods ignore it. */
  sampler?: string;
  maxSweeps?: number;
  seed?: number;
}

/** One sweep (AYS) or one stage (GITS) of progress. */
export interface SweepReport {
  sweep: number;
  /** The KLUB of the current schedule (AYS), or the GITS cost; lower is better. */
  klub: number | null;
  /** The early-stopping metric (distance of N-step outputs to a high-NFE reference); lower is better. */
  metric: number | null;
  sigmas: number[];
  /** Free-form note (e.g. "stage 2: 20 steps", "stopped early"). */
  note?: string;
}

export interface OptimizeOutcome {
  sigmas: number[];
  sweeps: number;
  stoppedEarly?: boolean;
  note?: string;
}

export interface OptimizeSupport {
  targets(): OptimizeTarget[];
  run(
    request: OptimizeRequest,
    options: { signal: AbortSignal; onSweep: (report: SweepReport) => void; onProgress?: (fraction: number, where: string) => void },
  ): Promise<OptimizeOutcome>;
}

export interface OptimizeRouteDeps {
  queue: JobQueue;
  saved: SavedSchedules;
  output: OutputFolder;
  submit: (kind: string, request: unknown, run: (ctx: JobContext) => Promise<unknown>) => Job;
  support: OptimizeSupport;
}

class BadOptimizeRequest extends Error {
  readonly statusCode = 400;
}

export function registerOptimizeRoutes(app: FastifyInstance, deps: OptimizeRouteDeps): void {
  const { support, submit, queue } = deps;

  app.get('/api/optimize/targets', async () => ({ targets: support.targets(), maxSteps: limits.optimizeMaxSteps, maxSweeps: limits.optimizeMaxSweeps }));

  app.post<{ Body: OptimizeRequest }>('/api/optimize', { schema: { body: optimizeBody } }, async (request, reply) => {
    const body = request.body;
    const targets = support.targets();
    const target = targets.find((t) => t.name === body.target);
    if (!target) throw new BadOptimizeRequest(`unknown optimize target "${body.target}"; valid targets: ${targets.map((t) => t.name).join(', ')}`);
    if (!target.methods.includes(body.method)) {
      throw new BadOptimizeRequest(`target "${target.name}" supports ${target.methods.join(', ')}, not ${body.method}`);
    }
    if (body.sampler !== undefined && !samplerNames.includes(body.sampler)) {
      throw new BadOptimizeRequest(`unknown sampler "${body.sampler}"; valid samplers: ${samplerNames.join(', ')}`);
    }
    const job = submit('optimize', { ...body, model: target.model }, async (ctx) => {
      ctx.progress(0, 1000);
      const outcome = await support.run(body, {
        signal: ctx.signal,
        onSweep: (report) => ctx.emit('sweep', report),
        // progress in thousandths of the planned work
        onProgress: (fraction, where) => ctx.progress(Math.round(fraction * 1000), 1000, { where }),
      });
      return { ...outcome, model: target.model, method: body.method, target: target.name, ...(body.method === 'teacher' ? { sampler: body.sampler ?? 'euler' } : {}) };
    });
    return reply.status(202).send({ job: queue.snapshot(job), events: `/api/jobs/${job.id}/events` });
  });
}
