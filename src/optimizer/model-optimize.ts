/**
 * `ays optimize --model`: optimize a schedule for a real model and sampler (teacher, ays or gits), then the
 * guard: evaluate it and every shipped schedule for that sampler and step count on held-out noises (a seed
 * disjoint from the training one) against one shared reference run, and say plainly which wins.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser } from '../samplers/types.js';
import { modelProblem, shippedSchedules, type ModelHandle } from './model-problem.js';
import { dpRuleFor, drawsNoise, optimizeTeacher, teacherPathFor, pairedDifference, pairedEvaluation, runTeacher, teacherGrid, type PairedRow } from './teacher.js';
import { gitsDynamicProgram } from './gits.js';
import { optimizeTeacherFamily } from './teacher-family.js';
import { logSigmaAxis, timeAxis, type TimeAxis } from './schedule-family.js';
import { optimizeAys } from './ays.js';
import { teacherScheduleFile, type HeldOutRow, type ScheduleFile, type ScheduleMethod } from './schedule-file.js';

export type ModelMethod = 'teacher' | 'ays' | 'gits';
export const modelMethods: readonly ModelMethod[] = ['teacher', 'ays', 'gits'];
/** The default method: the one that wins on held-out noise in bench/optimize-models.md. */
export const defaultModelMethod: ModelMethod = 'teacher';

export interface ModelOptimizeOptions {
  sampler: string;
  steps: number;
  method: ModelMethod;
  /** Training noises (and their seed). */
  samples: number;
  seed: number;
  /** Held-out noises for the guard; the seed must differ from `seed`. */
  heldOutSeed: number;
  heldOutSamples: number;
  cfg: number;
  /** Teacher grid steps (karras over the model's range); default 100. */
  teacherSteps?: number;
  /** Teacher stage-B sweeps (0 = DP only). */
  sweeps?: number;
  /** GITS coefficient (default 1.15, as the paper). */
  coeff?: number;
  /** AYS: data samples x0 in model space [N, ...]; default the teacher's own many-step samples. */
  data?: Tensor;
  /** AYS: stages (10 -> 20 -> 40), Monte Carlo samples, candidates, sweeps. */
  aysStages?: 1 | 2 | 3;
  aysCandidates?: number;
  aysSweeps?: number;
  signal?: AbortSignal;
  onProgress?: (p: { stage: string; done: number; total: number }) => void;
}

export interface GuardResult {
  rows: Array<HeldOutRow & { sigmas: number[] }>;
  /** Name of the optimized row in the table. */
  optimized: string;
  /** Whether the optimized schedule has the lowest held-out RMS. */
  wins: boolean;
  /** One or two plain sentences. */
  verdict: string;
}

export interface ModelOptimizeResult {
  file: ScheduleFile;
  guard: GuardResult;
  calls: number;
  seconds: number;
}

/** GITS on the model's teacher trajectories: teacher-forced Euler costs (per-image l2 norm), DP with coeff. */
export async function gitsFromTeacher(problem: ReturnType<typeof modelProblem>, grid: number[], steps: number, coeff: number): Promise<number[]> {
  const states: Float64Array[] = [];
  const dens: Float64Array[] = [];
  const den: Denoiser = async (x, s) => {
    const out = await problem.denoiser(x, s);
    dens.push(out.data instanceof Float64Array ? Float64Array.from(out.data) : Float64Array.from(out.data));
    states.push(Float64Array.from(x.data));
    return out;
  };
  // the teacher itself: a plain euler run on the grid keeps the states x_i and predictions D_i
  const t = await runTeacher({ ...problem, sampler: 'euler' }, grid, den);
  const M = grid.length - 1;
  const B = problem.noise.shape[0]!, n = states[0]!.length, plane = n / B;
  const cost: number[][] = Array.from({ length: M + 1 }, () => new Array<number>(M + 1).fill(Infinity));
  for (let i = 0; i < M; i++) {
    const x = states[i]!, D = dens[i]!, s = grid[i]!;
    for (let j = i + 1; j <= M; j++) {
      const target = j === M ? t.states[M]! : states[j]!;
      const k = (grid[j]! - s) / s;
      let total = 0;
      for (let r = 0; r < B; r++) {
        let ss = 0;
        for (let e = r * plane, end = e + plane; e < end; e++) {
          const d = x[e]! + k * (x[e]! - D[e]!) - target[e]!;
          ss += d * d;
        }
        total += Math.sqrt(ss);
      }
      cost[i]![j] = total / B;
    }
  }
  const { path } = gitsDynamicProgram(cost, steps, coeff);
  return path.map((i) => grid[i]!);
}

