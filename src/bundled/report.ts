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

/** A FID with its bootstrap 95% interval: `2.18 [1.9, 2.6]` (the estimate alone when there is none). */
export function fmtFidCi(r: { fid: number; fidCi?: [number, number] }): string {
  return r.fidCi ? `${fmtFid(r.fid)} [${fmtFid(r.fidCi[0])}, ${fmtFid(r.fidCi[1])}]` : fmtFid(r.fid);
}

/** Whether two FID intervals overlap: their difference is then within the sampling noise of this many images. */
export function fidOverlap(a: { fidCi?: [number, number] }, b: { fidCi?: [number, number] }): boolean {
  if (!a.fidCi || !b.fidCi) return true;
  return a.fidCi[0] <= b.fidCi[1] && b.fidCi[0] <= a.fidCi[1];
}

const cellName = (c: ConfigResult) => `${c.scheduler}@${c.steps}`;

/**
 * Plain-words summary of a demo: which FID differences are within noise (overlapping bootstrap 95% intervals,
 * a conservative reading), which are not, and the paired RMS to the reference (same noise, far less noisy).
 */
export function demoSummary(result: DemoResult, stepCounts: number[]): string[] {
  const ref = result.reference;
  const cells = result.cells.flat().filter((c): c is ConfigResult => c !== null);
  if (cells.length === 0) return [];
  const n = ref.count;
  const lines = [`Summary (${n} images per cell; FID intervals are bootstrap 95% intervals over the images):`];
  if (!ref.fidCi) return lines.concat('  no intervals were computed; FID differences at this sample size may be noise');
  const refName = `the ${ref.steps}-step ${ref.scheduler} reference (FID ${fmtFidCi(ref)})`;
  const overlapRef = cells.filter((c) => fidOverlap(c, ref));
  lines.push(
    `  ${overlapRef.length} of ${cells.length} cells have a FID interval that overlaps ${refName}: those differences are within noise at ${n} images per cell.`,
  );
  const beatRef = cells.filter((c) => c.fid < ref.fid);
  if (beatRef.length > 0) {
    const noise = beatRef.filter((c) => fidOverlap(c, ref));
    const real = beatRef.filter((c) => !fidOverlap(c, ref));
    if (noise.length > 0) lines.push(`  A lower FID than the reference (${noise.map(cellName).join(', ')}) is within noise, not a finding.`);
    if (real.length > 0) lines.push(`  Below the reference outside the intervals: ${real.map((c) => `${cellName(c)} ${fmtFidCi(c)}`).join(', ')} (few images: check with more --samples).`);
  }
  const clear = cells.filter((c) => !fidOverlap(c, ref) && c.fid > ref.fid);
  if (clear.length > 0) lines.push(`  Clearly worse than the reference by FID: ${clear.map(cellName).join(', ')}.`);
  for (const steps of stepCounts) {
    const col = cells.filter((c) => c.steps === steps);
    if (col.length < 2) continue;
    const byFid = [...col].sort((a, b) => a.fid - b.fid);
    const best = byFid[0]!;
    const tied = byFid.slice(1).filter((c) => fidOverlap(c, best));
    const byRms = col.filter((c) => c.rmseToReference !== undefined).sort((a, b) => a.rmseToReference! - b.rmseToReference!);
    const rms = byRms[0] ? `; lowest RMS to the reference (paired, same noise): ${byRms[0].scheduler} ${byRms[0].rmseToReference!.toFixed(3)}` : '';
    const fid =
      tied.length === col.length - 1
        ? `FID cannot separate the ${col.length} schedules (all intervals overlap the best, ${best.scheduler} ${fmtFid(best.fid)})`
        : `best FID ${best.scheduler} ${fmtFid(best.fid)}${tied.length > 0 ? `, within noise of ${tied.map((c) => c.scheduler).join(', ')}` : ', apart from all others'}`;
    lines.push(`  ${steps} steps: ${fid}${rms}.`);
  }
  lines.push(`  For a ranking that is not noise, use more --samples or \`ays eval\` (paired RMS with standard errors).`);
  return lines;
}

/** One table per metric: rows = schedules, columns = steps, plus the reference column. */
export function formatDemoTables(result: DemoResult, schedulers: string[], stepCounts: number[], reference: ReferenceStats): string {
  const ref = result.reference;
  const head = ['schedule', ...stepCounts.map((s) => `${s}`), `${ref.steps} (ref)`];
  const w0 = Math.max(11, ...schedulers.map((s) => s.length + 1));
  const lines: string[] = [];
  const table = (title: string, value: (r: ConfigResult) => string, w = 8) => {
    const wRef = Math.max(w, head[head.length - 1]!.length + 2);
    lines.push(title);
    lines.push(pad(head[0]!, w0, true) + head.slice(1, -1).map((h) => pad(h, w)).join('') + pad(head[head.length - 1]!, wRef));
    schedulers.forEach((name, r) => {
      const cells = result.cells[r]!.map((c) => pad(c ? value(c) : '-', w));
      lines.push(pad(name, w0, true) + cells.join('') + pad(name in result.skipped ? '-' : value(ref), wRef));
    });
    lines.push('');
  };
  const n = ref.count;
  const withCi = result.reference.fidCi !== undefined;
  table(
    `FID on classifier features (lower is better; ${n} images per cell vs the 10,000 real test images` +
      (withCi ? '; [bootstrap 95% interval]' : '') +
      (reference.realVsReal !== undefined ? `; real vs real ${reference.realVsRealCount ?? '?'}/${reference.realVsRealCount ?? '?'}: ${fmtFid(reference.realVsReal)}` : '') +
      ')',
    (c) => fmtFidCi(c),
    withCi ? 20 : 8,
  );
  table(`Class accuracy (shipped classifier recognises the intended class${reference.testAccuracy !== undefined ? `; on real test images ${fmtPct(reference.testAccuracy)}` : ''})`, (c) => fmtPct(c.classAccuracy));
  table(
    `RMS pixel difference to the ${ref.steps}-step reference from the same noise (0..1 scale; the discretization error, meaningful for deterministic samplers)`,
    (c) => (c.rmseToReference !== undefined ? c.rmseToReference.toFixed(3) : 'n/a'),
  );
  for (const [name, why] of Object.entries(result.skipped)) lines.push(`${name}: skipped (${why})`);
  const summary = demoSummary(result, stepCounts);
  if (summary.length > 0) lines.push('', ...summary);
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
    ...(r.fidCi ? { fid_ci: r.fidCi } : {}),
    class_accuracy: r.classAccuracy,
    ...(r.rmseToReference !== undefined ? { rmse_to_reference: r.rmseToReference } : {}),
    nfe: r.nfe,
    seconds: +r.seconds.toFixed(3),
    sigmas: r.sigmas,
  };
}
