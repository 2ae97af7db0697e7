// Public library entry of `ays`. Each area re-exports its public names here.
export { tensor, numel } from './tensor/tensor.js';
export type { Tensor, TensorData } from './tensor/tensor.js';
export type { Denoiser, GuidedDenoiser, NoiseSource } from './core/types.js';
export { validateSigmas, validateSteps } from './core/validate.js';
export type { Sampler, SamplerOptions, StepInfo, NoiseKind, SamplerParamValue } from './samplers/types.js';
// samplers, noise and denoisers
export { sample } from './samplers/sample.js';
export { samplerNames, samplerSpec, SAMPLERS } from './samplers/registry.js';
export type { SamplerSpec } from './samplers/registry.js';
export type {
  SamplerSpecInfo, ChurnParams, AncestralParams, NoParams, ExpHeunParams, ExpHeunSdeParams, LmsParams, DpmAdaptiveParams,
  DpmppSdeParams, Dpmpp2mSdeParams, LcmParams, IpndmParams, DeisParams, ResMultistepParams, GradientEstimationParams,
  GradientEstimationCfgPpParams, ErSdeParams, Seeds2Params, Seeds3Params, SaSolverParams, SaSolverPeceParams, UniPcParams,
} from './samplers/specs.js';
export { defaultSamplerNoise } from './samplers/default-noise.js';
export { validateSeed } from './noise/seed.js';
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
// schedule optimizers (AYS KLUB search, GITS) and the quality lab (exact testbeds, ODE reference, metrics)
export { optimizeAys, searchStageOne, refineNewPoints, klubObjective } from './optimizer/ays.js';
export type { AysOptions, AysResult, AysProgress, AysTraceEntry, EarlyStopMetric, KlubEstimatorKind } from './optimizer/ays.js';
export { estimateKlubInterval, estimateBracketCosts, makeKlubDraws } from './optimizer/klub.js';
export type { KlubDraws, KlubEstimate, KlubIntervalOptions } from './optimizer/klub.js';
export { klubNormaliser, importanceG, importanceInverseCdf, klOptimalGaussianSchedule, klubOptimalGaussianSchedule, gaussianKlubPerC4d, gaussianEulerKl, gaussianStochasticDdimKl } from './optimizer/klub-closed-form.js';
export { coordinateSweep, coordinateCandidates, subdivide, loglinearInterp, edmSchedule, logSnrSchedule, nearestTimestep } from './optimizer/search.js';
export { outputDistanceEarlyStop } from './optimizer/early-stop.js';
export { optimizeGits, gitsDynamicProgram } from './optimizer/gits.js';
export type { GitsOptions, GitsResult } from './optimizer/gits.js';
export { makeScheduleFile, readScheduleFile, sigmasForSteps } from './optimizer/schedule-file.js';
export type { ScheduleFile } from './optimizer/schedule-file.js';
export type { RowDenoiser, DataSampler, KlubVariant } from './optimizer/types.js';
export { testbed, testbedNames, testbedDescription, makeTestbed, gridMixture } from './lab/testbeds.js';
export type { Testbed } from './lab/testbeds.js';
export { gaussianMixture, mixtureDenoise, mixtureLogDensity, sampleMixture } from './lab/mixture.js';
export type { GaussianMixture as IsotropicMixture } from './lab/mixture.js';
export { presentAsModel } from './lab/present.js';
export { solveProbabilityFlow } from './core/ode.js';
export { rmse, meanNll, slicedWasserstein2, gaussianSamplerKl } from './lab/metrics.js';
export { runQuality, qualityTable, scheduleFor } from './lab/quality.js';
export type { QualityRow, QualityOptions, QualityMetric, FinalStep } from './lab/quality.js';
export { optimizeForTestbed } from './lab/optimize-testbed.js';
export { createRng } from './core/rng.js';
