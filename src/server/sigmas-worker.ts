/**
 * Computes preset-model schedules off the studio's event loop. A schedule of N steps at denoise d computes
 * N/d steps (ComfyUI's rule), and some schedulers (beta) cost ~25 us per step, so one request can take
 * seconds of CPU: the server hands the lists to this thread and keeps answering.
 *
 * In: { id, model, scheduler, steps, denoise?, coeff? }; out: { id, sigmas } or { id, error }.
 */
import { parentPort } from 'node:worker_threads';
import { getSigmas } from '../schedules/index.js';

export interface SigmasJob {
  id: number;
  model: string;
  scheduler: string;
  steps: number;
  denoise?: number;
  coeff?: number;
}

const port = parentPort;
if (!port) throw new Error('sigmas-worker.js must run as a worker thread');
port.on('message', (job: SigmasJob) => {
  try {
    const sigmas = Array.from(getSigmas({ model: job.model, scheduler: job.scheduler, steps: job.steps, denoise: job.denoise, coeff: job.coeff }));
    port.postMessage({ id: job.id, sigmas });
  } catch (err) {
    port.postMessage({ id: job.id, error: err instanceof Error ? err.message : String(err) });
  }
});
