/**
 * The paired schedule comparison behind `ays eval`: batches of noises (batch k from seed + k), each batch one
 * shared reference run and every schedule from the same noise / Brownian path (optimizer/teacher.ts's
 * convention), per-image MSEs pooled over batches; on class-conditional models the images also go through the
 * classifier for FID (with a bootstrap interval) and class accuracy.
 */
import { modelProblem } from '../optimizer/model-problem.js';
import { pairedEvaluation, rmsWithSe, teacherGrid } from '../optimizer/teacher.js';
import type { OpenedModel } from './open-model.js';
import type { EvalRow } from '../cli/commands/eval.js';

export interface PairedEvalOptions {
  sampler: string;
  steps: number;
  schedules: Array<{ name: string; sigmas: number[] }>;
  samples: number;
  batch: number;
  seed: number;
  cfg: number;
  referenceSteps: number;
  threads?: number;
  onProgress?: (stage: string, done: number, total: number) => void;
}

export async function runPairedEval(model: OpenedModel, dir: string, o: PairedEvalOptions): Promise<EvalRow[]> {
  const ms = model.handle.modelSampling;
  const reference = teacherGrid(ms.sigmaMin, ms.sigmaMax, o.referenceSteps);
  const perImage = new Map<string, number[]>(o.schedules.map((s) => [s.name, []]));
  const classify = model.kind === 'class';
  const { loadEvaluator, MetricsAccumulator } = await import('./evaluator.js');
  const evaluator = classify ? await loadEvaluator(dir, o.threads ? { threads: o.threads } : {}) : null;
  const metrics = new Map(o.schedules.map((s) => [s.name, evaluator ? new MetricsAccumulator(evaluator) : null]));
  const plane = model.handle.latentShape.reduce((a, b) => a * b, 1);
  const batches = Math.ceil(o.samples / o.batch);
  const perBatch = o.referenceSteps + o.schedules.reduce((a, s) => a + s.sigmas.length - 1, 0);
  try {
    for (let k = 0, done = 0; done < o.samples; k++) {
      const b = Math.min(o.batch, o.samples - done);
      const problem = modelProblem(model.handle, o.sampler, { seed: o.seed + k, samples: b, cfg: o.cfg });
      const c0 = model.handle.calls();
      const ev = await pairedEvaluation(problem, reference, o.schedules, (i, total, name) =>
        o.onProgress?.(`batch ${k + 1}/${batches} ${name}`, Math.min(perBatch, model.handle.calls() - c0) + k * perBatch, batches * perBatch),
      );
      const labels = Array.from({ length: b }, (_, i) => i % 10);
      for (const r of ev.rows) {
        perImage.get(r.name)!.push(...r.perImage);
        const acc = metrics.get(r.name);
        if (acc && model.handle.toImage) {
          const img = model.handle.toImage(r.x);
          await acc.add({ data: Float32Array.from(img), shape: [b, ...model.handle.latentShape] }, labels);
        }
      }
      void plane;
      done += b;
    }
  } finally {
    await evaluator?.release();
  }
  const rows: EvalRow[] = o.schedules.map((s) => {
    const { rms, se } = rmsWithSe(perImage.get(s.name)!);
    const acc = metrics.get(s.name);
    const m = acc ? acc.result() : null;
    return {
      scheduler: s.name,
      sampler: o.sampler,
      steps: s.sigmas.length - 1,
      rms,
      rmsStdErr: se,
      fid: m ? m.fid : null,
      fidCi: acc ? acc.fidInterval(200, o.seed) : null,
      classAccuracy: m ? m.classAccuracy : null,
    };
  });
  rows.sort((a, b) => a.rms - b.rms);
  return rows;
}
