import { availableParallelism, loadavg } from 'node:os';

/**
 * onnxruntime's intra-op threads spin while they wait; on a machine already busy with other work (load average
 * at or above the core count) two spinning threads on two cores run slower than one (measured here: 7.5 vs
 * 2.8 ms per image at batch 64). So: one thread when the machine is busy, onnxruntime's default otherwise.
 */
export function defaultThreads(): number | undefined {
  const cores = availableParallelism();
  return loadavg()[0]! >= cores ? 1 : undefined;
}
