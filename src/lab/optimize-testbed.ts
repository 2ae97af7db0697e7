import type { Tensor } from '../tensor/tensor.js';
import { samplerInfo } from '../samplers/registry.js';
import { sample } from '../samplers/sample.js';
import { optimizeAys, type AysProgress, type EarlyStopMetric } from '../optimizer/ays.js';
import { outputDistanceEarlyStop } from '../optimizer/early-stop.js';
import { optimizeGits } from '../optimizer/gits.js';
import { makeScheduleFile, type ScheduleFile } from '../optimizer/schedule-file.js';
import type { KlubVariant } from '../optimizer/types.js';
import type { FewStepSolver } from '../optimizer/ode-solvers.js';
import { createRng } from './rng.js';
import { labNoise } from './noise.js';
import { meanNll } from './metrics.js';
import { testbed as getTestbed } from './testbeds.js';
import { testbedModelSampling, type FinalStep } from './quality.js';

export type EarlyStopKind = 'distance' | 'nll' | 'none';

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
   * ODE reference), 'nll' (NLL of the solver's own 10-step outputs on held-out noise; testbeds only), 'none'.
   */
  earlyStop?: EarlyStopKind;
  maxSweeps?: number;
  patience?: number;
  /** Convention of the runs the 'nll' early stop scores; default 'zero'. */
  finalStep?: FinalStep;
  coeff?: number;
  onProgress?: (p: AysProgress | { phase: 'teacher' | 'dp'; done: number; total: number }) => void;
  signal?: AbortSignal;
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
    earlyStop = await outputDistanceEarlyStop({ denoiser: tb.denoiser, sigmaMax: tb.sigmaMax, sampleShape: [dim], seed, solver });
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
    earlyStop,
    maxSweeps: options.maxSweeps ?? (kind === 'nll' ? 25 : 8),
    patience: options.patience ?? (kind === 'nll' ? 4 : 1),
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
      early_stop: kind,
      stopped_by: res.stoppedBy,
      stage1_sigmas: res.stage1,
      evaluations: res.evaluations,
      seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
      trace: res.trace,
    },
  });
}
