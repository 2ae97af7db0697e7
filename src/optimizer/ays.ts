import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser } from '../samplers/types.js';
import { createRng } from '../core/rng.js';
import { loglinearInterp } from '../core/numerics.js';
import { estimateBracketCosts, estimateKlubInterval, makeKlubDraws, type KlubDraws } from './klub.js';
import {
  coordinateSweep,
  edmSchedule,
  fractionalTimestep,
  subdivide,
  type CoordinateCost,
  type TimestepGrid,
} from './search.js';
import type { DataSampler, DenoiserPair, KlubVariant, RowDenoiser } from './types.js';

/** One line of the optimisation trace (after each stage-1 sweep, and after each later stage). */
export interface AysTraceEntry {
  stage: 1 | 2 | 3;
  sweep: number;
  /** Estimated total KLUB of the current schedule (same random numbers throughout). */
  klub: number;
  /** The early-stopping metric (stage 1), lower is better. */
  earlyStop?: number;
  /** Descending sigmas of the schedule at this point. */
  sigmas: number[];
}

export interface AysProgress {
  stage: 1 | 2 | 3;
  sweep: number;
  /** Coordinate just updated (index in the ascending schedule), when reporting inside a sweep. */
  coordinate?: number;
  klub?: number;
  earlyStop?: number;
  /** Denoiser rows evaluated so far. */
  evaluations: number;
  /** Fraction of the planned work done, 0..1 (an estimate). */
  fraction: number;
}

/** Lower-is-better score of a descending schedule (e.g. few-step output distance to a reference). */
export type EarlyStopMetric = (descendingSigmas: number[]) => Promise<number>;

export interface StageOneOptions {
  candidates?: number;
  /** Sweep cap; default 8. */
  maxSweeps?: number;
  grid?: TimestepGrid;
  signal?: AbortSignal;
  earlyStop?: EarlyStopMetric;
  /** Sweeps without improvement of the early-stop metric before stopping; default 1. */
  patience?: number;
  /** Evaluated after each sweep for the trace; optional. */
  total?: (ascending: Float64Array) => Promise<number>;
  onSweep?: (entry: { sweep: number; klub?: number; earlyStop?: number; schedule: Float64Array }) => void;
  onUpdate?: (sweep: number, i: number) => void;
  /** Candidate window of the first sweep as a fraction of the bracket (log scale); default 1 (whole bracket). */
  initialWindow?: number;
}

export interface StageOneResult {
  schedule: Float64Array;
  sweeps: number;
  stoppedBy: 'early-stop' | 'converged' | 'max-sweeps';
  trace: { sweep: number; klub?: number; earlyStop?: number; schedule: Float64Array }[];
}

/**
 * Stage 1 (spec §3): Gauss-Seidel coordinate sweeps over the interior points, window halved after a sweep with no
 * change (converged below 1/16), with early stopping on a pluggable metric: when it fails to improve for
 * `patience` sweeps the best schedule seen is returned.
 */
export async function searchStageOne(init: ArrayLike<number>, cost: CoordinateCost, options: StageOneOptions = {}): Promise<StageOneResult> {
  const schedule = Float64Array.from(init);
  const n = schedule.length - 1;
  const indices = Array.from({ length: n - 1 }, (_, k) => k + 1);
  const maxSweeps = options.maxSweeps ?? 8;
  const patience = options.patience ?? 1;
  const trace: StageOneResult['trace'] = [];
  const record = async (sweep: number): Promise<{ klub?: number; earlyStop?: number }> => {
    const entry = {
      sweep,
      klub: options.total ? await options.total(schedule) : undefined,
      earlyStop: options.earlyStop ? await options.earlyStop(descending(schedule)) : undefined,
      schedule: Float64Array.from(schedule),
    };
    trace.push(entry);
    options.onSweep?.(entry);
    return entry;
  };
  const first = await record(0);
  let best = { metric: first.earlyStop ?? Infinity, schedule: Float64Array.from(schedule) };
  let bad = 0;
  let window = options.initialWindow ?? 1;
  let sweep = 0;
  while (sweep < maxSweeps) {
    sweep++;
    const changed = await coordinateSweep(schedule, indices, cost, {
      candidates: options.candidates,
      window,
      grid: options.grid,
      signal: options.signal,
      onUpdate: (i) => options.onUpdate?.(sweep, i),
    });
    if (!changed) {
      window *= 0.5;
      if (window < 1 / 16) return { schedule: options.earlyStop ? best.schedule : schedule, sweeps: sweep, stoppedBy: 'converged', trace };
      continue;
    }
    const entry = await record(sweep);
    if (options.earlyStop) {
      if (entry.earlyStop! < best.metric) {
        best = { metric: entry.earlyStop!, schedule: Float64Array.from(schedule) };
        bad = 0;
      } else if (++bad >= patience) {
        return { schedule: best.schedule, sweeps: sweep, stoppedBy: 'early-stop', trace };
      }
    }
  }
  return { schedule: options.earlyStop ? best.schedule : schedule, sweeps: sweep, stoppedBy: 'max-sweeps', trace };
}

