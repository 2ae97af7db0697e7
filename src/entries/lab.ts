/**
 * `ays/lab`: the quality lab: exact Gaussian-mixture testbeds, the probability-flow ODE reference, metrics, quality
 * runs, and the seeded generator they share.
 */
export { testbed, testbedNames, testbedDescription, makeTestbed, gridMixture } from '../lab/testbeds.js';
export type { Testbed } from '../lab/testbeds.js';
export { gaussianMixture, mixtureDenoise, mixtureLogDensity, sampleMixture } from '../lab/mixture.js';
export type { GaussianMixture as IsotropicMixture } from '../lab/mixture.js';
export { presentAsModel } from '../lab/present.js';
export { solveProbabilityFlow } from '../core/ode.js';
export { rmse, meanNll, slicedWasserstein2, gaussianSamplerKl } from '../lab/metrics.js';
export { runQuality, qualityTable, scheduleFor } from '../lab/quality.js';
export type { QualityRow, QualityOptions, QualityMetric, FinalStep } from '../lab/quality.js';
export { optimizeForTestbed } from '../lab/optimize-testbed.js';
export { createRng } from '../core/rng.js';
export type { Rng } from '../core/rng.js';