function modelSamplingKind(model: ModelHandle): string {
  const ms = model.modelSampling;
  return `${ms.kind}/${ms.prediction}`;
}

/** Optimize, then guard on held-out noise. */
export async function optimizeModelSchedule(model: ModelHandle, o: ModelOptimizeOptions): Promise<ModelOptimizeResult> {
  const t0 = performance.now();
  const c0 = model.calls();
  const ms = model.modelSampling;
  const M = o.teacherSteps ?? 100;
  const grid = teacherGrid(ms.sigmaMin, ms.sigmaMax, M);
  if (o.heldOutSeed === o.seed) throw new RangeError('the held-out seed must differ from the training seed');
  const progress = o.onProgress ?? (() => {});
  const train = modelProblem(model, o.sampler, { seed: o.seed, samples: o.samples, cfg: o.cfg, ...(o.signal ? { signal: o.signal } : {}) });
  let sigmas: number[];
  const madeBy: Record<string, unknown> = { tool: 'ays optimize --model', method: o.method, teacher: `karras ${M} steps, ${o.sampler}` };
  const objective = model.toImage ? 'mean squared error of the final x0 in pixels [0, 1]' : 'mean squared error of the final x0 in latent space';
  const noise = drawsNoise(o.sampler) ? 'Brownian tree per seed over [0, sigma_max] of the model, shared by teacher and student' : 'deterministic';
  if (o.method === 'teacher' && teacherPathFor(o.sampler) === 'family') {
    // noise-drawing samplers: the two-parameter beta family fitted with the real sampler, chosen on a validation
    // split of the training noises (teacher-family.ts)
    let axis: TimeAxis;
    let axisNote: string;
    try {
      axis = timeAxis(ms);
      axisNote = `the model's time axis (${ms.kind}), t ${axis.tEnd}..${axis.tStart}`;
    } catch {
      axis = logSigmaAxis(ms.sigmaMin, ms.sigmaMax);
      axisNote = 'log sigma over the model range (the model sampling has no usable time axis)';
    }
    const sweeps = o.sweeps ?? 0;
    const r = await optimizeTeacherFamily(train, {
      steps: o.steps,
      grid,
      axis,
      sweeps,
      onProgress: (p) => progress({ stage: p.stage, done: p.done, total: p.total }),
    });
    sigmas = r.sigmas;
    const chosen = r.candidates.find((c) => c.name === r.chosen)!;
    Object.assign(madeBy, {
      path: 'family (the sampler draws noise: the DP is not used)',
      family: `beta family on ${axisNote}: sigma_i = sigma(t_end + I^-1(1 - i/n; alpha, beta) (t_start - t_end)), fitted by a ${r.fit.evaluations}-run grid + Nelder-Mead search in log alpha, log beta with the real sampler`,
      alpha: chosen.alpha,
      beta: chosen.beta,
      fit_rows: r.fitRows.length,
      validation_rows: r.validationRows.length,
      split: 'training rows r with r mod 4 = 3 validate, the rest fit; the held-out seed is not used',
      candidates: r.candidates.map((c) => ({ name: c.name, ...(c.alpha !== undefined ? { alpha: c.alpha, beta: c.beta } : {}), fit_loss: c.fitLoss, validation_loss: c.valLoss, sigmas: c.sigmas })),
      chosen: r.chosen,
      stage_b_sweeps: sweeps,
      train_loss: r.trainLoss,
      calls_teacher: r.teacherCalls,
      calls_family: r.familyCalls,
      objective: `mean over images of each image's RMS error of the final x0 to the teacher's (${model.toImage ? 'pixels [0, 1]' : 'latent space'}); fit on the fit rows, candidates chosen by the lowest value on the validation rows`,
      noise,
    });
  } else if (o.method === 'teacher') {
    const sweeps = o.sweeps ?? 0;
    const r = await optimizeTeacher(train, {
      steps: o.steps,
      grid,
      sweeps,
      ...(dpRuleFor(o.sampler) ? {} : { start: teacherGrid(ms.sigmaMin, ms.sigmaMax, o.steps) }),
      onProgress: (p) => progress({ stage: p.stage, done: p.done, total: p.total }),
    });
    sigmas = r.sigmas;
    Object.assign(madeBy, {
      stage_a: r.dp ? `DP over the teacher grid with the ${r.dp.rule} update${r.dp.rule !== o.sampler ? ` (parent of ${o.sampler})` : ''}` : 'none (start: karras)',
      stage_b_sweeps: sweeps,
      dp_sigmas: r.dpSigmas,
      train_loss: r.trainLoss,
      objective,
      noise,
    });
  } else if (o.method === 'gits') {
    const coeff = o.coeff ?? 1.15;
    progress({ stage: 'teacher', done: 0, total: M });
    sigmas = await gitsFromTeacher(train, grid, o.steps, coeff);
    Object.assign(madeBy, { gits: `teacher-forced euler costs (per-image l2) on the model's karras-${M} euler trajectories, coeff ${coeff}` });
  } else {
    // AYS: KLUB on data (given, or the model's own many-step samples from the training noises)
    let data = o.data;
    if (!data) {
      progress({ stage: 'teacher', done: 0, total: M });
      const t = await runTeacher({ ...train, sampler: 'euler' }, grid);
      data = { data: t.states[M]!, shape: [...train.noise.shape] };
    }
    const rows = model.rowDenoiser?.(data.shape[0]!, o.cfg);
    const denoisers = new Map<number, Denoiser>();
    const byRows = (n: number) => {
      let d = denoisers.get(n);
      if (!d) denoisers.set(n, (d = model.denoiser(n, o.cfg)));
      return d;
    };
    const stages = o.aysStages ?? 3;
    const r = await optimizeAys({
      denoiser: (x, s) => byRows(x.shape[0]!)(x, s),
      ...(rows ? { rowDenoiser: rows } : {}),
      data,
      sigmaMin: ms.sigmaMin,
      sigmaMax: ms.sigmaMax,
      steps: o.steps,
      baseSteps: 10,
      stages,
      samples: data.shape[0]!,
      seed: o.seed,
      variant: 'data',
      candidates: o.aysCandidates ?? 7,
      maxSweeps: o.aysSweeps ?? 3,
      timestepSigmas: ms.sigmas,
      earlyStop: false,
      onProgress: (p) => progress({ stage: `ays stage ${p.stage}`, done: Math.round(1000 * p.fraction), total: 1000 }),
    });
    sigmas = [...r.sigmas];
    sigmas[sigmas.length - 1] = 0;
    Object.assign(madeBy, { ays: `KLUB 'data' variant, ${stages} stage(s) 10 -> 20 -> 40, data ${o.data ? 'given' : 'the model\'s karras-100 euler samples from the training noises'}`, master_sigmas: r.master });
  }
  const guard = await guardSchedule(model, o, grid, sigmas, o.method);
  const seconds = (performance.now() - t0) / 1000;
  const calls = model.calls() - c0;
  madeBy.seconds = Math.round(seconds);
  madeBy.model_calls = calls;
  const file = teacherScheduleFile({
    method: o.method as ScheduleMethod,
    sigmas,
    model: { name: model.name, ...(model.hash ? { hash: model.hash } : {}), sampling: modelSamplingKind(model), sigma_min: ms.sigmaMin, sigma_max: ms.sigmaMax },
    sampler: o.sampler,
    training: { seed: o.seed, samples: o.samples, cfg: o.cfg },
    held_out: { seed: o.heldOutSeed, samples: o.heldOutSamples, reference: `karras ${M} steps, ${o.sampler}, same noise`, rows: guard.rows.map(({ sigmas: _s, ...r }) => r) },
    made_by: { ...madeBy, verdict: guard.verdict },
  });
  return { file, guard, calls, seconds };
}