/**
 * Stages 2 and 3 (spec §3): only the new (odd) points move, each an independent 1-D problem in its fixed bracket.
 * `rounds` rounds of candidates per point, the window halved each round around the best value so far.
 */
export async function refineNewPoints(
  schedule: Float64Array,
  cost: CoordinateCost,
  options: { rounds?: number; candidates?: number; grid?: TimestepGrid; signal?: AbortSignal; onUpdate?: (i: number) => void } = {},
): Promise<Float64Array> {
  const rounds = options.rounds ?? 3;
  const n = schedule.length - 1;
  for (let i = 1; i < n; i += 2) {
    let window = 1;
    for (let r = 0; r < rounds; r++) {
      await coordinateSweep(schedule, [i], cost, { candidates: options.candidates, window, grid: options.grid, signal: options.signal });
      window *= 0.5;
    }
    options.onUpdate?.(i);
  }
  return schedule;
}

export function descending(ascending: ArrayLike<number>): number[] {
  return Array.from(ascending).reverse();
}

/** The KLUB intervals a schedule is made of, with the 2M partner where the variant uses one. */
function intervalTerms(schedule: ArrayLike<number>, j: number, variant: KlubVariant): [number, number, number | undefined] {
  const n = schedule.length - 1;
  const up = variant === '2m' && j + 1 <= n ? schedule[j + 1]! : undefined;
  return [schedule[j - 1]!, schedule[j]!, up];
}

/**
 * How candidate costs are estimated: 'bracket' shares one proposal over (sigma_{i-1}, sigma_{i+1}) across the
 * candidates (about r + 2 instead of 4r batched evaluations per update; data/eps variants); 'interval' estimates
 * KLUB(sigma_{i-1}, s) and KLUB(s, sigma_{i+1}) separately for each candidate with per-interval proposals.
 */
export type KlubEstimatorKind = 'bracket' | 'interval';

/** Coordinate cost and total KLUB over shared draws (common random numbers for every candidate). */
export function klubObjective(pair: DenoiserPair, draws: KlubDraws, variant: KlubVariant, c: number, estimator: KlubEstimatorKind = 'bracket') {
  let evaluations = 0;
  const interval = async (a: number, b: number, up: number | undefined): Promise<number> => {
    evaluations += draws.count * (up === undefined ? 2 : 3);
    return (await estimateKlubInterval(pair, draws, a, b, { variant, bUp: up, c })).value;
  };
  const cost: CoordinateCost = async (schedule, i, candidates) => {
    if (estimator === 'bracket' && variant !== '2m') {
      const a = schedule[i - 1]!;
      const b = schedule[i + 1]!;
      const est = await estimateBracketCosts(pair, draws, a, b, candidates, { variant, c });
      evaluations += est.evaluations;
      return Float64Array.from(est.estimates, (e) => e.value);
    }
    const out = new Float64Array(candidates.length);
    const n = schedule.length - 1;
    const trial = Float64Array.from(schedule);
    for (let k = 0; k < candidates.length; k++) {
      trial[i] = candidates[k]!;
      let total = 0;
      // the intervals that touch coordinate i: (i-1, i), (i, i+1), and for 2M the one whose partner it is
      const first = variant === '2m' ? Math.max(1, i - 1) : i;
      for (let j = first; j <= Math.min(n, i + 1); j++) total += await interval(...intervalTerms(trial, j, variant));
      out[k] = total;
    }
    return out;
  };
  const total = async (schedule: Float64Array): Promise<number> => {
    let sum = 0;
    for (let j = 1; j < schedule.length; j++) sum += await interval(...intervalTerms(schedule, j, variant));
    return sum;
  };
  return { cost, total, evaluations: () => evaluations };
}

