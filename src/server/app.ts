/**
 * `ays serve`: the studio's HTTP server. JSON API under /api, the built web app (dist/web) everywhere else.
 * The routes live by view: registries here, schedules in routes-sigmas.ts, grids and jobs in routes-jobs.ts,
 * optimizations in optimize.ts; guards and headers in http.ts.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import Fastify, { type FastifyInstance } from 'fastify';
import fastifyStatic from '@fastify/static';
import { createBackend, STUDIO_MODEL, type StudioBackend } from './backend.js';
import { JobQueue } from './jobs.js';
import { OutputFolder } from './output.js';
import { SavedSchedules } from './saved-schedules.js';
import { limits } from './schemas.js';
import { registerOptimizeRoutes, type OptimizeSupport } from './optimize.js';
import { registerHttpBasics } from './http.js';
import { SigmasThread } from './sigmas-thread.js';
import { registerSigmasRoutes, savedSummary } from './routes-sigmas.js';
import { registerJobRoutes } from './routes-jobs.js';
import { describeModelSampling, modelSchedulers, pipelineClassNames, studioPipeline, submitJob, type StudioContext } from './context.js';

export { HttpError } from './http.js';

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

function registerRegistryRoutes(ctx: StudioContext): void {
  const { app, backend, saved, queue } = ctx;
  app.get('/api/health', async () => ({ ok: true, jobs: queue.active }));

  app.get('/api/schedulers', async () => ({
    schedulers: backend.schedulerNames(),
    descriptions: Object.fromEntries(backend.schedulerNames().map((n) => [n, backend.schedulerDescription(n) ?? ''])),
    saved: saved.list().map(savedSummary),
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
    const pipeline = await studioPipeline(ctx);
    return {
      name: STUDIO_MODEL,
      modelName: pipeline.modelName,
      kind: pipeline.kind,
      classes: pipelineClassNames(pipeline) ?? null,
      schedulers: modelSchedulers(pipeline),
      nativeSize: pipeline.capabilities.nativeSize,
      sizeMultiple: pipeline.capabilities.sizeMultiple,
      modelSampling: describeModelSampling(STUDIO_MODEL, pipeline.modelSampling),
    };
  });
}

async function registerWebApp(app: FastifyInstance, webRoot: string): Promise<void> {
  if (existsSync(webRoot)) {
    // @fastify/static resolves paths inside root and refuses anything that escapes it (and dotfiles).
    await app.register(fastifyStatic, { root: webRoot, prefix: '/', index: 'index.html', dotfiles: 'deny', wildcard: true });
  } else {
    app.get('/', async (_request, reply) =>
      reply.status(503).type('text/plain').send(`The web app is not built (no ${webRoot}). Run "npm run build:web"; the API under /api works.`),
    );
  }
}

export async function createStudio(options: StudioOptions): Promise<Studio> {
  const backend = options.backend ?? createBackend();
  const output = new OutputFolder(options.outDir);
  await output.ensure();
  const saved = new SavedSchedules(options.outDir);
  await saved.load();
  const jobFiles = new Map<string, Map<string, string>>();
  const queue = new JobQueue({ concurrency: options.concurrency ?? 1, maxQueued: options.maxQueued ?? 8, onForget: (id) => jobFiles.delete(id) });
  const sigmasThread = new SigmasThread();

  const app = Fastify({
    logger: options.logger ?? false,
    bodyLimit: limits.bodyBytes,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false, allErrors: false } },
    // Parameters are ids and file names; long URLs are refused early.
    routerOptions: { maxParamLength: 100 },
  });
  registerHttpBasics(app, options.allowedHosts ?? []);

  const ctx: StudioContext = { app, backend, queue, saved, output, sigmasThread, jobFiles };
  registerRegistryRoutes(ctx);
  registerSigmasRoutes(ctx);
  registerJobRoutes(ctx);
  if (options.optimize) {
    registerOptimizeRoutes(app, { queue, saved, output, support: options.optimize, submit: (kind, request, run) => submitJob(ctx, kind, request, run) });
  }
  await registerWebApp(app, options.webRoot ?? defaultWebRoot());

  app.addHook('onClose', async () => {
    await queue.close();
    await sigmasThread.close();
    await backend.dispose();
  });

  return { app, backend, queue, saved, output };
}
