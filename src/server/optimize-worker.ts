/**
 * Runs one optimization in a worker thread, so the studio's event loop keeps answering while the
 * KLUB sums (pure JavaScript on the testbeds) keep a core busy.
 *
 * Cancelling is cooperative: the parent posts { type: 'cancel' }, the run's abort signal fires, the optimizer
 * and every model call check it, the model sessions are released, and the worker ends by itself. The worker is
 * never terminated from outside while onnxruntime may be running: that aborts the whole process
 * (`terminate called after throwing an instance of 'Napi::Error'`).
 *
 * In: workerData = RunOptions (the request, samples, model folder); messages { type: 'cancel' }.
 * Out: { type: 'sweep' | 'progress', ... } messages, then { type: 'done', outcome }, { type: 'cancelled' } or
 * { type: 'error', message }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runOptimization, type RunOptions } from './optimize-run.js';
import type { SweepReport } from './optimize.js';

const port = parentPort;
if (!port) throw new Error('optimize-worker.js must run as a worker thread');

const controller = new AbortController();
port.on('message', (m: { type?: string }) => {
  if (m?.type === 'cancel') controller.abort(new Error('cancelled'));
});

runOptimization(workerData as RunOptions, {
  signal: controller.signal,
  onSweep: (report: SweepReport) => port.postMessage({ type: 'sweep', report }),
  onProgress: (fraction, where) => port.postMessage({ type: 'progress', fraction, where }),
})
  .then(
    (outcome) => port.postMessage(controller.signal.aborted ? { type: 'cancelled' } : { type: 'done', outcome }),
    (err: unknown) => port.postMessage(controller.signal.aborted ? { type: 'cancelled' } : { type: 'error', message: err instanceof Error ? err.message : String(err) }),
  )
  // the message listener alone must not keep the worker alive: it ends once the sessions are released
  .finally(() => port.unref());
