/**
 * `ays serve`: the studio's HTTP server. JSON API under /api, the built web app (dist/web) everywhere else.
 */
import { existsSync, createReadStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import fastifyStatic from '@fastify/static';
import type { ModelSampling } from '../model-sampling/types.js';
import type { Pipeline } from '../pipelines/types.js';
import { createBackend, STUDIO_MODEL, type StudioBackend } from './backend.js';
import { finalStatuses, JobQueue, QueueFullError, type Job, type JobEvent } from './jobs.js';
import { OutputFolder } from './output.js';
import { SavedSchedules, SAVED_PREFIX, NameTakenError } from './saved-schedules.js';
import { generateBody, jobFileParams, jobParams, limits, saveScheduleBody, sigmasBody } from './schemas.js';
import { logSnr, loglinearResample, scheduleExports } from './schedule-views.js';
import { planGrid, runGenerateJob, type GenerateRequest } from './generate.js';
import { registerOptimizeRoutes, type OptimizeSupport } from './optimize.js';

/** An error whose message is safe and useful to show the client, with its HTTP status. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const statusText: Record<number, string> = {
  400: 'Bad Request',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  503: 'Service Unavailable',
};

export interface StudioOptions {
  /** Output folder for images and saved schedules (created when missing). */
  outDir: string;
  backend?: StudioBackend;
  /** Folder of the built web app; dist/web next to the compiled server by default. */
  webRoot?: string;
  /** Generation jobs run at once (default 1: one grid saturates the CPU). */
  concurrency?: number;
  /** Jobs allowed to wait in the queue (default 8). */
  maxQueued?: number;
  /** Request log (default off; `ays serve` turns it on with --verbose). */
  logger?: boolean;
  /** Host names accepted in the Host header (DNS-rebinding guard for loopback servers); empty accepts any. */
  allowedHosts?: string[];
  optimize?: OptimizeSupport;
}

export interface Studio {
  app: FastifyInstance;
  backend: StudioBackend;
  queue: JobQueue;
  saved: SavedSchedules;
  output: OutputFolder;
}

export function defaultWebRoot(): string {
  return fileURLToPath(new URL('../../web/', import.meta.url));
}

function unknownName(kind: string, value: string, known: readonly string[]): HttpError {
  return new HttpError(400, `unknown ${kind} "${value}"; valid ${kind}s: ${known.join(', ')}`);
}

/** Names that look like `saved:x` resolve against the saved store; `extra` are the studio model's own. */
function schedulerKnown(name: string, backend: StudioBackend, saved: SavedSchedules, extra: readonly string[]): boolean {
  if (name.startsWith(SAVED_PREFIX)) return saved.get(name.slice(SAVED_PREFIX.length)) !== undefined;
  return backend.schedulerNames().includes(name) || extra.includes(name);
}

function checkSchedulers(names: readonly string[], backend: StudioBackend, saved: SavedSchedules, extra: readonly string[] = []): void {
  for (const n of names) {
    if (!schedulerKnown(n, backend, saved, extra)) {
      throw unknownName('scheduler', n, [...backend.schedulerNames(), ...extra, ...saved.list().map((s) => SAVED_PREFIX + s.name)]);
    }
  }
}

/** Schedulers only the studio model has: `optimized` when it carries an optimized schedule (the bundled model may). */
function modelSchedulers(pipeline: Pipeline): string[] {
  const p = pipeline as Pipeline & { carriedSchedule?: unknown };
  return p.carriedSchedule ? ['optimized'] : [];
}

type SigmasForPipeline = Pipeline & { sigmasFor?: (scheduler: string, steps: number) => number[] };

/** Class names to show, when the pipeline has them: the card's display names ("T-shirt/top"), else its own names. */
function pipelineClassNames(pipeline: Pipeline): readonly string[] | undefined {
  const p = pipeline as Pipeline & { classNames?: readonly string[]; card?: { classes?: readonly string[] } };
  return p.card?.classes ?? p.classNames;
}

