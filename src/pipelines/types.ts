import type { Tensor } from '../tensor/tensor.js';
import type { ModelSampling } from '../model-sampling/types.js';

/** Options shared by every pipeline; a pipeline ignores what does not apply to it and says so when it matters. */
export interface GenerateOptions {
  /** Text pipelines (Stable Diffusion). */
  prompt?: string;
  negativePrompt?: string;
  /** Class-conditional pipelines (the bundled model): a class name or index per image, or one for all. */
  classLabel?: string | number | Array<string | number>;
  width?: number;
  height?: number;
  batchSize?: number;
  seed: number | bigint;
  scheduler: string;
  sampler: string;
  steps: number;
  cfg: number;
  /** Image-to-image strength in [0, 1]; needs `init`. */
  denoise?: number;
  /** Init image for image-to-image, [B or 1, C, H, W] in [0, 1]. */
  init?: Tensor;
  /** Explicit sigmas instead of scheduler/steps (e.g. an optimized schedule). */
  sigmas?: number[];
  coeff?: number;
  signal?: AbortSignal;
  onStep?: (step: number, totalSteps: number, sigma: number) => void;
}

export interface GenerateResult {
  /** Decoded images, [B, C, H, W], float32 in [0, 1]. */
  images: Tensor;
  /** The exact sigmas the sampler followed. */
  sigmas: number[];
  /** One PNG per image with the A1111-style `parameters` text chunk. */
  pngs: Uint8Array[];
  /** The A1111 `parameters` text per image. */
  parameters: string[];
  /** Number of denoiser (network) evaluations, counting a CFG pair as one. */
  nfe: number;
}

export interface Pipeline {
  readonly kind: 'stable-diffusion' | 'stable-diffusion-xl' | 'stable-diffusion-3' | 'flux' | 'class-conditional';
  /** Human-readable model name (folder name or card name), recorded in PNG parameters. */
  readonly modelName: string;
  readonly modelSampling: ModelSampling;
  generate(options: GenerateOptions): Promise<GenerateResult>;
  /** Release the ONNX sessions. */
  dispose(): Promise<void>;
}
