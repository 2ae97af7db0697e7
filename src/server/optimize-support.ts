import { Worker } from 'node:worker_threads';
import type { OptimizeOutcome, OptimizeSupport, SweepReport } from './optimize.js';
import { optimizeTargets } from './optimize-run.js';

/**
 * Optimizations run one per worker thread (see optimize-worker.ts): the server stays responsive, and
 * cancelling terminates the worker, which frees its memory at once.
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
        const abort = () => {
          void worker.terminate();
          settle(() => reject(new Error('cancelled')));
        };
        signal.addEventListener('abort', abort);
        worker.on('message', (m: { type: string; report?: SweepReport; outcome?: OptimizeOutcome; message?: string; fraction?: number; where?: string }) => {
          if (m.type === 'sweep') onSweep(m.report!);
          else if (m.type === 'progress') onProgress?.(m.fraction!, m.where ?? '');
          else if (m.type === 'done') settle(() => resolve(m.outcome!));
          else if (m.type === 'error') settle(() => reject(new Error(m.message)));
        });
        worker.on('error', (err) => settle(() => reject(err)));
        worker.on('exit', (code) => settle(() => reject(new Error(`the optimizer stopped unexpectedly (exit code ${code})`))));
      });
    },
  };
}