/** Held-out table: the optimized schedule and every shipped one, paired RMS to one reference run, best first. */
export async function guardSchedule(model: ModelHandle, o: ModelOptimizeOptions, grid: number[], sigmas: number[], label: string): Promise<GuardResult> {
  const held = modelProblem(model, o.sampler, { seed: o.heldOutSeed, samples: o.heldOutSamples, cfg: o.cfg, ...(o.signal ? { signal: o.signal } : {}) });
  const shipped = shippedSchedules(model, o.sampler, o.steps);
  const name = `${label} (this run)`;
  const ev = await pairedEvaluation(held, grid, [{ name, sigmas }, ...shipped], (done, total) => o.onProgress?.({ stage: 'held-out check', done, total }));
  return guardVerdict(ev.rows, name);
}

export function guardVerdict(rows: PairedRow[], name: string): GuardResult {
  const mine = rows.find((r) => r.name === name)!;
  const out = rows.map((r) => {
    const row: HeldOutRow & { sigmas: number[] } = { scheduler: r.name, rms: r.rms, rmsStdErr: r.rmsStdErr, sigmas: r.sigmas };
    if (r !== mine) {
      const d = pairedDifference(r.perImage, mine.perImage);
      row.diff = d.diff;
      row.diffStdErr = d.se;
    }
    return row;
  });
  const best = rows[0]!;
  const f = (v: number) => v.toFixed(4);
  let verdict: string;
  // equal within float32 resolution: shipped schedules are float32 values (e.g. sgm_uniform's float32 linspace of
  // timesteps), and the family's centre alpha = beta = 1 is the same schedule computed in float64
  const same = (r: PairedRow) => r.sigmas.length === mine.sigmas.length && r.sigmas.every((s, i) => Math.abs(s - mine.sigmas[i]!) <= 1e-6 * s);
  const sameAsShipped = rows.find((r) => r !== mine && same(r));
  if (best === mine || same(best)) {
    const second = rows.find((r) => r !== mine && !same(r));
    verdict = second
      ? `this run's schedule has the lowest held-out RMS: ${f(mine.rms)} ± ${f(mine.rmsStdErr)}; best shipped ${second.name} ${f(second.rms)} ± ${f(second.rmsStdErr)} (paired difference ${f(pairedDifference(mine.perImage, second.perImage).diff)} ± ${f(pairedDifference(mine.perImage, second.perImage).se)})`
      : `this run's schedule: held-out RMS ${f(mine.rms)} ± ${f(mine.rmsStdErr)}`;
  } else {
    const d = pairedDifference(mine.perImage, best.perImage);
    verdict =
      `a shipped schedule is still better on held-out noise: ${best.name} ${f(best.rms)} ± ${f(best.rmsStdErr)} against this run's ${f(mine.rms)} ± ${f(mine.rmsStdErr)} ` +
      `(paired difference +${f(d.diff)} ± ${f(d.se)}); consider --scheduler ${best.name} instead`;
  }
  if (sameAsShipped) verdict += sameAsShipped.name === 'optimized' ? "; note: this run's schedule equals the model's carried 'optimized' one" : `; note: this run's schedule equals the shipped ${sameAsShipped.name}`;
  return { rows: out, optimized: name, wins: best === mine || same(best), verdict };
}
