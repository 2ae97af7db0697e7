import { Worker } from 'node:worker_threads';
import type { SigmasJob } from './sigmas-worker.js';

/** A schedule the worker could not build: the schedule library's message (bad combination, not a crash). */
export class ScheduleError extends Error {}

/**
 * One worker thread for preset-model schedules (see sigmas-worker.ts), started on first use, not keeping the
 * process alive when idle, and restarted if it ever dies.
 */
export class SigmasThread {
  private worker: Worker | undefined;
  private next = 1;
  private pending = new Map<number, { resolve: (s: number[]) => void; reject: (e: Error) => void }>();

  compute(job: Omit<SigmasJob, 'id'>): Promise<number[]> {
    const worker = this.ensure();
    const id = this.next++;
    return new Promise<number[]>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      worker.ref();
      worker.postMessage({ ...job, id });
    });
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    const worker = new Worker(new URL('./sigmas-worker.js', import.meta.url));
    worker.unref();
    worker.on('message', (m: { id: number; sigmas?: number[]; error?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (this.pending.size === 0) worker.unref();
      if (m.sigmas) p.resolve(m.sigmas);
      else p.reject(new ScheduleError(m.error ?? 'schedule failed'));
    });
    const fail = (err: Error) => {
      this.worker = undefined;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', fail);
    worker.on('exit', (code) => fail(new Error(`the schedule worker stopped (exit code ${code})`)));
    this.worker = worker;
    return worker;
  }

  async close(): Promise<void> {
    const w = this.worker;
    this.worker = undefined;
    if (w) await w.terminate();
  }
}
