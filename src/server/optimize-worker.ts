/**
 * Runs one optimization in a worker thread, so the studio's event loop keeps answering while the
 * KLUB sums (pure JavaScript on the testbeds) keep a core busy. Cancelling terminates the worker,
 * which frees everything it held at once.
 *
 * In: workerData = RunOptions (the request, samples, model folder). Out: { type: 'sweep' | 'progress', ... } messages, then
 * { type: 'done', outcome } or { type: 'error', message }.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { runOptimization, type RunOptions } from './optimize-run.js';
import type { SweepReport } from './optimize.js';

const port = parentPort;
if (!port) throw new Error('optimize-worker.js must run as a worker thread');

runOptimization(workerData as RunOptions, {
  onSweep: (report: SweepReport) => port.postMessage({ type: 'sweep', report }),
  onProgress: (fraction, where) => port.postMessage({ type: 'progress', fraction, where }),
}).then(
  (outcome) => port.postMessage({ type: 'done', outcome }),
  (err: unknown) => port.postMessage({ type: 'error', message: err instanceof Error ? err.message : String(err) }),
);
