import type { Tensor } from '../tensor/tensor.js';
import type { ModelSampling } from '../model-sampling/types.js';
import type { GuidedDenoiser } from '../samplers/types.js';

/**
 * What to condition on and how big: everything a pipeline needs to build its guided denoiser, and nothing about
 * the schedule or the sampler's noise (those are the caller's: `sample()` with a seed).
 *
 * @example
 * const setup = await pipeline.prepareSampling({ prompt: 'a cat', cfg: 7, width: 512, height: 512 });
 * const x = initialLatent(prepareNoise(seed, setup.latentShape), sigmas[0], setup.modelSampling);
 * const images = await setup.decode(await sample('euler', setup.denoiser, x, sigmas, { seed }));
 */
export interface SamplingRequest {
  /** Text pipelines (Stable Diffusion). */
  prompt?: string;
  negativePrompt?: string;
  /** Class-conditional pipelines: a class name or index per image, or one for all; "none" = unconditional. */
  classLabel?: string | number | Array<string | number>;
  batchSize?: number;
  width?: number;
  height?: number;
  cfg: number;
  /** Distilled guidance (Flux-style pipelines); ignored by pipelines without it. */
  guidance?: number;
  /** The sampler that will run, so `*_cfg_pp` samplers get the uncond prediction even at cfg 1. */
  sampler?: string;
  /** Init image for image-to-image, [1, C, H, W] in [0, 1]; its encoding comes back as `SamplingSetup.initLatent`. */
  init?: Tensor;
  /** Cancels the denoiser's later calls (they throw an AbortError). */
  signal?: AbortSignal;
}

/** A prepared conditioning: the guided denoiser over the model, the latent shape and the decoder. */
export interface SamplingSetup {
  readonly modelSampling: ModelSampling;
  /** [B, C, H, W]; the starting noise is prepareNoise(seed, latentShape) (torch.randn on the CPU). */
  readonly latentShape: readonly number[];
  /** k-diffusion latent x -> x0 with CFG applied; `lastUncond` set when the uncond half ran. */
  readonly denoiser: GuidedDenoiser;
  /** Network calls so far through `denoiser` (a CFG pair in one batch counts once). */
  readonly calls: () => number;
  /** The encoded init image for image-to-image ([B, C, H, W], repeated over the batch), else null. */
  readonly initLatent: Tensor | null;
  /** Latents [B, C, H, W] -> images [B, C', H', W'] in [0, 1]. */
  decode(latents: Tensor): Promise<Tensor>;
  /** Class-conditional pipelines: the label of each row (the null class for unconditional rows). */
  readonly labels?: readonly number[];
  /** Things the caller should show the user (e.g. a prompt longer than CLIP reads). */
  readonly warnings?: readonly string[];
}

/** Options shared by every pipeline's generate(); a pipeline refuses what does not apply to it. */
export interface GenerateOptions extends Omit<SamplingRequest, 'sampler'> {
  seed: number | bigint;
  scheduler: string;
  sampler: string;
  steps: number;
  /** Image-to-image strength in [0, 1]; needs `init`. */
  denoise?: number;
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
  /** Sampler steps actually run (sigmas.length - 1): what the PNG's `Steps:` says, also with denoise < 1. */
  steps: number;
  /** The seed as used (a bigint above 2^53 - 1 stays exact); write String(seed) wherever it is recorded. */
  seed: number | bigint;
  /** One PNG per image with the A1111-style `parameters` text chunk. */
  pngs: Uint8Array[];
  /** The A1111 `parameters` text per image. */
  parameters: string[];
  /** Number of denoiser (network) evaluations, counting a CFG pair as one. */
  nfe: number;
  /** Class-conditional pipelines: the label of each image. */
  labels?: number[];
  /** Warnings the caller should show (e.g. a prompt longer than one CLIP window was chunked). */
  warnings: string[];
}

/** Which schedule: a scheduler name (the library's or one of `capabilities.extraSchedulers`) and a step count. */
export interface ScheduleRequest {
  scheduler: string;
  steps: number;
  /** Samplers that drop the penultimate sigma (dpm_2, uni_pc, ...) get one step more, as in ComfyUI. */
  sampler?: string;
  /** Image-to-image strength: the last `steps` of a longer schedule. */
  denoise?: number;
  /** gits coefficient. */
  coeff?: number;
}

/** What a pipeline can do, for the CLI, the server and the studio (no casts needed). */
export interface PipelineCapabilities {
  readonly conditioning: 'text' | 'class';
  /** Class pipelines: display names, index = label ("T-shirt/top"). Empty for text pipelines. */
  readonly classNames: readonly string[];
  /** Class pipelines: the names to type (`--class sneaker`), index = label. */
  readonly classKeys: readonly string[];
  /** Schedulers this model adds to the library's (e.g. 'optimized' when it carries an optimized schedule). */
  readonly extraSchedulers: readonly string[];
  /** CFG scale to use when the user gives none. */
  readonly recommendedCfg: number;
  /** The resolution the model was trained at. */
  readonly nativeSize: { readonly width: number; readonly height: number };
  /** Width and height must be multiples of this (8 x 2^downsamplers for a UNet); 0 when the size is fixed. */
  readonly sizeMultiple: number;
  /** Only the native size is possible (pixel-space class models). */
  readonly fixedSize: boolean;
  readonly imageToImage: boolean;
  readonly negativePrompt: boolean;
}

/** Which model this is, for PNG parameters and schedule files. */
export interface ModelIdentity {
  /** Folder or card name. */
  readonly name: string;
  /** sha256 (hex) of the denoiser network's weights file(s), computed once on first call. */
  contentHash(): Promise<string>;
}

export interface Pipeline {
  readonly kind: 'stable-diffusion' | 'stable-diffusion-xl' | 'stable-diffusion-3' | 'flux' | 'class-conditional';
  /** Human-readable model name (folder name or card name), recorded in PNG parameters. */
  readonly modelName: string;
  readonly model: ModelIdentity;
  readonly modelSampling: ModelSampling;
  readonly capabilities: PipelineCapabilities;
  /** The sigmas for a schedule on this model, including the model's extra schedulers and the denoise rule. */
  schedule(request: ScheduleRequest): number[];
  /** Class pipelines only: a class name (any case and punctuation), an index 0..N-1, or "none" -> label; throws a
   * one-line error naming the classes otherwise. Absent on text pipelines. */
  resolveClass?(label: string | number): number;
  /** The checks prepareSampling makes first (size, size multiple, memory, classes, prompt kind), without any model
   * work: callers that queue work (the server) refuse a bad request at once with it. Throws a one-line error. */
  checkRequest?(request: SamplingRequest): void;
  /** Check a request and build the guided denoiser, latent shape and decoder for it (before any sampling). */
  prepareSampling(request: SamplingRequest): Promise<SamplingSetup>;
  /** prepareSampling + sample() + decode, with PNGs and their parameters. */
  generate(options: GenerateOptions): Promise<GenerateResult>;
  /** Release the ONNX sessions. */
  dispose(): Promise<void>;
}