export interface AysOptions {
  denoiser: Denoiser;
  /** A denoiser taking one sigma per row evaluates each candidate in one call; without it rows are grouped. */
  rowDenoiser?: RowDenoiser;
  maxBatch?: number;
  /** Data samples x0 [N, ...] or a sampler for them (the estimator draws `samples` of them once). */
  data: Tensor | DataSampler;
  sigmaMin: number;
  sigmaMax: number;
  /** Steps of the returned `sigmas`; default 10. The master schedule has baseSteps * 4 steps. */
  steps?: number;
  /** Steps of stage 1; default 10 (paper). */
  baseSteps?: number;
  /** 1, 2 or 3 stages (10 -> 20 -> 40); default 3. */
  stages?: 1 | 2 | 3;
  /** Monte Carlo samples; default 8192 (paper). */
  samples?: number;
  seed?: number;
  variant?: KlubVariant;
  /** Candidate-cost estimator; default 'bracket' (the 2M variant always uses 'interval'). */
  estimator?: KlubEstimatorKind;
  /** Importance width c; default 0.5. */
  importanceC?: number;
  candidates?: number;
  maxSweeps?: number;
  /** Stage-1 candidate window as a fraction of each bracket (default 1); smaller moves let early stopping act sooner. */
  initialWindow?: number;
  refineRounds?: number;
  /** Discrete models: the sigma table by integer timestep; candidates are then table sigmas. */
  timestepSigmas?: ArrayLike<number>;
  /** Initial ascending schedule; default EDM rho 7, or time-uniform when timestepSigmas is given. */
  init?: ArrayLike<number>;
  /** Stage-1 early stopping; false disables it. */
  earlyStop?: EarlyStopMetric | false;
  patience?: number;
  onProgress?: (p: AysProgress) => void;
  signal?: AbortSignal;
}

export interface AysResult {
  /** Descending, steps+1 values, sigma_max ... sigma_min (the paper's convention; see scheduleFile for the 0-ended list). */
  sigmas: number[];
  /** Descending stage-1 schedule (baseSteps + 1 values). */
  stage1: number[];
  /** Descending master schedule of the last stage (40 steps for 3 stages). */
  master: number[];
  /** Integer timesteps of `sigmas` and `master` on discrete models. */
  timesteps?: number[];
  masterTimesteps?: number[];
  trace: AysTraceEntry[];
  stoppedBy: StageOneResult['stoppedBy'];
  evaluations: number;
  seconds: number;
}

function timeUniformInit(table: ArrayLike<number>, n: number): Float64Array {
  const T = table.length - 1;
  const out = new Float64Array(n + 1);
  for (let i = 0; i <= n; i++) out[i] = table[Math.round((i * T) / n)]!;
  return out;
}

