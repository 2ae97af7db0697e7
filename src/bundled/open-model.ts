/**
 * Open a model folder as the optimizer's ModelHandle: the bundled class-conditional model through its
 * pipeline's denoiser, text-to-image models (SD1.x/SDXL) through the pipeline seam `prepareSampling`
 * (contract 4 of the team brief) when the pipeline provides it.
 */
import type { ModelHandle } from '../optimizer/model-problem.js';
import type { Denoiser } from '../samplers/types.js';
import type { Tensor } from '../tensor/tensor.js';
import type { Pipeline, SamplingSetup } from '../pipelines/types.js';
import { classConditionalHandle } from './model-handle.js';

export interface OpenedModel {
  handle: ModelHandle;
  recommendedCfg: number;
  kind: 'class' | 'text';
}

export async function openModelHandle(
  dir: string,
  options: { prompts?: string[]; width?: number; height?: number; threads?: number; carried?: boolean } = {},
): Promise<OpenedModel> {
  const { loadPipeline } = await import('../pipelines/load.js');
  const pipeline = await loadPipeline(dir, options.threads !== undefined ? { threads: options.threads } : {});
  if (pipeline.kind === 'class-conditional') {
    const cc = pipeline as import('../pipelines/class-conditional.js').ClassConditionalPipeline;
    return { handle: classConditionalHandle(cc, options.carried === false ? { carried: false } : {}), recommendedCfg: cc.card.recommendedCfg, kind: 'class' };
  }
  const handle = await seamHandle(pipeline, options.prompts ?? ['a photograph'], options.width, options.height);
  return { handle, recommendedCfg: pipeline.capabilities.recommendedCfg, kind: 'text' };
}

/**
 * Text models: row r of a batch of B uses prompt floor(r / ceil(B / P)) (prompts in blocks), one
 * prepareSampling per prompt block and cfg, cached; the denoiser splits the batch by block.
 */
async function seamHandle(pipe: Pipeline, prompts: string[], width?: number, height?: number): Promise<ModelHandle> {
  const probe = await pipe.prepareSampling({ prompt: prompts[0]!, batchSize: 1, cfg: 1, ...(width ? { width } : {}), ...(height ? { height } : {}) });
  const latentShape = probe.latentShape.slice(1);
  let calls = 0;
  let hash: string | undefined;
  try {
    hash = await pipe.model.contentHash();
  } catch {
    hash = undefined;
  }
  const plane = latentShape.reduce((a, b) => a * b, 1);
  return {
    name: pipe.modelName,
    ...(hash ? { hash } : {}),
    modelSampling: probe.modelSampling,
    latentShape,
    denoiser(batch: number, cfg: number): Denoiser {
      const P = Math.min(prompts.length, batch);
      const per = Math.ceil(batch / P);
      const blocks: Array<{ start: number; count: number; setup: Promise<SamplingSetup> }> = [];
      for (let start = 0, p = 0; start < batch; start += per, p++) {
        const count = Math.min(per, batch - start);
        const setup = pipe.prepareSampling({ prompt: prompts[p]!, batchSize: count, cfg, ...(width ? { width } : {}), ...(height ? { height } : {}) });
        blocks.push({ start, count, setup });
      }
      return async (x: Tensor, sigma: number): Promise<Tensor> => {
        calls++;
        const out = new Float64Array(x.data.length);
        for (const b of blocks) {
          const s = await b.setup;
          const part: Tensor = { data: Float64Array.from(x.data.subarray(b.start * plane, (b.start + b.count) * plane)), shape: [b.count, ...latentShape] };
          const r = await s.denoiser(part, sigma);
          out.set(r.data, b.start * plane);
        }
        return { data: out, shape: [...x.shape] };
      };
    },
    // one per batched evaluation (the prompt blocks of one evaluation are one "call" of the batch)
    calls: () => calls,
    dispose: () => pipe.dispose(),
  };
}
