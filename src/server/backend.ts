/**
 * What the studio server needs from the rest of the library, in one place: the registries (schedulers,
 * samplers, model samplings), the sigma builder, the image pipeline, and the optimizer. Routes only talk
 * to this interface, so each piece has one seam.
 */
import type { ModelSampling } from '../model-sampling/types.js';
import type { Pipeline } from '../pipelines/types.js';
import { modelSampling, modelSamplingNames, modelSamplingDescription } from '../model-sampling/index.js';
import { getSigmas, schedulerNames, schedulerRegistry } from '../schedules/index.js';
import { samplerSpec, samplerNames } from '../samplers/registry.js';
import { defaultModelDir } from '../bundled/model-files.js';

/** The name the studio gives to the model it renders with (the bundled one or the --model folder). */
export const STUDIO_MODEL = 'bundled';

export interface SigmasRequest {
  model: ModelSampling;
  scheduler: string;
  steps: number;
  denoise?: number;
  coeff?: number;
}

export interface StudioBackend {
  schedulerNames(): readonly string[];
  samplerNames(): readonly string[];
  /** One line about a scheduler or sampler, for tooltips. */
  schedulerDescription(name: string): string | undefined;
  samplerDescription(name: string): string | undefined;
  /** Model-sampling presets (sd15, sdxl, svd, flux, ...), not counting the studio model. */
  modelSamplingNames(): readonly string[];
  modelSamplingDescription(name: string): string | undefined;
  modelSampling(name: string): ModelSampling;
  sigmas(request: SigmasRequest): number[];
  /** The pipeline the studio renders with, loaded on first use and kept. */
  pipeline(): Promise<Pipeline>;
  /** Release the pipeline's sessions (server shutdown). */
  dispose(): Promise<void>;
}

export interface BackendOptions {
  /** An ONNX model folder given with --model; the bundled Fashion-MNIST model when absent. */
  modelDir?: string;
}

export function createBackend(options: BackendOptions = {}): StudioBackend {
  let loading: Promise<Pipeline> | undefined;
  return {
    schedulerNames: () => schedulerNames,
    samplerNames: () => samplerNames,
    schedulerDescription: (name) => schedulerRegistry.get(name)?.description,
    samplerDescription: (name) => {
      const info = samplerSpec(name);
      return `order ${info.order}, ${info.stochastic ? 'stochastic' : 'deterministic'}, model calls per step: ${info.nfePerStep}`;
    },
    modelSamplingNames: () => modelSamplingNames,
    modelSamplingDescription: (name) => modelSamplingDescription(name),
    modelSampling: (name) => modelSampling(name),
    sigmas: ({ model, scheduler, steps, denoise, coeff }) => Array.from(getSigmas({ model, scheduler, steps, denoise, coeff })),
    pipeline() {
      if (!loading) {
        // onnxruntime loads with the first pipeline, not with the server.
        loading = import('../pipelines/load.js').then(({ loadPipeline }) => loadPipeline(options.modelDir ?? defaultModelDir()));
        // A failed load is not cached: the next request tries again (and reports the error again).
        loading.catch(() => {
          loading = undefined;
        });
      }
      return loading;
    },
    async dispose() {
      const pending = loading;
      loading = undefined;
      if (pending) await (await pending.catch(() => undefined))?.dispose();
    },
  };
}