/** The AYS optimizer (spec §2-3) against any Denoiser and data. */
export async function optimizeAys(options: AysOptions): Promise<AysResult> {
  const started = performance.now();
  const samples = options.samples ?? 8192;
  const baseSteps = options.baseSteps ?? 10;
  const stages = options.stages ?? 3;
  const steps = options.steps ?? baseSteps;
  const variant = options.variant ?? 'data';
  const c = options.importanceC ?? 0.5;
  if (!(options.sigmaMin > 0 && options.sigmaMax > options.sigmaMin)) {
    throw new RangeError(`optimizeAys: need 0 < sigmaMin (${options.sigmaMin}) < sigmaMax (${options.sigmaMax})`);
  }
  if (!Number.isInteger(samples) || samples < 2) throw new RangeError(`optimizeAys: samples must be an integer >= 2, got ${samples}`);
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`optimizeAys: steps must be a positive integer, got ${steps}`);
  if (!Number.isInteger(baseSteps) || baseSteps < 2) throw new RangeError(`optimizeAys: baseSteps must be an integer >= 2`);
  const rng = createRng(options.seed ?? 0);
  const data = typeof options.data === 'function' ? await options.data(samples, rng) : options.data;
  const draws = makeKlubDraws(data, rng, variant === '2m');
  const pair: DenoiserPair = { denoiser: options.denoiser, rowDenoiser: options.rowDenoiser, maxBatch: options.maxBatch };
  const objective = klubObjective(pair, draws, variant, c, options.estimator ?? 'bracket');
  const grid = options.timestepSigmas ? { sigmas: options.timestepSigmas } : undefined;
  let init: Float64Array;
  if (options.init) init = Float64Array.from(options.init);
  else if (grid) init = timeUniformInit(grid.sigmas, baseSteps);
  else init = edmSchedule(options.sigmaMin, options.sigmaMax, baseSteps, 7);
  if (!grid) {
    init[0] = options.sigmaMin;
    init[init.length - 1] = options.sigmaMax;
  }
  for (let i = 1; i < init.length; i++) {
    if (!(init[i]! > init[i - 1]!)) throw new RangeError('optimizeAys: the initial schedule must be strictly increasing');
  }
  const maxSweeps = options.maxSweeps ?? 8;
  const rounds = options.refineRounds ?? 3;
  // planned work in coordinate updates, for the progress fraction
  const planned = maxSweeps * (baseSteps - 1) + (stages >= 2 ? baseSteps * rounds : 0) + (stages >= 3 ? 2 * baseSteps * rounds : 0);
  let done = 0;
  const report = (p: Omit<AysProgress, 'evaluations' | 'fraction'>): void =>
    options.onProgress?.({ ...p, evaluations: objective.evaluations(), fraction: Math.min(1, done / planned) });
  const trace: AysTraceEntry[] = [];
  const earlyStop = options.earlyStop === false ? undefined : options.earlyStop;
  let lastKlub: number | undefined;
  let lastMetric: number | undefined;
  const one = await searchStageOne(init, objective.cost, {
    candidates: options.candidates,
    maxSweeps,
    initialWindow: options.initialWindow,
    grid,
    signal: options.signal,
    earlyStop,
    patience: options.patience,
    total: objective.total,
    onSweep: (e) => {
      lastKlub = e.klub;
      lastMetric = e.earlyStop;
      trace.push({ stage: 1, sweep: e.sweep, klub: e.klub!, earlyStop: e.earlyStop, sigmas: descending(e.schedule) });
      report({ stage: 1, sweep: e.sweep, klub: e.klub, earlyStop: e.earlyStop });
    },
    onUpdate: (sweep, i) => {
      done++;
      report({ stage: 1, sweep, coordinate: i, klub: lastKlub, earlyStop: lastMetric });
    },
  });
  done = maxSweeps * (baseSteps - 1);
  let schedule = one.schedule;
  for (let stage = 2; stage <= stages; stage++) {
    schedule = subdivide(schedule, grid);
    await refineNewPoints(schedule, objective.cost, {
      rounds,
      candidates: options.candidates,
      grid,
      signal: options.signal,
      onUpdate: (i) => {
        done += rounds;
        report({ stage: stage as 2 | 3, sweep: 1, coordinate: i, klub: lastKlub });
      },
    });
    lastKlub = await objective.total(schedule);
    trace.push({ stage: stage as 2 | 3, sweep: 1, klub: lastKlub, sigmas: descending(schedule) });
    report({ stage: stage as 2 | 3, sweep: 1, klub: lastKlub });
  }
  const master = descending(schedule);
  const sigmas = Array.from(loglinearInterp(master, steps + 1, { exactEnds: true }));
  const result: AysResult = {
    sigmas,
    stage1: descending(one.schedule),
    master,
    trace,
    stoppedBy: one.stoppedBy,
    evaluations: objective.evaluations(),
    seconds: (performance.now() - started) / 1000,
  };
  if (grid) {
    result.timesteps = sigmas.map((s) => fractionalTimestep(grid, s));
    result.masterTimesteps = master.map((s) => fractionalTimestep(grid, s));
  }
  return result;
}
