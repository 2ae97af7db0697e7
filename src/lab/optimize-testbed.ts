import type { Tensor } from '../tensor/tensor.js';
import { samplerSpec } from '../samplers/registry.js';
import { sample } from '../samplers/sample.js';
import { optimizeAys, type AysProgress, type EarlyStopMetric } from '../optimizer/ays.js';
import { outputDistanceEarlyStop } from '../optimizer/early-stop.js';
import { optimizeGits } from '../optimizer/gits.js';
import { makeScheduleFile, type ScheduleFile } from '../optimizer/schedule-file.js';
import type { KlubVariant } from '../optimizer/types.js';
import { edmSchedule, nearestTimestep } from '../optimizer/search.js';
import type { FewStepSolver } from '../optimizer/ode-solvers.js';
import { createRng } from '../core/rng.js';
import { optimizeTeacher, pairedEvaluation, pairedDifference, teacherGrid, type TeacherProblem } from '../optimizer/teacher.js';
import type { Testbed } from './testbeds.js';
import { scheduleFor } from './quality.js';
import { labNoise } from './noise.js';
import { meanNll, slicedWasserstein2 } from './metrics.js';
import { sampleMixture } from './mixture.js';
import { testbed as getTestbed } from './testbeds.js';
import { testbedModelSampling, type FinalStep } from './quality.js';

export type TestbedMethod = 'teacher' | 'ays' | 'gits';
export const testbedMethods: readonly TestbedMethod[] = ['teacher', 'ays', 'gits'];
/** The method `ays optimize --testbed` uses when none is given: the one that wins in the measurements. */
export const defaultTestbedMethod: TestbedMethod = 'teacher';

export type EarlyStopKind = 'distance' | 'nll' | 'sw2' | 'none';

