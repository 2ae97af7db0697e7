/**
 * Open a model folder as the optimizer's ModelHandle: the bundled class-conditional model through its
 * pipeline's denoiser, text-to-image models (SD1.x/SDXL) through the pipeline seam `prepareSampling`
 * (contract 4 of the team brief) when the pipeline provides it.
 */
import type { ModelHandle } from '../optimizer/model-problem.js';
import type { Denoiser } from '../samplers/types.js';
import type { Tensor } from '../tensor/tensor.js';
import type { ModelSampling } from '../model-sampling/types.js';
import { classConditionalHandle } from './model-handle.js';

export interface OpenedModel {
  handle: ModelHandle;
  recommendedCfg: number;
  kind: 'class' | 'text';
}

/** The part of contract 4 (src/pipelines/types.ts) this module uses, structurally. */
interface SeamSetup {
  readonly modelSampling: ModelSampling;
  readonly latentShape: readonly number[];
  readonly denoiser: Denoiser;
  readonly calls: () => number;
}
interface SeamPipeline {
  readonly modelName: string;
  readonly modelSampling: ModelSampling;
  prepareSampling?: (req: { prompt?: string; batchSize?: number; width?: number; height?: number; cfg: number }) => Promise<SeamSetup>;
  dispose(): Promise<void>;
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
  const seam = pipeline as unknown as SeamPipeline;
  if (typeof seam.prepareSampling !== 'function') {
    await pipeline.dispose();
    throw new Error(`${dir}: this pipeline does not expose prepareSampling yet (the pipeline seam), so ays optimize/eval cannot drive it`);
  }
  return { handle: await seamHandle(seam, options.prompts ?? ['a photograph'], options.width, options.height), recommendedCfg: 7, kind: 'text' };
}

/**
 * Text models: row r of a batch of B uses prompt floor(r / ceil(B / P)) (prompts in blocks), one
 * prepareSampling per prompt block and cfg, cached; the denoiser splits the batch by block.
 */
async function seamHandle(pipe: SeamPipeline, prompts: string[], width?: number, height?: number): Promise<ModelHandle> {
  const probe = await pipe.prepareSampling!({ prompt: prompts[0]!, batchSize: 1, cfg: 1, ...(width ? { width } : {}), ...(height ? { height } : {}) });
  const latentShape = probe.latentShape.slice(1);
  const setups: SeamSetup[] = [probe];
  const plane = latentShape.reduce((a, b) => a * b, 1);
  return {
    name: pipe.modelName,
    modelSampling: probe.modelSampling,
    latentShape,
    denoiser(batch: number, cfg: number): Denoiser {
      const P = Math.min(prompts.length, batch);
      const per = Math.ceil(batch / P);
      const blocks: Array<{ start: number; count: number; setup: Promise<SeamSetup> }> = [];
      for (let start = 0, p = 0; start < batch; start += per, p++) {
        const count = Math.min(per, batch - start);
        const setup = pipe.prepareSampling!({ prompt: prompts[p]!, batchSize: count, cfg, ...(width ? { width } : {}), ...(height ? { height } : {}) });
        void setup.then((s) => setups.push(s));
        blocks.push({ start, count, setup });
      }
      return async (x: Tensor, sigma: number): Promise<Tensor> => {
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
    calls: () => setups.reduce((a, s) => a + s.calls(), 0),
    dispose: () => pipe.dispose(),
  };
}
