import type { Denoiser } from '../samplers/types.js';
import { createRng } from '../core/rng.js';
import { solveProbabilityFlow } from '../core/ode.js';
import { dpmpp2mSolver, eulerSolver, type FewStepSolver } from './ode-solvers.js';
import type { EarlyStopMetric } from './ays.js';
import type { KlubVariant } from './types.js';

export interface OutputDistanceOptions {
  denoiser: Denoiser;
  /** Denoiser whose ODE gives the reference (default `denoiser`; a testbed passes its exact, unquantised one). */
  referenceDenoiser?: Denoiser;
  sigmaMax: number;
  /** Shape of one sample. */
  sampleShape: number[];
  /** Batch of starting noises; default 64 (spec §3). */
  count?: number;
  seed?: number;
  /** Few-step solver to score; default Euler (DDIM). */
  solver?: FewStepSolver;
  /** Tolerance of the high-accuracy reference; default 1e-7. */
  referenceRtol?: number;
  /** Replace the schedule's last value by 0 before sampling, as deployed AYS lists do; default true. */
  finalZero?: boolean;
}

/** The deterministic solver whose outputs score a schedule optimised with a KLUB variant. */
export function solverForVariant(variant: KlubVariant): FewStepSolver {
  return variant === '2m' ? dpmpp2mSolver : eulerSolver;
}

/**
 * The default early-stopping metric (spec §3, [ours]): mean squared distance between the few-step outputs of the
 * schedule and a high-accuracy probability-flow ODE solution from the same starting noise.
 */
export async function outputDistanceEarlyStop(options: OutputDistanceOptions): Promise<EarlyStopMetric> {
  const count = options.count ?? 64;
  const rng = createRng((options.seed ?? 0) + 7919);
  const size = options.sampleShape.reduce((a, b) => a * b, 1);
  const noise = rng.normals(count * size);
  for (let i = 0; i < noise.length; i++) noise[i] = noise[i]! * (options.sigmaMax);
  const shape = [count, ...options.sampleShape];
  const ref = await solveProbabilityFlow(options.referenceDenoiser ?? options.denoiser, { data: noise, shape }, options.sigmaMax, {
    rtol: options.referenceRtol ?? 1e-7,
    atol: 1e-9,
  });
  const solver = options.solver ?? eulerSolver;
  const finalZero = options.finalZero ?? true;
  return async (descendingSigmas) => {
    const sigmas = [...descendingSigmas];
    if (finalZero) sigmas[sigmas.length - 1] = 0;
    const out = await solver(options.denoiser, { data: Float64Array.from(noise), shape }, sigmas);
    let sum = 0;
    for (let j = 0; j < out.data.length; j++) sum += (out.data[j]! - ref.x0.data[j]!) ** 2;
    return sum / out.data.length;
  };
}
