// Public library entry of `ays`. Each area re-exports its public names here.
export { tensor, numel } from './tensor/tensor.js';
export type { Tensor, TensorData } from './tensor/tensor.js';
export type { Denoiser, GuidedDenoiser, NoiseSource, Sampler, SamplerOptions, StepInfo } from './samplers/types.js';
// samplers, noise and denoisers
export { sample } from './samplers/sample.js';
export { samplerNames, samplerInfo, SAMPLERS } from './samplers/registry.js';
export type { SamplerInfo } from './samplers/registry.js';
export { torchRandn, TorchGenerator } from './noise/torch-randn.js';
export { replayNoise, comfyDefaultNoise, torchGeneratorNoise, prepareNoise, brownianTreeNoise } from './noise/sources.js';
export type { BrownianNoiseOptions } from './noise/sources.js';
export { cfg } from './denoisers/cfg.js';
export { gaussianMixtureDenoiser } from './denoisers/gaussian-mixture.js';
export type { GaussianMixture as GaussianMixtureDenoiserOptions } from './denoisers/gaussian-mixture.js';
export { modelDenoiser, initialLatent } from './denoisers/model.js';
export type { RawModel } from './denoisers/model.js';
// model samplings, schedules and plotting
export * from './model-sampling/index.js';
export * from './schedules/index.js';
export * from './plot/index.js';
// ONNX runtime, images and pipelines (Stable Diffusion 1.x/SDXL from optimum ONNX exports)
export { openSession, cudaAvailable, ModelError, floatTensor, readFloat, requireInputs, requireOutput, checkRank, checkDim, checkType } from './runtime/session.js';
export type { Device, SessionOptions, ModelSession, ValueInfo } from './runtime/session.js';
export { toHalfBits, fromHalfBits, float32ToFloat16, float16ToFloat32 } from './runtime/float16.js';
export { encodePng, decodeImage, readImageFile, readPngText, readPngParameters, formatParameters, parseParameters, writeFileSafe, ImageError, OverwriteError } from './image/png.js';
export type { GenerationParameters, EncodePngOptions } from './image/png.js';
export type { Pipeline, GenerateOptions, GenerateResult } from './pipelines/types.js';
export { loadPipeline } from './pipelines/load.js';
export type { LoadPipelineOptions } from './pipelines/load.js';
export { loadStableDiffusionPipeline, GenerateOptionsError } from './pipelines/stable-diffusion.js';
export type { StableDiffusionPipeline, StableDiffusionLoadOptions, GenerateTimings } from './pipelines/stable-diffusion.js';
export { readModelFolder } from './pipelines/model-folder.js';
export type { ModelFolder, SchedulerConfig } from './pipelines/model-folder.js';
export { loadClipTokenizer } from './pipelines/tokenizer.js';
export type { ClipTokenizer } from './pipelines/tokenizer.js';
export { writeTinyModel, writeFixtureModels } from './fixtures/stable-diffusion-tiny.js';
export type { TinyModelOptions } from './fixtures/stable-diffusion-tiny.js';
// the bundled class-conditional model (Fashion-MNIST): pipeline, evaluator (class accuracy, FID on features), demo/eval runners
export { loadClassConditionalPipeline, carriedSigmas, cardModelSampling } from './pipelines/class-conditional.js';
export type { ClassConditionalPipeline, ClassConditionalOptions, ClassDenoiser, ClassSamples } from './pipelines/class-conditional.js';
export { defaultModelDir, readCard, readCarriedSchedule } from './bundled/model-files.js';
export type { ModelCard, CarriedSchedule } from './bundled/model-files.js';
export { loadEvaluator, readReferenceStats, classAccuracy, MetricsAccumulator } from './bundled/evaluator.js';
export type { Evaluator, ImageMetrics, ReferenceStats, Classification } from './bundled/evaluator.js';
export { featureStats, frechetDistance } from './bundled/frechet.js';
export type { FeatureStats } from './bundled/frechet.js';
export { symmetricEigen, sqrtmPsd } from './bundled/linalg.js';
export { evaluateConfig, runDemo } from './bundled/run.js';
export type { SampleConfig, RunOptions, ConfigResult, DemoOptions, DemoResult } from './bundled/run.js';
export { renderGrid } from './bundled/grid.js';
export type { GridSpec } from './bundled/grid.js';
