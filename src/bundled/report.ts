/** Plain-text tables for `ays demo` and `ays eval`. */
import type { DemoResult, ConfigResult } from './run.js';
import type { ReferenceStats } from './evaluator.js';

function pad(s: string, w: number, right = false): string {
  return right ? s.padEnd(w) : s.padStart(w);
}

export function fmtFid(v: number): string {
  return Number.isFinite(v) ? (v >= 100 ? v.toFixed(0) : v >= 10 ? v.toFixed(1) : v.toFixed(2)) : 'n/a';
}

export function fmtPct(v: number): string {
  return Number.isFinite(v) ? `${(100 * v).toFixed(0)}%` : 'n/a';
}

/** One table per metric: rows = schedules, columns = steps, plus the reference column. */
export function formatDemoTables(result: DemoResult, schedulers: string[], stepCounts: number[], reference: ReferenceStats): string {
  const ref = result.reference;
  const head = ['schedule', ...stepCounts.map((s) => `${s}`), `${ref.steps} (ref)`];
  const w0 = Math.max(11, ...schedulers.map((s) => s.length + 1));
  const w = 8;
  const wRef = Math.max(w, head[head.length - 1]!.length + 2);
  const lines: string[] = [];
  const table = (title: string, value: (r: ConfigResult) => string) => {
    lines.push(title);
    lines.push(pad(head[0]!, w0, true) + head.slice(1, -1).map((h) => pad(h, w)).join('') + pad(head[head.length - 1]!, wRef));
    schedulers.forEach((name, r) => {
      const cells = result.cells[r]!.map((c) => pad(c ? value(c) : '-', w));
      lines.push(pad(name, w0, true) + cells.join('') + pad(name in result.skipped ? '-' : value(ref), wRef));
    });
    lines.push('');
  };
  const n = ref.count;
  table(
    `FID on classifier features (lower is better; ${n} images per cell vs the 10,000 real test images` +
      (reference.realVsReal !== undefined ? `; real vs real ${reference.realVsRealCount ?? '?'}/${reference.realVsRealCount ?? '?'}: ${fmtFid(reference.realVsReal)}` : '') +
      ')',
    (c) => fmtFid(c.fid),
  );
  table(`Class accuracy (shipped classifier recognises the intended class${reference.testAccuracy !== undefined ? `; on real test images ${fmtPct(reference.testAccuracy)}` : ''})`, (c) => fmtPct(c.classAccuracy));
  table(
    `RMS pixel difference to the ${ref.steps}-step reference from the same noise (0..1 scale; the discretization error, meaningful for deterministic samplers)`,
    (c) => (c.rmseToReference !== undefined ? c.rmseToReference.toFixed(3) : 'n/a'),
  );
  for (const [name, why] of Object.entries(result.skipped)) lines.push(`${name}: skipped (${why})`);
  return lines.join('\n');
}

/** JSON-able view of a result (drops the image tensor). */
export function configJson(r: ConfigResult): Record<string, unknown> {
  return {
    scheduler: r.scheduler,
    sampler: r.sampler,
    steps: r.steps,
    cfg: r.cfg,
    samples: r.count,
    fid: r.fid,
    class_accuracy: r.classAccuracy,
    ...(r.rmseToReference !== undefined ? { rmse_to_reference: r.rmseToReference } : {}),
    nfe: r.nfe,
    seconds: +r.seconds.toFixed(3),
    sigmas: r.sigmas,
  };
}
