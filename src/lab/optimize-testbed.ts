import type { Tensor } from '../tensor/tensor.js';
import { samplerInfo } from '../samplers/registry.js';
import { sample } from '../samplers/sample.js';
import { optimizeAys, type AysProgress, type EarlyStopMetric } from '../optimizer/ays.js';
import { outputDistanceEarlyStop } from '../optimizer/early-stop.js';
import { optimizeGits } from '../optimizer/gits.js';
import { makeScheduleFile, type ScheduleFile } from '../optimizer/schedule-file.js';
import type { KlubVariant } from '../optimizer/types.js';
import { edmSchedule, nearestTimestep } from '../optimizer/search.js';
import type { FewStepSolver } from '../optimizer/ode-solvers.js';
import { createRng } from '../core/rng.js';
import { labNoise } from './noise.js';
import { meanNll, slicedWasserstein2 } from './metrics.js';
import { sampleMixture } from './mixture.js';
import { testbed as getTestbed } from './testbeds.js';
import { testbedModelSampling, type FinalStep } from './quality.js';

export type EarlyStopKind = 'distance' | 'nll' | 'sw2' | 'none';

export interface TestbedOptimizeOptions {
  testbed: string;
  method?: 'ays' | 'gits';
  /** The sampler the schedule is for (any registry name). */
  solver: string;
  steps: number;
  /** AYS stage-1 step count (default 10, the paper's); the master then has 4x as many steps. */
  baseSteps?: number;
  seed?: number;
  samples?: number;
  variant?: KlubVariant;
  /**
   * Stage-1 early stopping: 'distance' (default; output MSE of the solver's deterministic counterpart against an
   * ODE reference), 'nll' (NLL of the solver's own outputs on held-out noise; testbeds only), 'sw2' (sliced W2 of
   * those outputs to fresh true samples; for stochastic samplers), 'none'.
   */
  earlyStop?: EarlyStopKind;
  maxSweeps?: number;
  patience?: number;
  /** Convention of the runs the 'nll' early stop scores; default 'zero'. */
  finalStep?: FinalStep;
  coeff?: number;
  /** Stage-1 initial schedule: the paper's rule (EDM rho 7, or time-uniform for discrete models), or EDM rho 7 always. */
  init?: 'paper' | 'edm';
  /** Stage-1 candidate window (fraction of the bracket); default 1. */
  window?: number;
  onProgress?: (p: AysProgress | { phase: 'teacher' | 'dp'; done: number; total: number }) => void;
  signal?: AbortSignal;
}

/** EDM rho-7 init, snapped to table sigmas on a discrete model (ascending). */
function edmInit(sigmaMin: number, sigmaMax: number, n: number, table?: ArrayLike<number>): Float64Array {
  const asc = edmSchedule(sigmaMin, sigmaMax, n, 7);
  if (table) {
    for (let i = 0; i < asc.length; i++) asc[i] = table[nearestTimestep({ sigmas: table }, asc[i]!)]!;
    for (let i = 1; i < asc.length; i++) if (!(asc[i]! > asc[i - 1]!)) throw new RangeError('EDM init collapses on the timestep table; use fewer steps');
  }
  return asc;
}

/** Deterministic counterpart of a sampler, for the output-distance early stop. */
export function deterministicCounterpart(solver: string): string {
  const info = samplerInfo(solver);
  if (!info.stochastic) return solver;
  if (solver.startsWith('dpmpp_2m') || solver.startsWith('dpmpp_3m')) return 'dpmpp_2m';
  return 'euler';
}

/** The KLUB variant used when none is given: the paper's first-order data-prediction form for every solver. */
export function defaultVariant(): KlubVariant {
  return 'data';
}