function describeModelSampling(name: string, ms: ModelSampling, description?: string) {
  return { name, kind: ms.kind, prediction: ms.prediction, sigmaMin: ms.sigmaMin, sigmaMax: ms.sigmaMax, description: description ?? ms.name };
}

export async function createStudio(options: StudioOptions): Promise<Studio> {
  const backend = options.backend ?? createBackend();
  const output = new OutputFolder(options.outDir);
  await output.ensure();
  const saved = new SavedSchedules(options.outDir);
  await saved.load();
  /** Files each job wrote, by job id then file name (the only files the job routes serve). */
  const jobFiles = new Map<string, Map<string, string>>();
  const queue = new JobQueue({ concurrency: options.concurrency ?? 1, maxQueued: options.maxQueued ?? 8, onForget: (id) => jobFiles.delete(id) });

  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: limits.bodyBytes,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // Parameters are ids and file names; long URLs are refused early.
    routerOptions: { maxParamLength: 100 },
  });

  // JSON only: a text/plain POST is a "simple" cross-site request that needs no CORS preflight, so refuse it (415).
  app.removeContentTypeParser('text/plain');

  const allowedHosts = options.allowedHosts ?? [];
  if (allowedHosts.length > 0) {
    app.addHook('onRequest', async (request) => {
      const host = (request.headers.host ?? '').replace(/:\d+$/, '').replace(/^\[(.*)\]$/, '$1');
      if (!allowedHosts.includes(host)) throw new HttpError(403, `host "${host}" is not allowed; open the studio at its loopback address`);
    });
  }
  app.addHook('onSend', async (_request, reply) => {
    reply.header('x-content-type-options', 'nosniff');
    reply.header('referrer-policy', 'no-referrer');
  });

  app.setErrorHandler((error: Error & { statusCode?: number; validation?: unknown; code?: string }, request, reply) => {
    const status = error.statusCode && error.statusCode >= 400 && error.statusCode < 600 ? error.statusCode : 500;
    if (status >= 500) request.log.error(error);
    let message = error.message;
    if (error.code === 'FST_ERR_CTP_BODY_TOO_LARGE') message = `request body is larger than ${limits.bodyBytes} bytes`;
    else if (error.validation) message = `invalid request: ${error.message}`;
    void reply.status(status).send({ statusCode: status, error: statusText[status] ?? (status >= 500 ? 'Server Error' : 'Client Error'), message });
  });

  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send({ statusCode: 404, error: 'Not Found', message: `no such route: ${request.method} ${request.url.split('?')[0]}` });
  });

  // ---- registries -------------------------------------------------------------------------------
  app.get('/api/health', async () => ({ ok: true, jobs: queue.active }));

  app.get('/api/schedulers', async () => ({
    schedulers: backend.schedulerNames(),
    descriptions: Object.fromEntries(backend.schedulerNames().map((n) => [n, backend.schedulerDescription(n) ?? ''])),
    saved: saved.list().map((s) => ({ name: SAVED_PREFIX + s.name, steps: s.sigmas.length - 1, model: s.model, source: s.source, createdAt: s.createdAt })),
  }));

  app.get('/api/samplers', async () => ({
    samplers: backend.samplerNames(),
    descriptions: Object.fromEntries(backend.samplerNames().map((n) => [n, backend.samplerDescription(n) ?? ''])),
  }));

  app.get('/api/models', async () => ({
    models: backend.modelSamplingNames().map((n) => describeModelSampling(n, backend.modelSampling(n), backend.modelSamplingDescription(n))),
    studio: STUDIO_MODEL,
  }));

  /** The model the studio renders with (loads it on first call). */
  app.get('/api/model', async () => {
    const pipeline = await studioPipeline();
    return {
      name: STUDIO_MODEL,
      modelName: pipeline.modelName,
      kind: pipeline.kind,
      classes: pipelineClassNames(pipeline) ?? null,
      schedulers: modelSchedulers(pipeline),
      modelSampling: describeModelSampling(STUDIO_MODEL, pipeline.modelSampling),
    };
  });

  /** The studio's pipeline; a model that cannot be loaded is a 503 that says why. */
  async function studioPipeline(): Promise<Pipeline> {
    try {
      return await backend.pipeline();
    } catch (err) {
      throw new HttpError(503, `the studio model could not be loaded: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  async function resolveModel(name: string): Promise<ModelSampling> {
    if (name === STUDIO_MODEL) return (await studioPipeline()).modelSampling;
    if (!backend.modelSamplingNames().includes(name)) throw unknownName('model', name, [...backend.modelSamplingNames(), STUDIO_MODEL]);
    return backend.modelSampling(name);
  }

  function sigmasFor(model: ModelSampling, scheduler: string, steps: number, denoise?: number, coeff?: number): number[] {
    if (scheduler.startsWith(SAVED_PREFIX)) return loglinearResample(saved.get(scheduler.slice(SAVED_PREFIX.length))!.sigmas, steps);
    try {
      return backend.sigmas({ model, scheduler, steps, denoise, coeff });
    } catch (err) {
      // The schedule library throws RangeError/TypeError for combinations it does not support.
      throw new HttpError(400, `${scheduler} at ${steps} steps: ${err instanceof Error ? err.message : String(err)}`);
    }
  }

  // ---- sigmas -------------------------------------------------------------------------------------
  app.post<{ Body: { model: string; schedulers: string[]; steps: number[]; denoise?: number; coeff?: number } }>(
    '/api/sigmas',
    { schema: { body: sigmasBody } },
    async (request) => {
      const body = request.body;
      const pipeline = body.model === STUDIO_MODEL ? await studioPipeline() : undefined;
      const extra = pipeline ? modelSchedulers(pipeline) : [];
      checkSchedulers(body.schedulers, backend, saved, extra);
      const model = await resolveModel(body.model);
      const results = [];
      for (const scheduler of body.schedulers) {
        for (const steps of body.steps) {
          const sigmas =
            pipeline && extra.includes(scheduler)
              ? (pipeline as SigmasForPipeline).sigmasFor!(scheduler, steps)
              : sigmasFor(model, scheduler, steps, body.denoise, body.coeff);
          if (sigmas.some((s) => !Number.isFinite(s))) throw new HttpError(500, `${scheduler} at ${steps} steps produced a non-finite sigma`);
          results.push({ scheduler, steps, sigmas, logSnr: sigmas.map((s) => logSnr(model, s)), exports: scheduleExports(model, sigmas) });
        }
      }
      return { model: describeModelSampling(body.model, model), results };
    },
  );

  // ---- saved schedules ------------------------------------------------------------------------------
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

  // ---- jobs ---------------------------------------------------------------------------------------
  function jobOr404(id: string): Job {
    const job = queue.get(id);
    if (!job) throw new HttpError(404, `no job with id ${id} (finished jobs are kept for a while, then forgotten)`);
    return job;
  }

  function submit(kind: string, request: unknown, run: Parameters<JobQueue['submit']>[2], onFinal?: () => void): Job {
    try {
      return queue.submit(kind, request, run, onFinal);
    } catch (err) {
      if (err instanceof QueueFullError) throw new HttpError(429, err.message);
      throw err;
    }
  }

  app.post<{ Body: GenerateRequest }>('/api/generate', { schema: { body: generateBody } }, async (request, reply) => {
    const body = request.body;
    const pipeline = await studioPipeline();
    checkSchedulers(body.schedulers, backend, saved, modelSchedulers(pipeline));
    for (const s of body.samplers) if (!backend.samplerNames().includes(s)) throw unknownName('sampler', s, backend.samplerNames());
    const classNames = pipelineClassNames(pipeline);
    if (pipeline.kind === 'class-conditional') {
      if (!body.classes) throw new HttpError(400, 'this model is class-conditional: give "classes" (indices or names)');
      if (body.prompt !== undefined) throw new HttpError(400, 'this model is class-conditional and takes no prompt; give "classes"');
      for (const c of body.classes) {
        if (typeof c === 'number' && classNames && c >= classNames.length) {
          throw new HttpError(400, `class ${c} is out of range; this model has ${classNames.length} classes (0..${classNames.length - 1})`);
        }
        if (typeof c === 'string') {
          // The pipeline knows its own spellings ("t-shirt", "Sneaker", "none"); ask it when it can say.
          const resolve = (pipeline as Pipeline & { resolveClass?: (label: string) => number }).resolveClass;
          if (resolve) {
            try {
              resolve(c);
            } catch (err) {
              throw new HttpError(400, err instanceof Error ? err.message : String(err));
            }
          } else if (classNames && !classNames.includes(c)) throw unknownName('class', c, classNames);
        }
      }
    } else {
      if (!body.prompt) throw new HttpError(400, `this model (${pipeline.kind}) is text-conditional: give a "prompt"`);
      if (body.classes) throw new HttpError(400, 'this model takes a prompt, not classes');
    }
    const plan = planGrid(body, classNames);
    const cells = plan.rows.length * plan.cols.length;
    if (cells > limits.gridCells) {
      throw new HttpError(400, `grid too large: ${plan.rows.length} rows x ${plan.cols.length} columns = ${cells} cells; at most ${limits.gridCells}`);
    }
    const files = new Map<string, string>();
    const job = submit('generate', body, async (ctx) => {
      const folder = await output.newJobFolder('grid', ctx.id);
      jobFiles.set(ctx.id, files);
      return runGenerateJob(ctx, {
        request: body,
        pipeline,
        folder,
        urlBase: `/api/jobs/${ctx.id}`,
        classNames,
        files,
        savedSigmas: (scheduler, steps) =>
          scheduler.startsWith(SAVED_PREFIX) ? loglinearResample(saved.get(scheduler.slice(SAVED_PREFIX.length))!.sigmas, steps) : undefined,
      });
    });
    return reply.status(202).send({ job: queue.snapshot(job), events: `/api/jobs/${job.id}/events` });
  });

  app.get('/api/jobs', async () => ({
    jobs: queue.list().map((j) => ({ id: j.id, kind: j.kind, status: j.status, progress: j.progress, createdAt: j.createdAt })),
  }));

  function streamEvents(job: Job, request: FastifyRequest, reply: FastifyReply): void {
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
    const unsubscribe = queue.subscribe(job, (e) => {
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

  app.get<{ Params: { id: string } }>('/api/jobs/:id', { schema: { params: jobParams } }, async (request, reply) => {
    const job = jobOr404(request.params.id);
    if ((request.headers.accept ?? '').includes('text/event-stream')) return streamEvents(job, request, reply);
    return queue.snapshot(job);
  });

  app.get<{ Params: { id: string } }>('/api/jobs/:id/events', { schema: { params: jobParams } }, async (request, reply) => {
    streamEvents(jobOr404(request.params.id), request, reply);
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

  if (options.optimize) registerOptimizeRoutes(app, { queue, saved, submit, output, support: options.optimize });

  // ---- the web app --------------------------------------------------------------------------------
  const webRoot = options.webRoot ?? defaultWebRoot();
  if (existsSync(webRoot)) {
    // @fastify/static resolves paths inside root and refuses anything that escapes it (and dotfiles).
    await app.register(fastifyStatic, { root: webRoot, prefix: '/', index: 'index.html', dotfiles: 'deny', wildcard: true });
  } else {
    app.get('/', async (_request, reply) =>
      reply.status(503).type('text/plain').send(`The web app is not built (no ${webRoot}). Run "npm run build:web"; the API under /api works.`),
    );
  }

  app.addHook('onClose', async () => {
    await queue.close();
    await backend.dispose();
  });

  return { app, backend, queue, saved, output };
}