export interface TestbedOptimizeOptions {
  testbed: string;
  /** 'teacher' (default: it wins on the testbeds, bench/optimize-testbeds.md), 'ays' (KLUB search) or 'gits'. */
  method?: TestbedMethod;
  /** teacher: coordinate-search sweeps after the DP (default 0); teacher grid steps (default 100). */
  sweeps?: number;
  teacherSteps?: number;
  /** Held-out noises for the table (seed disjoint from training; default seed + 4000; count default max(samples, 1024), at most 4096). */
  heldOutSeed?: number;
  heldOutSamples?: number;
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
  const info = samplerSpec(solver);
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
  const method = options.method ?? defaultTestbedMethod;
  const seed = options.seed ?? 0;
  samplerSpec(options.solver); // validates the name
  const ms = testbedModelSampling(tb);
  const dim = tb.mixture.dim;
  const timestepSigmas = tb.model?.kind === 'discrete' ? tb.model.sigmas : undefined;
  const started = performance.now();
  if (method === 'teacher') return teacherForTestbed(tb, options, seed, started);
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

/** One row of the held-out table: paired RMS to the teacher (same noise, same Brownian path) and NLL under the true density. */
export interface HeldOutRow {
  scheduler: string;
  sigmas: number[];
  rms: number;
  rmsStdErr: number;
  /** rms minus the optimized schedule's rms, paired over the held-out noises, and its standard error. */
  diff?: number;
  diffStdErr?: number;
  nll: number;
  nllStdErr: number;
}

/** The held-out comparison written into the file and printed by the CLI. */
export interface HeldOutTable {
  seed: number;
  samples: number;
  training_seed: number;
  reference: string;
  rows: HeldOutRow[];
  /** True when the optimized schedule has a lower held-out RMS than its start (karras). */
  improves_on_start: boolean;
  verdict: string;
}

function problemFor(tb: Testbed, solver: string, seed: number, count: number): TeacherProblem {
  const dim = tb.mixture.dim;
  return {
    denoiser: tb.denoiser,
    noise: { data: createRng(seed).normals(count * dim), shape: [count, dim] },
    sampler: solver,
    noiseSeed: seed,
    sigmaMin: tb.sigmaMin,
    sigmaMax: tb.sigmaMax,
  };
}

/**
 * Teacher matching on a testbed: the sampler's own many-step run (karras, `teacherSteps`) from the training noises
 * is the target; the DP over its grid (plus optional coordinate search) picks the schedule. Its start is karras at
 * `steps`; the result is then scored against that start and the shipped exponential schedule on held-out noise.
 */
async function teacherForTestbed(tb: Testbed, o: TestbedOptimizeOptions, seed: number, started: number): Promise<ScheduleFile> {
  const samples = o.samples ?? 512;
  const teacherSteps = o.teacherSteps ?? 100;
  if (o.steps > teacherSteps) throw new RangeError(`steps ${o.steps} is beyond the teacher grid (${teacherSteps} steps)`);
  const grid = teacherGrid(tb.sigmaMin, tb.sigmaMax, teacherSteps);
  const train = problemFor(tb, o.solver, seed, samples);
  const res = await optimizeTeacher(train, {
    steps: o.steps,
    grid,
    sweeps: o.sweeps ?? 0,
    onProgress: (p) => o.onProgress?.({ phase: p.stage === 'refine' ? 'dp' : p.stage, done: p.done, total: p.total }),
  });
  const heldOut = await heldOutTable(tb, o, seed, grid, res.sigmas);
  return makeScheduleFile({
    method: 'teacher',
    table: res.sigmas,
    master_sigmas: res.sigmas.filter((v) => v > 0),
    sampler: o.solver,
    training: { seed, samples },
    made_by: {
      testbed: tb.name,
      model: testbedModelSampling(tb).name,
      solver: o.solver,
      samples,
      seed,
      teacher: `karras ${teacherSteps} steps of ${o.solver}`,
      start: 'karras',
      sweeps: o.sweeps ?? 0,
      train_loss: res.trainLoss,
      calls: res.calls,
      seconds: Number(((performance.now() - started) / 1000).toFixed(2)),
      held_out: heldOut,
    },
  });
}

/** Score `sigmas`, karras (the start) and exponential on held-out noise: paired RMS to the teacher and NLL. */
export async function heldOutTable(tb: Testbed, o: TestbedOptimizeOptions, seed: number, grid: number[], sigmas: number[]): Promise<HeldOutTable> {
  const hoSeed = o.heldOutSeed ?? seed + 4000;
  if (hoSeed === seed) throw new RangeError('the held-out seed must differ from the training seed');
  const count = o.heldOutSamples ?? Math.min(4096, Math.max(o.samples ?? 512, 1024));
  const p = problemFor(tb, o.solver, hoSeed, count);
  const schedules = [
    { name: 'optimized', sigmas },
    { name: 'karras', sigmas: scheduleFor('karras', tb, o.steps, o.solver) },
    { name: 'exponential', sigmas: scheduleFor('exponential', tb, o.steps, o.solver) },
  ];
  const ev = await pairedEvaluation(p, grid, schedules);
  const opt = ev.rows.find((r) => r.name === 'optimized')!;
  const dim = tb.mixture.dim;
  const rows: HeldOutRow[] = ev.rows.map((r) => {
    const nll = meanNll(tb.mixture, { data: r.x, shape: [count, dim] }, r.sigmas[r.sigmas.length - 1]!);
    const d = r === opt ? undefined : pairedDifference(r.perImage, opt.perImage);
    return {
      scheduler: r.name,
      sigmas: r.sigmas,
      rms: r.rms,
      rmsStdErr: r.rmsStdErr,
      ...(d ? { diff: d.diff, diffStdErr: d.se } : {}),
      nll: nll.value,
      nllStdErr: nll.stderr,
    };
  });
  const start = rows.find((r) => r.scheduler === 'karras')!;
  const improves = opt.rms < start.rms;
  const better = rows.filter((r) => r.scheduler !== 'optimized' && r.rms <= opt.rms).map((r) => r.scheduler);
  const verdict = !improves
    ? `the optimized schedule does NOT improve on its start (karras): held-out RMS ${opt.rms.toPrecision(4)} vs ${start.rms.toPrecision(4)}`
    : better.length > 0
      ? `the optimized schedule improves on its start (karras) but ${better.join(', ')} is still better on held-out noise`
      : 'the optimized schedule has the lowest held-out RMS of optimized, karras and exponential';
  return {
    seed: hoSeed,
    samples: count,
    training_seed: seed,
    reference: `karras ${grid.length - 1} steps of ${o.solver} from the same noise${samplerSpec(o.solver).stochastic ? ' and Brownian path' : ''}`,
    rows,
    improves_on_start: improves,
    verdict,
  };
}
