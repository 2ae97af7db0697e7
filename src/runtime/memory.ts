/**
 * Will a run fit? A lower bound on the memory one model call needs, against the memory there is, so that a
 * size or batch that cannot fit is refused at once instead of growing until the kernel kills the process.
 */
import { existsSync, readFileSync } from 'node:fs';
import { freemem } from 'node:os';

/** Memory a new allocation can get on this machine: MemAvailable from /proc/meminfo (Linux), else os.freemem(). */
export function availableMemoryBytes(): number {
  try {
    if (existsSync('/proc/meminfo')) {
      const m = /^MemAvailable:\s+(\d+)\s*kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
      if (m) return Number(m[1]) * 1024;
    }
  } catch {
    // fall through to os.freemem()
  }
  return freemem();
}

/** Larger than any accelerator's memory today (for devices whose free memory the runtime does not report). */
export const DEVICE_MEMORY_CEILING = 256 * 2 ** 30;

export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes)) return 'unbounded';
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let v = bytes;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[u]}`;
}

/** One term of an estimate: what it is and its bytes. */
export interface MemoryTerm {
  what: string;
  bytes: number;
}

/**
 * Throw a one-line error (made by `makeError`) when the largest term alone, or all terms together, exceed what is
 * available. The terms are lower bounds (tensors that must exist at once), so a refusal is certain to be right.
 */
export function checkMemory(request: string, terms: readonly MemoryTerm[], available: number, makeError: (m: string) => Error): void {
  const total = terms.reduce((s, t) => s + t.bytes, 0);
  if (total <= available) return;
  const largest = terms.reduce((a, b) => (b.bytes > a.bytes ? b : a));
  throw makeError(
    `${request} needs at least ${formatBytes(total)} (${largest.what}: ${formatBytes(largest.bytes)}) but ${formatBytes(available)} is available; use a smaller size or batch`,
  );
}
