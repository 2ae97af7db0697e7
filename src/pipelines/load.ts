/** loadPipeline: open any supported model folder, choosing the pipeline by what the folder holds. */
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Pipeline } from './types.js';
import { ModelError, type SessionOptions } from '../runtime/session.js';
import { loadStableDiffusionPipeline } from './stable-diffusion.js';
import { loadClassConditionalPipeline } from './class-conditional.js';
import { detectFlowKind } from './flow/folder.js';
import { loadFlowPipeline } from './flow/pipeline.js';

export type LoadPipelineOptions = SessionOptions;

/**
 * - a diffusers/optimum ONNX export (model_index.json): Stable Diffusion 1.x/2.x or SDXL, or Stable Diffusion 3 /
 *   3.5 and Flux (flow matching, docs/flow-models.md), told apart by model_index.json's pipeline class;
 * - a bundled-model folder (card.json): the class-conditional pipeline.
 */
export async function loadPipeline(dir: string, options: LoadPipelineOptions = {}): Promise<Pipeline> {
  if (!existsSync(dir)) throw new ModelError(`model folder not found: ${dir}`);
  if (!statSync(dir).isDirectory()) throw new ModelError(`not a folder: ${dir} (give the model folder, not a file in it)`);
  if (existsSync(join(dir, 'model_index.json'))) {
    if (detectFlowKind(dir)) return loadFlowPipeline(dir, options);
    return loadStableDiffusionPipeline(dir, options);
  }
  if (existsSync(join(dir, 'card.json'))) return loadClassConditionalPipeline(dir, options);
  throw new ModelError(
    `${dir} is not a model folder ays knows: expected model_index.json (a diffusers/optimum ONNX export, see docs/stable-diffusion.md) or card.json (a bundled model)`,
  );
}
