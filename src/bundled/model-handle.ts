/**
 * The bundled (class-conditional) model as the optimizer's ModelHandle: row r of a batch has class r mod 10,
 * classifier-free guidance at the given scale, pixels mapped to [0, 1] for the objective.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ClassConditionalPipeline, ClassDenoiser } from '../pipelines/class-conditional.js';
import { UNET_FILE } from './model-files.js';
import { pixelsToUnit, type ModelHandle } from '../optimizer/model-problem.js';

export function classConditionalHandle(pipeline: ClassConditionalPipeline, options: { carried?: boolean } = {}): ModelHandle {
  const denoisers: ClassDenoiser[] = [];
  const n = pipeline.classNames.length;
  let hash: string | undefined;
  try {
    hash = createHash('sha256').update(readFileSync(join(pipeline.dir, UNET_FILE))).digest('hex');
  } catch {
    hash = undefined;
  }
  return {
    name: pipeline.modelName,
    ...(hash ? { hash } : {}),
    modelSampling: pipeline.modelSampling,
    latentShape: [pipeline.card.channels, pipeline.card.resolution, pipeline.card.resolution],
    denoiser(batch: number, cfg: number) {
      const d = pipeline.denoiser(Array.from({ length: batch }, (_, i) => i % n), cfg);
      denoisers.push(d);
      return (x, sigma) => d(x, sigma);
    },
    rowDenoiser(batch: number, cfg: number) {
      const d = pipeline.denoiser(Array.from({ length: batch }, (_, i) => i % n), cfg);
      denoisers.push(d);
      return (x, sigmas) => d.rows(x, sigmas);
    },
    toImage: pixelsToUnit,
    calls: () => denoisers.reduce((a, d) => a + d.sessionCalls, 0),
    extraSchedules(sampler: string, steps: number) {
      if (options.carried === false) return [];
      // the pipeline's 'optimized': the teacher schedule for this sampler and step count, else optimized-schedule.json
      try {
        return [{ name: 'optimized', sigmas: pipeline.sigmasFor('optimized', steps, { sampler }) }];
      } catch {
        return [];
      }
    },
    dispose: () => pipeline.dispose(),
  };
}
