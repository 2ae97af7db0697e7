/** Compare view routes: start a grid job, follow jobs (snapshot or server-sent events), cancel them, fetch their files. */
import { createReadStream } from 'node:fs';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Pipeline } from '../pipelines/types.js';
import { HttpError } from './http.js';
import { finalStatuses, type Job, type JobEvent } from './jobs.js';
import { SAVED_PREFIX } from './saved-schedules.js';
import { generateBody, jobFileParams, jobParams, limits } from './schemas.js';
import { loglinearResample } from './schedule-views.js';
import { planGrid, runGenerateJob, type GenerateRequest } from './generate.js';
import { savedMismatch } from './routes-sigmas.js';
import { STUDIO_MODEL } from './backend.js';
import { checkSchedulers, modelSchedulers, pipelineClassNames, studioPipeline, submitJob, unknownName, type StudioContext } from './context.js';

/** Checks the classes (class-conditional models) or the prompt (text models) of a grid request. */
async function checkConditioning(body: GenerateRequest, pipeline: Pipeline): Promise<void> {
  if (pipeline.capabilities.conditioning !== 'class') {
    if (!body.prompt) throw new HttpError(400, `this model (${pipeline.kind}) is text-conditional: give a "prompt"`);
    if (body.classes) throw new HttpError(400, 'this model takes a prompt, not classes');
    const multiple = pipeline.capabilities.sizeMultiple;
    for (const [name, value] of [['width', body.width], ['height', body.height]] as const) {
      if (value !== undefined && value % multiple !== 0) {
        throw new HttpError(400, `${name} must be a multiple of ${multiple} for this model, got ${value}; try ${Math.max(multiple, Math.round(value / multiple) * multiple)}`);
      }
    }
    return;
  }
  if (!body.classes) throw new HttpError(400, 'this model is class-conditional: give "classes" (indices or names)');
  if (body.prompt !== undefined) throw new HttpError(400, 'this model is class-conditional and takes no prompt; give "classes"');
  const names = pipeline.capabilities.classNames;
  for (const c of body.classes) {
    if (typeof c === 'number' && c >= names.length) {
      throw new HttpError(400, `class ${c} is out of range; this model has ${names.length} classes (0..${names.length - 1})`);
    }
  }
  // The pipeline knows its own spellings ("t-shirt", "Sneaker", "none"): preparing a sampling run resolves them
  // (no model call), and an unknown name is its one-line error.
  try {
    await pipeline.prepareSampling({ classLabel: body.classes, batchSize: body.classes.length, cfg: body.cfg });
  } catch (err) {
    throw new HttpError(400, err instanceof Error ? err.message : String(err));
  }
}

function streamEvents(ctx: StudioContext, job: Job, request: FastifyRequest, reply: FastifyReply): void {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-content-type-options': 'nosniff',
  });
  const write = (e: JobEvent) => res.write(`id: ${e.seq}\nevent: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`);
  const lastId = Number(request.headers['last-event-id'] ?? 0) || 0;
  res.write(`retry: 2000\n\n`);
  for (const e of job.events) if (e.seq > lastId) write(e);
  if (finalStatuses.has(job.status)) {
    res.end();
    return;
  }
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15000);
  const unsubscribe = ctx.queue.subscribe(job, (e) => {
    write(e);
    if (finalStatuses.has(e.event as never)) close();
  });
  function close() {
    clearInterval(keepAlive);
    unsubscribe();
    res.end();
  }
  request.raw.on('close', close);
}

