import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser } from '../samplers/types.js';
import type { Rng } from '../core/rng.js';

/**
 * A denoiser that takes one noise level per batch row. The KLUB estimator draws a different sigma for every
 * Monte Carlo sample, so a model that accepts a sigma vector (as ComfyUI models do) evaluates a whole
 * candidate in one call. `rowDenoiserFrom` adapts a plain `Denoiser` by grouping rows of equal sigma.
 */
export type RowDenoiser = (x: Tensor, sigmas: Float64Array) => Promise<Tensor>;

/** Draws n data samples x0 as a tensor of shape [n, ...sampleShape]. */
export type DataSampler = (n: number, rng: Rng) => Tensor | Promise<Tensor>;

/** How the KLUB integrand replaces the true denoiser inside an interval (spec §4). */
export type KlubVariant = 'data' | 'eps' | '2m';

export interface DenoiserPair {
  denoiser: Denoiser;
  rowDenoiser?: RowDenoiser;
  /** Rows per call at most (memory bound for real models); default unlimited. */
  maxBatch?: number;
}
