/**
 * FID with a bootstrap 95% interval and class accuracy for the cells of bench/optimize-models.md (the
 * distribution side of the paired-RMS tables): per sampler and step count, the schedule the bundled model
 * carries (models/fashion-mnist/teacher-schedules.json), karras, and the shipped schedule with the lowest
 * held-out paired RMS in that run, each on the same fresh noises (seed disjoint from training and from the
 * RMS table's held-out seed).
 *
 *   node dist/bench/optimize-fid.js --json dist/optimize-models.json [--samples 256] [--seed 7000]
 *     [--out dist/optimize-fid.json]
 *
 * FID is on the bundled classifier's features against the Fashion-MNIST test-set statistics the model card
 * carries; at a few hundred images it is biased upwards (all rows alike), so compare rows, not absolute values.
 * Every row is paired with the carried schedule's (same noises and labels): a paired bootstrap of the FID
 * difference says whether the two are distinguishable.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadClassConditionalPipeline } from '../src/pipelines/class-conditional.js';
import { loadEvaluator } from '../src/bundled/evaluator.js';
import { defaultModelDir } from '../src/bundled/model-files.js';
import { TEACHER_SCHEDULES_FILE, type CarriedTeacherSchedule } from '../src/bundled/carried.js';
import { evaluateConfig } from '../src/bundled/run.js';
import type { MetricsAccumulator } from '../src/bundled/evaluator.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}

interface Row {
  name: string;
  sigmas: number[];
  rms: number;
}
interface SamplerResult {
  cfg: number;
  heldSeed: number;
  rows: Row[];
}

/** What one cell reports. */
export interface FidCell {
  sampler: string;
  steps: number;
  schedule: string;
  /** `carried` = teacher-schedules.json's entry; `karras`; `best shipped` by held-out paired RMS. */
  role: string;
  sigmas: number[];
  fid: number;
  fidCi: [number, number];
  classAccuracy: number;
  seconds: number;
  /** Paired bootstrap of FID(carried) - FID(this row) over the same images (rows other than the carried one). */
  carriedMinusThis?: { diff: number; ci: [number, number] };
}

const modelDir = arg('model', defaultModelDir());
const results = JSON.parse(readFileSync(arg('json', 'dist/optimize-models.json'), 'utf8')) as Record<string, SamplerResult>;
const samples = Number(arg('samples', '256'));
const seed = Number(arg('seed', '7000'));
const out = arg('out', 'dist/optimize-fid.json');
const carried = JSON.parse(readFileSync(join(modelDir, TEACHER_SCHEDULES_FILE), 'utf8')) as { schedules: CarriedTeacherSchedule[] };
/** Rows of the RMS run that are not shipped schedules (the optimizer's own, and the model's older AYS file). */
const notShipped = (name: string) => name.startsWith('teacher') || name === 'optimized';

const pipeline = await loadClassConditionalPipeline(modelDir);
const evaluator = await loadEvaluator(modelDir);
const cells: FidCell[] = [];
const log = (s: string) => process.stderr.write(`[${new Date().toISOString().slice(11, 19)}] ${s}\n`);
try {
  for (const [sampler, r] of Object.entries(results)) {
    if (seed === r.heldSeed) throw new RangeError(`--seed ${seed} is the RMS run's held-out seed; use another`);
    const steps = [...new Set(r.rows.map((row) => Number(row.name.split('@')[1])))].sort((a, b) => a - b);
    for (const n of steps) {
      const atN = r.rows.filter((row) => row.name.endsWith(`@${n}`)).sort((a, b) => a.rms - b.rms);
      const bestShipped = atN.find((row) => !notShipped(row.name.split('@')[0]!));
      const karras = atN.find((row) => row.name === `karras@${n}`);
      const mine = carried.schedules.find((s) => s.sampler === sampler && s.steps === n);
      const configs: Array<{ role: string; name: string; sigmas: number[] }> = [];
      // a carried entry is a teacher schedule, or "shipped NAME (...)" where a shipped schedule won on held-out noise
      if (mine) configs.push({ role: 'carried', name: mine.method.startsWith('shipped ') ? mine.method.split(' ')[1]! : mine.method.split(' ')[0]!, sigmas: mine.sigmas });
      if (karras) configs.push({ role: 'karras', name: 'karras', sigmas: karras.sigmas });
      if (bestShipped && bestShipped !== karras) configs.push({ role: 'best shipped', name: bestShipped.name.split('@')[0]!, sigmas: bestShipped.sigmas });
      // the carried schedule can be a shipped one (stochastic samplers): score each list once
      const unique = configs.filter((c, i) => configs.findIndex((d) => d.sigmas.join() === c.sigmas.join()) === i);
      let carriedMetrics: MetricsAccumulator | undefined;
      for (const c of unique) {
        const res = await evaluateConfig(pipeline, evaluator, { scheduler: c.name, sigmas: c.sigmas, sampler, steps: n, cfg: r.cfg }, { samples, seed, batch: Math.min(samples, 128), keepMetrics: true });
        const roles = configs.filter((d) => d.sigmas.join() === c.sigmas.join()).map((d) => d.role).join(' = ');
        const cell: FidCell = { sampler, steps: n, schedule: c.name, role: roles, sigmas: c.sigmas, fid: res.fid, fidCi: res.fidCi!, classAccuracy: res.classAccuracy, seconds: res.seconds };
        // the carried schedule comes first: every other row gets the paired difference against it
        if (c.role === 'carried') carriedMetrics = res.metrics;
        else if (carriedMetrics) cell.carriedMinusThis = carriedMetrics.fidDifferenceInterval(res.metrics!, 400, seed);
        cells.push(cell);
        const d = cell.carriedMinusThis;
        log(
          `${sampler} ${n} steps ${c.name}: FID ${res.fid.toFixed(2)} [${res.fidCi![0].toFixed(2)}, ${res.fidCi![1].toFixed(2)}], acc ${(100 * res.classAccuracy).toFixed(1)}%` +
            (d ? `, carried - this ${d.diff.toFixed(3)} [${d.ci[0].toFixed(3)}, ${d.ci[1].toFixed(3)}]` : '') +
            ` (${res.seconds.toFixed(0)} s)`,
        );
      }
    }
  }
} finally {
  await evaluator.release();
  await pipeline.dispose();
}
writeFileSync(out, `${JSON.stringify({ samples, seed, cells }, null, 1)}\n`);
log(`wrote ${out}: ${cells.length} cells`);