function registerGenerateRoute(ctx: StudioContext): void {
  const { app, backend, saved, output, queue, jobFiles } = ctx;
  app.post<{ Body: GenerateRequest }>('/api/generate', { schema: { body: generateBody } }, async (request, reply) => {
    const body = request.body;
    const pipeline = await studioPipeline(ctx);
    checkSchedulers(ctx, body.schedulers, modelSchedulers(pipeline));
    for (const s of body.schedulers.filter((n) => n.startsWith(SAVED_PREFIX))) {
      const mismatch = savedMismatch(saved.get(s.slice(SAVED_PREFIX.length))!, pipeline.modelSampling, STUDIO_MODEL);
      if (mismatch) throw new HttpError(400, `${mismatch}: it was saved for another model and would render broken images`);
    }
    for (const s of body.samplers) if (!backend.samplerNames().includes(s)) throw unknownName('sampler', s, backend.samplerNames());
    await checkConditioning(body, pipeline);
    const classNames = pipelineClassNames(pipeline);
    const plan = planGrid(body, classNames);
    const cells = plan.rows.length * plan.cols.length;
    if (cells > limits.gridCells) {
      throw new HttpError(400, `grid too large: ${plan.rows.length} rows x ${plan.cols.length} columns = ${cells} cells; at most ${limits.gridCells}`);
    }
    const files = new Map<string, string>();
    const job = submitJob(ctx, 'generate', body, async (jc) => {
      const folder = await output.newJobFolder('grid', jc.id);
      jobFiles.set(jc.id, files);
      return runGenerateJob(jc, {
        request: body,
        pipeline,
        folder,
        urlBase: `/api/jobs/${jc.id}`,
        classNames,
        files,
        savedSigmas: (scheduler, steps) =>
          scheduler.startsWith(SAVED_PREFIX) ? loglinearResample(saved.get(scheduler.slice(SAVED_PREFIX.length))!.sigmas, steps) : undefined,
      });
    });
    return reply.status(202).send({ job: queue.snapshot(job), events: `/api/jobs/${job.id}/events` });
  });
}

export function registerJobRoutes(ctx: StudioContext): void {
  const { app, queue, jobFiles } = ctx;
  registerGenerateRoute(ctx);

  function jobOr404(id: string): Job {
    const job = queue.get(id);
    if (!job) throw new HttpError(404, `no job with id ${id} (finished jobs are kept for a while, then forgotten)`);
    return job;
  }

  app.get('/api/jobs', async () => ({
    jobs: queue.list().map((j) => ({ id: j.id, kind: j.kind, status: j.status, progress: j.progress, createdAt: j.createdAt })),
  }));

  app.get<{ Params: { id: string } }>('/api/jobs/:id', { schema: { params: jobParams } }, async (request, reply) => {
    const job = jobOr404(request.params.id);
    if ((request.headers.accept ?? '').includes('text/event-stream')) return streamEvents(ctx, job, request, reply);
    return queue.snapshot(job);
  });

  app.get<{ Params: { id: string } }>('/api/jobs/:id/events', { schema: { params: jobParams } }, async (request, reply) => {
    streamEvents(ctx, jobOr404(request.params.id), request, reply);
  });

  app.delete<{ Params: { id: string } }>('/api/jobs/:id', { schema: { params: jobParams } }, async (request, reply) => {
    const job = jobOr404(request.params.id);
    if (finalStatuses.has(job.status)) {
      return reply.status(409).send({ statusCode: 409, error: 'Conflict', message: `job ${job.id} has already finished (${job.status})`, job: queue.snapshot(job) });
    }
    queue.cancel(job.id);
    return reply.status(202).send({ job: queue.snapshot(job) });
  });

  app.get<{ Params: { id: string; file: string } }>('/api/jobs/:id/files/:file', { schema: { params: jobFileParams } }, async (request, reply) => {
    jobOr404(request.params.id);
    const path = jobFiles.get(request.params.id)?.get(request.params.file);
    if (!path) throw new HttpError(404, `job ${request.params.id} has no file ${request.params.file} (yet)`);
    const download = (request.query as { download?: string }).download !== undefined;
    if (download) reply.header('content-disposition', `attachment; filename="ays-${request.params.id.slice(0, 8)}-${request.params.file}"`);
    return reply.type('image/png').header('cache-control', 'private, max-age=3600').send(createReadStream(path));
  });
}
