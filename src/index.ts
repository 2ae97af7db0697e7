// Public library entry of `ays`. Each area re-exports its public names here.
export { tensor, numel } from './tensor/tensor.js';
export type { Tensor, TensorData } from './tensor/tensor.js';
export type { Denoiser, GuidedDenoiser, NoiseSource, Sampler, SamplerOptions, StepInfo } from './samplers/types.js';
// model samplings, schedules and plotting
export * from './model-sampling/index.js';
export * from './schedules/index.js';
export * from './plot/index.js';
