import { Worker } from 'node:worker_threads';
import type { OptimizeOutcome, OptimizeSupport, SweepReport } from './optimize.js';
import { optimizeTargets } from './optimize-run.js';

type WorkerMessage =
  | { type: 'sweep'; report: SweepReport }
  | { type: 'progress'; fraction: number; where?: string }
  | { type: 'done'; outcome: OptimizeOutcome }
  | { type: 'cancelled' }
  | { type: 'error'; message: string };

/**
 * Optimizations run one per worker thread (see optimize-worker.ts): the server stays responsive. Cancelling
 * asks the worker to stop (cooperatively: the run checks its signal at every model call and sweep) and the job
 * settles when the worker has stopped and released its model; the worker is never terminated while
 * onnxruntime may be running in it, which would take the whole server down.
 */
export function createOptimizeSupport(options: { samples?: number; modelDir?: string } = {}): OptimizeSupport {
  return {
    targets: () => optimizeTargets(),
    run(request, { signal, onSweep, onProgress }) {
      return new Promise<OptimizeOutcome>((resolve, reject) => {
        if (signal.aborted) {
          reject(new Error('cancelled'));
          return;
        }
        const worker = new Worker(new URL('./optimize-worker.js', import.meta.url), { workerData: { ...request, samples: options.samples, modelDir: options.modelDir } });
        let settled = false;
        const settle = (fn: () => void) => {
          if (settled) return;
          settled = true;
          signal.removeEventListener('abort', abort);
          fn();
        };
        const abort = () => worker.postMessage({ type: 'cancel' });
        signal.addEventListener('abort', abort);
        worker.on('message', (m: WorkerMessage) => {
          if (m.type === 'sweep') onSweep(m.report);
          else if (m.type === 'progress') onProgress?.(m.fraction, m.where ?? '');
          else if (m.type === 'done') settle(() => resolve(m.outcome));
          // 'cancelled': the run stopped and released its model; the job settles when the worker has exited
          else if (m.type === 'error') settle(() => reject(new Error(m.message)));
        });
        worker.on('error', (err) => settle(() => reject(err)));
        worker.on('exit', (code) => settle(() => reject(new Error(signal.aborted ? 'cancelled' : `the optimizer stopped unexpectedly (exit code ${code})`))));
      });
    },
  };
}
