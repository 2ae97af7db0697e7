import { randomUUID } from 'node:crypto';

/** Where a job stands. The last three are final: a final job never changes again. */
export type JobStatus = 'queued' | 'running' | 'done' | 'failed' | 'cancelled';

export const finalStatuses: ReadonlySet<JobStatus> = new Set(['done', 'failed', 'cancelled']);

/** One server-sent event: a name and a JSON-serialisable payload. */
export interface JobEvent {
  /** Sequence number, used as the SSE `id` so a reconnecting client can resume (Last-Event-ID). */
  seq: number;
  event: string;
  data: unknown;
}

export interface JobProgress {
  done: number;
  total: number;
}

/** What a job's body receives: its id, a signal that fires on cancel, and a way to publish events. */
export interface JobContext {
  id: string;
  signal: AbortSignal;
  /** Publish an event to every listener (and keep it for late subscribers). */
  emit(event: string, data: unknown): void;
  /** Update the progress counters and publish a `progress` event. */
  progress(done: number, total: number, extra?: Record<string, unknown>): void;
}

export type JobRun = (ctx: JobContext) => Promise<unknown>;

export interface Job {
  readonly id: string;
  readonly kind: string;
  /** The validated request, echoed back to clients. */
  readonly request: unknown;
  status: JobStatus;
  progress: JobProgress;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  error?: string;
  /** Whatever the job's body returned (kept small: URLs and numbers, not pixels). */
  result?: unknown;
  readonly events: JobEvent[];
  readonly controller: AbortController;
  readonly run: JobRun;
  readonly listeners: Set<(e: JobEvent) => void>;
  /** Called once when the job reaches a final state (frees resources kept by the job). */
  onFinal?: () => void;
}

/**
 * The public view of a job (what GET /api/jobs/:id returns): its fields without the runtime parts; `events` are
 * the events so far of the kinds a view needs to rebuild itself (cells, sweeps).
 */
export type JobSnapshot = Pick<Job, 'id' | 'kind' | 'status' | 'progress' | 'createdAt' | 'startedAt' | 'finishedAt' | 'error' | 'request' | 'result' | 'events'>;

export class QueueFullError extends Error {
  constructor(limit: number) {
    super(`the job queue is full (${limit} jobs waiting); wait for one to finish or cancel one`);
    this.name = 'QueueFullError';
  }
}

export interface JobQueueOptions {
  /** Jobs running at once. Generation saturates the CPU, so the default is 1. */
  concurrency?: number;
  /** Jobs allowed to wait; more are refused (HTTP 429) so twenty clicks do not pile up twenty jobs. */
  maxQueued?: number;
  /** Finished jobs kept for GET /api/jobs/:id; older ones are forgotten (their files stay on disk). */
  keepFinished?: number;
  /** Events kept per job for late subscribers. */
  maxEvents?: number;
  /** Called when a finished job is forgotten, to drop whatever else refers to it. */
  onForget?: (id: string) => void;
}

/**
 * A FIFO job queue with a concurrency limit. Cancelling a queued job removes it at once; cancelling a
 * running job aborts its signal, and the job body is expected to stop at its next step and release
 * what it holds.
 */
export class JobQueue {
  readonly concurrency: number;
  readonly maxQueued: number;
  readonly keepFinished: number;
  readonly maxEvents: number;
  private readonly onForget?: (id: string) => void;
  private readonly jobs = new Map<string, Job>();
  private readonly waiting: Job[] = [];
  private running = 0;
  private readonly finishedOrder: string[] = [];
  private readonly idleWaiters: Array<() => void> = [];

  constructor(options: JobQueueOptions = {}) {
    this.concurrency = options.concurrency ?? 1;
    this.maxQueued = options.maxQueued ?? 8;
    this.keepFinished = options.keepFinished ?? 50;
    this.maxEvents = options.maxEvents ?? 2000;
    this.onForget = options.onForget;
  }

  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** Every job still remembered, oldest first. */
  list(): Job[] {
    return [...this.jobs.values()];
  }

  /** Number of jobs queued or running. */
  get active(): number {
    return this.running + this.waiting.length;
  }

