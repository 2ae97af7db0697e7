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
export type { GaussianMixture } from './denoisers/gaussian-mixture.js';
export { modelDenoiser, initialLatent } from './denoisers/model.js';
export type { RawModel } from './denoisers/model.js';
// model samplings, schedules and plotting
export * from './model-sampling/index.js';
export * from './schedules/index.js';
export * from './plot/index.js';
