// Public library entry of `ays`: every name once. Loading it does not load onnxruntime-node or sharp (the
// pipeline loaders import them on their first call); the heavy or specialised parts are subpaths (see the end).
export { tensor, numel } from './tensor/tensor.js';
export type { Tensor, TensorData } from './tensor/tensor.js';
export type { Denoiser, GuidedDenoiser, NoiseSource } from './core/types.js';
export { validateSigmas, validateSteps, validateDenoise } from './core/validate.js';
export type { Sampler, SamplerOptions, StepInfo, NoiseKind, SamplerParamValue } from './samplers/types.js';
// samplers, noise and denoisers
export { sample } from './samplers/sample.js';
export { samplerNames, samplerSpec, SAMPLERS } from './samplers/registry.js';
export type { SamplerSpec, SamplerName, SamplerParamsByName, SamplerParamsOf } from './samplers/registry.js';
export type {
  SamplerSpecInfo, ChurnParams, AncestralParams, NoParams, ExpHeunParams, ExpHeunSdeParams, LmsParams, DpmAdaptiveParams,
  DpmppSdeParams, Dpmpp2mSdeParams, LcmParams, IpndmParams, DeisParams, ResMultistepParams, GradientEstimationParams,
  GradientEstimationCfgPpParams, ErSdeParams, Seeds2Params, Seeds3Params, SaSolverParams, SaSolverPeceParams, UniPcParams,
} from './samplers/specs.js';
export { defaultSamplerNoise } from './samplers/default-noise.js';
export { validateSeed } from './noise/seed.js';
export { torchRandn, TorchGenerator } from './noise/torch-randn.js';
export { replayNoise, comfyDefaultNoise, torchGeneratorNoise, prepareNoise, brownianTreeNoise, extendedBrownianTreeNoise } from './noise/sources.js';
export type { BrownianNoiseOptions } from './noise/sources.js';
export { cfg } from './denoisers/cfg.js';
export { gaussianMixtureDenoiser } from './denoisers/gaussian-mixture.js';
export type { GaussianMixture as GaussianMixtureDenoiserOptions } from './denoisers/gaussian-mixture.js';
export { modelDenoiser, guidedModelDenoiser, initialLatent } from './denoisers/model.js';
export type { RawModel, PairedRawModel, ModelDenoiser, GuidedModelDenoiser, ModelDenoiserOptions } from './denoisers/model.js';
export { lambdaOf, sigmaOfLambda } from './core/numerics.js';
// model samplings, schedules and plotting
export * from './model-sampling/index.js';
export * from './schedules/index.js';
export * from './plot/index.js';
// images (PNG with A1111-style parameters)
export { encodePng, decodeImage, readImageFile, readPngText, readPngParameters, formatParameters, parseParameters, writeFileSafe, ImageError, OverwriteError } from './image/png.js';
export type { GenerationParameters, EncodePngOptions } from './image/png.js';
// pipelines: loaded on use, so that `import 'ays'` does not load onnxruntime-node until a model is loaded
export type { Pipeline, GenerateOptions, GenerateResult } from './pipelines/types.js';
export type { LoadPipelineOptions } from './pipelines/load.js';
export type { StableDiffusionPipeline, StableDiffusionLoadOptions, GenerateTimings } from './pipelines/stable-diffusion.js';
export type { ClassConditionalPipeline, ClassConditionalOptions, ClassDenoiser, ClassSamples } from './pipelines/class-conditional.js';
export { ModelError } from './runtime/errors.js';
export { GenerateOptionsError } from './pipelines/errors.js';

/**
 * Loads the pipeline for a model folder (a diffusers/optimum ONNX export, or the bundled class-conditional model).
 * onnxruntime-node is imported on the first call.
 * @example const pipe = await loadPipeline('models/fashion-mnist');
 */
export const loadPipeline: typeof import('./pipelines/load.js').loadPipeline = async (...args) =>
  (await import('./pipelines/load.js')).loadPipeline(...args);

/** Loads a Stable Diffusion 1.x/2.x/SDXL ONNX folder (onnxruntime-node is imported on the first call). */
export const loadStableDiffusionPipeline: typeof import('./pipelines/stable-diffusion.js').loadStableDiffusionPipeline = async (...args) =>
  (await import('./pipelines/stable-diffusion.js')).loadStableDiffusionPipeline(...args);

/** Loads a class-conditional model folder such as the bundled Fashion-MNIST model (onnxruntime-node on the first call). */
export const loadClassConditionalPipeline: typeof import('./pipelines/class-conditional.js').loadClassConditionalPipeline = async (...args) =>
  (await import('./pipelines/class-conditional.js')).loadClassConditionalPipeline(...args);

// More, by subpath: 'ays/onnx' (sessions, float16, model folders, tokenizer), 'ays/bundled' (the bundled model's
// evaluator and demo), 'ays/optimizer' (AYS / GITS schedule optimizers, schedule files), 'ays/lab' (testbeds,
// ODE reference, metrics, quality runs), 'ays/testing' (tiny fixture model writers).