  submit(kind: string, request: unknown, run: JobRun, onFinal?: () => void): Job {
    if (this.waiting.length >= this.maxQueued) throw new QueueFullError(this.maxQueued);
    const job: Job = {
      id: randomUUID(),
      kind,
      request,
      status: 'queued',
      progress: { done: 0, total: 0 },
      createdAt: new Date().toISOString(),
      events: [],
      controller: new AbortController(),
      run,
      listeners: new Set(),
      onFinal,
    };
    this.jobs.set(job.id, job);
    this.waiting.push(job);
    this.publish(job, 'status', { status: job.status, position: this.waiting.length });
    this.pump();
    return job;
  }

  /** Cancel a job. Returns false when it had already finished. */
  cancel(id: string): boolean {
    const job = this.jobs.get(id);
    if (!job || finalStatuses.has(job.status)) return false;
    job.controller.abort(new Error('cancelled'));
    if (job.status === 'queued') {
      const at = this.waiting.indexOf(job);
      if (at >= 0) this.waiting.splice(at, 1);
      this.finish(job, 'cancelled');
    }
    // A running job ends as cancelled when its body returns or throws after seeing the signal.
    return true;
  }

  /** Subscribe to a job's events. Returns an unsubscribe function. */
  subscribe(job: Job, listener: (e: JobEvent) => void): () => void {
    job.listeners.add(listener);
    return () => job.listeners.delete(listener);
  }

  snapshot(job: Job): JobSnapshot {
    return {
      id: job.id,
      kind: job.kind,
      status: job.status,
      progress: { ...job.progress },
      createdAt: job.createdAt,
      startedAt: job.startedAt,
      finishedAt: job.finishedAt,
      error: job.error,
      request: job.request,
      result: job.result,
      events: job.events.filter((e) => e.event !== 'progress' && e.event !== 'status'),
    };
  }

  /** Cancel everything and wait until no job runs (server shutdown). */
  async close(): Promise<void> {
    for (const job of [...this.jobs.values()]) this.cancel(job.id);
    if (this.running === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private publish(job: Job, event: string, data: unknown): void {
    const e: JobEvent = { seq: (job.events.at(-1)?.seq ?? 0) + 1, event, data };
    job.events.push(e);
    // Progress events are only interesting live; drop the oldest ones first when the log grows.
    if (job.events.length > this.maxEvents) {
      const at = job.events.findIndex((x) => x.event === 'progress');
      job.events.splice(at >= 0 ? at : 0, 1);
    }
    for (const listener of job.listeners) listener(e);
  }

  private pump(): void {
    while (this.running < this.concurrency && this.waiting.length > 0) {
      const job = this.waiting.shift()!;
      this.start(job);
    }
  }

  private start(job: Job): void {
    this.running++;
    job.status = 'running';
    job.startedAt = new Date().toISOString();
    this.publish(job, 'status', { status: job.status });
    const ctx: JobContext = {
      id: job.id,
      signal: job.controller.signal,
      emit: (event, data) => this.publish(job, event, data),
      progress: (done, total, extra) => {
        job.progress = { done, total };
        this.publish(job, 'progress', { done, total, ...extra });
      },
    };
    // Start on a later tick so that submit() returns the job before any of its work happens.
    setImmediate(() => {
      job
        .run(ctx)
        .then(
          (result) => {
            job.result = result;
            this.finish(job, job.controller.signal.aborted ? 'cancelled' : 'done');
          },
          (err: unknown) => {
            if (job.controller.signal.aborted) this.finish(job, 'cancelled');
            else {
              job.error = err instanceof Error ? err.message : String(err);
              this.finish(job, 'failed');
            }
          },
        )
        .finally(() => {
          this.running--;
          this.pump();
          if (this.running === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
        });
    });
  }

  private finish(job: Job, status: JobStatus): void {
    job.status = status;
    job.finishedAt = new Date().toISOString();
    this.publish(job, status, status === 'failed' ? { error: job.error } : { result: job.result ?? null });
    try {
      job.onFinal?.();
    } catch {
      // Freeing resources must not take the queue down.
    }
    job.listeners.clear();
    this.finishedOrder.push(job.id);
    while (this.finishedOrder.length > this.keepFinished) {
      const old = this.finishedOrder.shift()!;
      this.jobs.delete(old);
      this.onForget?.(old);
    }
  }
}