/** Optimise a schedule for a testbed (AYS or GITS) and return the schedule file. */
export async function optimizeForTestbed(options: TestbedOptimizeOptions): Promise<ScheduleFile> {
  const tb = getTestbed(options.testbed);
  const method = options.method ?? 'ays';
  const seed = options.seed ?? 0;
  samplerInfo(options.solver); // validates the name
  const ms = testbedModelSampling(tb);
  const dim = tb.mixture.dim;
  const timestepSigmas = tb.model?.kind === 'discrete' ? tb.model.sigmas : undefined;
  const started = performance.now();
  if (method === 'gits') {
    const coeff = options.coeff ?? 1.2;
    const r = await optimizeGits({
      denoiser: tb.denoiser, sigmaMin: tb.sigmaMin, sigmaMax: tb.sigmaMax, sampleShape: [dim], steps: options.steps, coeff, seed,
      timestepSigmas, onProgress: options.onProgress, signal: options.signal,
    });
    return makeScheduleFile({
      method: 'gits', table: r.sigmas, timesteps: r.timesteps, master_sigmas: r.sigmas, master_timesteps: r.timesteps,
      made_by: { testbed: tb.name, model: ms.name, solver: options.solver, coeff, seed, teacher_points: r.grid.length, warmup: 256, dp_cost: r.cost, seconds: r.seconds },
    });
  }
  const variant = options.variant ?? defaultVariant();
  const kind = options.earlyStop ?? 'distance';
  const finalStep = options.finalStep ?? 'zero';
  let earlyStop: EarlyStopMetric | false = false;
  if (kind === 'distance') {
    const counterpart = deterministicCounterpart(options.solver);
    const solver: FewStepSolver = (d, x, s) => sample(counterpart, d, x, s);
    // 1024 noises, not the spec's 64: on mixtures a few samples landing in the wrong mode dominate the MSE
    earlyStop = await outputDistanceEarlyStop({ denoiser: tb.denoiser, referenceDenoiser: tb.exactDenoiser, sigmaMax: tb.sigmaMax, sampleShape: [dim], seed, solver, count: 1024 });
  } else if (kind === 'sw2') {
    const count = 4096;
    const noise = createRng(seed + 104729).normals(count * dim);
    const fresh = sampleMixture(tb.mixture, count, createRng(seed + 15485863));
    earlyStop = async (desc) => {
      const sigmas = [...desc];
      if (finalStep === 'zero') sigmas[sigmas.length - 1] = 0;
      const x: Tensor = { data: Float64Array.from(noise, (v) => v * sigmas[0]!), shape: [count, dim] };
      const out = await sample(options.solver, tb.denoiser, x, sigmas, { noise: labNoise(seed + 130363) });
      return slicedWasserstein2(out, fresh, dim, 64, createRng(seed + 32452843));
    };
  } else if (kind === 'nll') {
    // held-out noise (seeds far from the bench's) so the stop does not see the evaluation samples
    const count = 4096;
    const noise = createRng(seed + 104729).normals(count * dim);
    earlyStop = async (desc) => {
      const sigmas = [...desc];
      if (finalStep === 'zero') sigmas[sigmas.length - 1] = 0;
      const x: Tensor = { data: Float64Array.from(noise, (v) => v * sigmas[0]!), shape: [count, dim] };
      const out = await sample(options.solver, tb.denoiser, x, sigmas, { noise: labNoise(seed + 130363) });
      return meanNll(tb.mixture, out, sigmas[sigmas.length - 1]!).value;
    };
  }
  const res = await optimizeAys({
    denoiser: tb.denoiser,
    rowDenoiser: tb.rowDenoiser,
    data: (n, rng) => tb.sampleData(n, rng),
    sigmaMin: tb.sigmaMin,
    sigmaMax: tb.sigmaMax,
    steps: options.steps,
    baseSteps: options.baseSteps,
    samples: options.samples,
    seed,
    variant,
    timestepSigmas,
    init: options.init === 'edm' ? edmInit(tb.sigmaMin, tb.sigmaMax, options.baseSteps ?? 10, timestepSigmas) : undefined,
    earlyStop,
    initialWindow: options.window,
    maxSweeps: options.maxSweeps ?? (kind === 'nll' || kind === 'sw2' ? 25 : 8),
    patience: options.patience ?? (kind === 'nll' || kind === 'sw2' ? 4 : 1),
    onProgress: options.onProgress,
    signal: options.signal,
  });
  return makeScheduleFile({
    method: 'ays',
    steps: options.steps,
    table: res.sigmas,
    timesteps: res.timesteps,
    master_sigmas: res.master,
    master_timesteps: res.masterTimesteps,
    made_by: {
      testbed: tb.name,
      model: ms.name,
      solver: options.solver,
      klub_variant: variant,
      samples: options.samples ?? 8192,
      seed,
      stages: 3,
      base_steps: options.baseSteps ?? 10,
      init: options.init === 'edm' ? 'EDM rho 7' + (timestepSigmas ? ' snapped to table sigmas' : '') : timestepSigmas ? 'time-uniform' : 'EDM rho 7',
      early_stop: kind,
      window: options.window ?? 1,
      stopped_by: res.stoppedBy,
      stage1_sigmas: res.stage1,
      evaluations: res.evaluations,
      seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
      trace: res.trace,
    },
  });
}
