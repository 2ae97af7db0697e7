/**
 * What an optimization run does, target by target. Runs inside the optimize worker (see
 * optimize-worker.ts); kept free of server code so it can be called directly too.
 *
 * - testbeds (the lab's mixtures with exact denoisers): teacher matching, AYS (KLUB coordinate search with early
 *   stopping) or GITS;
 * - `bundled`, the studio's class-conditional model: teacher matching or GITS. AYS needs data samples x0, and
 *   the training set is not shipped; the other two need only noise and the model.
 * Teacher matching is the same code as `ays optimize --testbed|--model --method teacher` (with smaller batches),
 * including its held-out check against the shipped schedules.
 */
import type { Denoiser } from '../samplers/types.js';
import { optimizeAys } from '../optimizer/ays.js';
import { optimizeGits } from '../optimizer/gits.js';
import { edmSchedule } from '../optimizer/search.js';
import { outputDistanceEarlyStop } from '../optimizer/early-stop.js';
import { teacherPathFor } from '../optimizer/teacher.js';
import type { EarlyStopMetric } from '../optimizer/ays.js';
import { testbed, testbedNames, testbedDescription } from '../lab/testbeds.js';
import { createRng } from '../core/rng.js';
import { sample } from '../samplers/sample.js';
import { getSigmas } from '../schedules/index.js';
import type { OptimizeMethod, OptimizeOutcome, OptimizeRequest, OptimizeTarget, SweepReport } from './optimize.js';

/** Monte Carlo samples per KLUB estimate in the studio: fewer than the paper's 8192, so a run takes seconds. */
export const STUDIO_SAMPLES = 2048;

/** The studio's own model as an optimize target. */
export const BUNDLED_TARGET = 'bundled';

/**
 * GITS on the studio model: a small teacher (the model runs on the CPU), enough to rank paths. The metric's
 * reference is a 40-step DPM-Solver++(2M) run on the karras schedule rather than an adaptive ODE solve, which
 * would cost minutes here.
 */
const BUNDLED_GITS = { warmup: 8, teacherSteps: 24, teacherRtol: 1e-2, metricCount: 4, referenceSteps: 40 };

/**
 * Teacher matching in the studio: the CLI's method with smaller batches, so a run takes a minute or two on a
 * laptop CPU (the CLI's defaults are 64 noises on a model and 512 on a testbed).
 */
const STUDIO_TEACHER = { modelSamples: 16, testbedSamples: 256, testbedHeldOut: 1024 };

/** Testbed metric reference tolerance: the few-step errors it ranks are ~1e-2, so 1e-5 is ample (1e-7 costs ~40 s on gmm16). */
const TESTBED_REFERENCE_RTOL = 1e-5;

export function optimizeTargets(): OptimizeTarget[] {
  return [
    ...testbedNames.map((name) => ({
      name,
      description: testbedDescription(name) ?? name,
      model: testbed(name).model?.name ?? 'edm',
      methods: ['teacher', 'ays', 'gits'] as OptimizeMethod[],
    })),
    {
      name: BUNDLED_TARGET,
      description:
        `the studio model: teacher matching (${STUDIO_TEACHER.modelSamples} training noises, held-out check on ${STUDIO_TEACHER.modelSamples} others) ` +
        `or GITS with ${BUNDLED_GITS.warmup} teacher trajectories on ${BUNDLED_GITS.teacherSteps + 1} points (AYS needs training data, which is not shipped)`,
      model: BUNDLED_TARGET,
      methods: ['teacher', 'gits'],
    },
  ];
}

/** Stage plan for a step count: 10 -> 20 -> 40 as in the paper, fewer stages for few steps. */
export function stagesFor(steps: number): { baseSteps: number; stages: 1 | 2 | 3 } {
  if (steps <= 10) return { baseSteps: Math.max(2, steps), stages: 1 };
  if (steps <= 20) return { baseSteps: 10, stages: 2 };
  return { baseSteps: 10, stages: 3 };
}

/** Deployed AYS lists end in 0 (the final denoised image); the optimizers' lists end at sigma_min. */
function finalZero(sigmas: number[]): number[] {
  return [...sigmas.slice(0, -1), 0];
}

export interface RunCallbacks {
  onSweep: (report: SweepReport) => void;
  /** Fraction of the planned work done (an estimate), with where the search is. */
  onProgress?: (fraction: number, where: string) => void;
  signal?: AbortSignal;
}

export interface RunOptions extends OptimizeRequest {
  samples?: number;
  /** Folder of the studio model, for the `bundled` target. */
  modelDir?: string;
}

interface Problem {
  denoiser: Denoiser;
  sigmaMin: number;
  sigmaMax: number;
  sampleShape: number[];
  timestepSigmas?: ArrayLike<number>;
  metric: EarlyStopMetric;
  release(): Promise<void>;
}

async function testbedProblem(name: string, seed: number): Promise<Problem & { tb: ReturnType<typeof testbed> }> {
  const tb = testbed(name);
  const metric = await outputDistanceEarlyStop({
    denoiser: tb.denoiser,
    sigmaMax: tb.sigmaMax,
    sampleShape: [tb.mixture.dim],
    count: 64,
    seed,
    referenceRtol: TESTBED_REFERENCE_RTOL,
  });
  return {
    tb,
    denoiser: tb.denoiser,
    sigmaMin: tb.sigmaMin,
    sigmaMax: tb.sigmaMax,
    sampleShape: [tb.mixture.dim],
    timestepSigmas: tb.model?.kind === 'discrete' ? tb.model.sigmas : undefined,
    metric,
    release: async () => undefined,
  };
}

/** A denoiser that stops (throws the abort reason) before each model call once `signal` fires. */
function abortable(denoiser: Denoiser, signal: AbortSignal | undefined): Denoiser {
  if (!signal) return denoiser;
  return (x, sigma) => {
    signal.throwIfAborted();
    return denoiser(x, sigma);
  };
}

async function bundledProblem(modelDir: string | undefined, seed: number, batch: number, signal?: AbortSignal): Promise<Problem> {
  const { loadPipeline } = await import('../pipelines/load.js');
  const { defaultModelDir } = await import('../bundled/model-files.js');
  const pipeline = await loadPipeline(modelDir ?? defaultModelDir());
  const caps = pipeline.capabilities;
  if (caps.conditioning !== 'class') {
    await pipeline.dispose();
    throw new RangeError(`GITS in the studio runs on a class-conditional model; the studio model is ${pipeline.kind}`);
  }
  const ms = pipeline.modelSampling;
  // One label per row, cycling through the classes, so the schedule serves every class.
  const setup = async (n: number) => {
    const labels = Array.from({ length: n }, (_, i) => i % caps.classNames.length);
    return pipeline.prepareSampling({ classLabel: labels, batchSize: n, cfg: caps.recommendedCfg });
  };
  const teacherSetup = await setup(batch);
  const scorerSetup = await setup(BUNDLED_GITS.metricCount);
  const shape = [...teacherSetup.latentShape.slice(1)];
  // Every model call checks the cancel signal, so a cancelled run stops within one call and releases the model.
  const teacher = abortable(teacherSetup.denoiser, signal);
  const scorer = abortable(scorerSetup.denoiser, signal);
  let metric: EarlyStopMetric;
  try {
    metric = await referenceDistance(scorer, [BUNDLED_GITS.metricCount, ...shape], ms.sigmaMax, seed, (steps) => getSigmas({ model: ms, scheduler: 'karras', steps }));
  } catch (err) {
    await pipeline.dispose();
    throw err;
  }
  return {
    denoiser: teacher,
    sigmaMin: ms.sigmaMin,
    sigmaMax: ms.sigmaMax,
    sampleShape: shape,
    timestepSigmas: ms.kind === 'discrete' ? ms.sigmas : undefined,
    metric,
    release: () => pipeline.dispose(),
  };
}

/**
 * Mean squared distance of a schedule's Euler outputs to a fine DPM-Solver++(2M) reference from the same noise
 * (the early-stopping metric of the spec, with a sampler reference instead of an adaptive ODE solve).
 */
async function referenceDistance(
  denoiser: Denoiser,
  shape: number[],
  sigmaMax: number,
  seed: number,
  fine: (steps: number) => number[],
): Promise<EarlyStopMetric> {
  const n = shape.reduce((a, b) => a * b, 1);
  const noise = createRng(seed + 7919).normals(n);
  const start = (s0: number) => ({ data: Float64Array.from(noise, (v) => v * s0), shape });
  const reference = await sample('dpmpp_2m', denoiser, start(sigmaMax), fine(BUNDLED_GITS.referenceSteps));
  return async (descending) => {
    const sigmas = [...descending.slice(0, -1), 0];
    const out = await sample('euler', denoiser, start(sigmas[0]!), sigmas);
    let sum = 0;
    for (let i = 0; i < n; i++) sum += (out.data[i]! - reference.data[i]!) ** 2;
    return sum / n;
  };
}

async function runGits(problem: Problem, request: RunOptions, callbacks: RunCallbacks, gits: { warmup?: number; teacherSteps?: number; teacherRtol?: number }): Promise<OptimizeOutcome> {
  // Sweep 0 is the EDM (karras, rho 7) schedule GITS starts its teacher grid from; sweep 1 is GITS's path.
  const start = Array.from(edmSchedule(problem.sigmaMin, problem.sigmaMax, request.steps, 7)).reverse();
  callbacks.onSweep({ sweep: 0, klub: null, metric: await problem.metric(start), sigmas: start, note: 'EDM rho 7 (start)' });
  const result = await optimizeGits({
    denoiser: problem.denoiser,
    sigmaMin: problem.sigmaMin,
    sigmaMax: problem.sigmaMax,
    sampleShape: problem.sampleShape,
    steps: request.steps,
    seed: request.seed ?? 0,
    timestepSigmas: problem.timestepSigmas,
    warmup: gits.warmup,
    teacherSteps: gits.teacherSteps,
    teacherRtol: gits.teacherRtol,
    signal: callbacks.signal,
    onProgress: (p) => callbacks.onProgress?.(p.phase === 'teacher' ? (0.95 * p.done) / p.total : 0.95 + 0.05 * (p.done / p.total), `${p.phase} ${p.done}/${p.total}`),
  });
  callbacks.onSweep({ sweep: 1, klub: null, metric: await problem.metric(result.sigmas), sigmas: result.sigmas, note: `GITS path, DP cost ${result.cost.toPrecision(4)}` });
  return { sigmas: finalZero(result.sigmas), sweeps: 1, note: `GITS over ${result.grid.length} teacher points; ${result.seconds.toFixed(1)} s` };
}

/** Where each stage of a teacher run sits in the progress bar (fractions of the whole). */
const TEACHER_STAGES: Record<string, [number, number]> = { teacher: [0, 0.25], dp: [0.25, 0.75], refine: [0.25, 0.75], family: [0.25, 0.7], select: [0.7, 0.75], 'held-out check': [0.75, 1] };

/**
 * Teacher matching (the CLI's `--method teacher`): sweep 0 reports the start (karras) and sweep 1 the result,
 * each with its held-out output MSE to the teacher; the note carries the held-out verdict against the shipped
 * schedules, so a shipped schedule that is still better is said, not hidden.
 */
async function runTeacherMatching(request: RunOptions, callbacks: RunCallbacks): Promise<OptimizeOutcome> {
  const sampler = request.sampler ?? 'euler';
  const seed = request.seed ?? 0;
  const onProgress = (stage: string, done: number, total: number) => {
    const [a, b] = TEACHER_STAGES[stage] ?? [0, 1];
    callbacks.onProgress?.(a + (b - a) * (total > 0 ? done / total : 0), `${stage} ${done}/${total}`);
  };
  let rows: Array<{ name: string; sigmas: number[]; rms: number; rmsStdErr: number }>;
  let sigmas: number[];
  let verdict: string;
  // what the teacher method ran: the DP, or on a model the beta family for samplers that draw noise
  let how = 'DP';
  if (request.target === BUNDLED_TARGET) {
    const { openModelHandle } = await import('../bundled/open-model.js');
    const { defaultModelDir } = await import('../bundled/model-files.js');
    const { optimizeModelSchedule } = await import('../optimizer/model-optimize.js');
    const model = await openModelHandle(request.modelDir ?? defaultModelDir(), {});
    try {
      const r = await optimizeModelSchedule(model.handle, {
        sampler,
        steps: request.steps,
        method: 'teacher',
        samples: STUDIO_TEACHER.modelSamples,
        seed,
        heldOutSeed: seed + 4000,
        heldOutSamples: STUDIO_TEACHER.modelSamples,
        cfg: model.recommendedCfg,
        ...(callbacks.signal ? { signal: callbacks.signal } : {}),
        onProgress: (p) => onProgress(p.stage, p.done, p.total),
      });
      rows = r.guard.rows.map((row) => ({ name: row.scheduler === r.guard.optimized ? 'result' : row.scheduler, sigmas: row.sigmas, rms: row.rms, rmsStdErr: row.rmsStdErr }));
      sigmas = r.file.sigmas;
      verdict = r.guard.verdict;
      if (teacherPathFor(sampler) === 'family') how = 'beta family';
    } finally {
      await model.handle.dispose();
    }
  } else {
    const { optimizeForTestbed } = await import('../lab/optimize-testbed.js');
    const file = await optimizeForTestbed({
      testbed: request.target,
      method: 'teacher',
      solver: sampler,
      steps: request.steps,
      seed,
      samples: STUDIO_TEACHER.testbedSamples,
      heldOutSamples: STUDIO_TEACHER.testbedHeldOut,
      ...(callbacks.signal ? { signal: callbacks.signal } : {}),
      onProgress: (p) => {
        if ('phase' in p) onProgress(p.phase, p.done, p.total);
      },
    });
    const held = file.made_by.held_out as { rows: Array<{ scheduler: string; sigmas: number[]; rms: number; rmsStdErr: number }>; verdict: string };
    rows = held.rows.map((row) => ({ name: row.scheduler === 'optimized' ? 'result' : row.scheduler, sigmas: row.sigmas, rms: row.rms, rmsStdErr: row.rmsStdErr }));
    sigmas = file.sigmas;
    verdict = held.verdict;
  }
  const start = rows.find((row) => row.name === 'karras');
  const result = rows.find((row) => row.name === 'result');
  const mse = (row: { rms: number } | undefined) => (row ? row.rms ** 2 : null);
  const describe = (row: { rms: number; rmsStdErr: number } | undefined) => (row ? `held-out RMS ${row.rms.toPrecision(4)} ± ${row.rmsStdErr.toPrecision(2)}` : '');
  callbacks.onSweep({ sweep: 0, klub: null, metric: mse(start), sigmas: start?.sigmas ?? [], note: `karras (start), ${describe(start)}` });
  callbacks.onSweep({ sweep: 1, klub: null, metric: mse(result), sigmas, note: `teacher ${how} for ${sampler}, ${describe(result)}` });
  return { sigmas, sweeps: 1, note: verdict };
}

export async function runOptimization(request: RunOptions, callbacks: RunCallbacks): Promise<OptimizeOutcome> {
  const seed = request.seed ?? 0;
  if (request.method === 'teacher') {
    if (request.target !== BUNDLED_TARGET && !testbedNames.includes(request.target)) throw new RangeError(`unknown target "${request.target}"`);
    return runTeacherMatching(request, callbacks);
  }
  if (request.target === BUNDLED_TARGET) {
    if (request.method !== 'gits') throw new RangeError('the bundled model supports teacher matching and GITS (AYS needs training data, which is not shipped)');
    const problem = await bundledProblem(request.modelDir, seed, BUNDLED_GITS.warmup, callbacks.signal);
    try {
      return await runGits(problem, request, callbacks, BUNDLED_GITS);
    } finally {
      await problem.release();
    }
  }
  if (!testbedNames.includes(request.target)) throw new RangeError(`unknown target "${request.target}"`);
  const problem = await testbedProblem(request.target, seed);
  if (request.method === 'gits') return runGits(problem, request, callbacks, {});

  const bed = problem.tb;
  const { baseSteps, stages } = stagesFor(request.steps);
  // The optimizer scores the current schedule with the metric after every stage-1 sweep; keep what it scored
  // so the sweep report can carry the schedule along with its KLUB and metric.
  let scored: number[] = [];
  const earlyStop = async (descendingSigmas: number[]) => {
    scored = [...descendingSigmas];
    return problem.metric(descendingSigmas);
  };
  let reported = 0;
  let lastFraction = -1;
  const result = await optimizeAys({
    denoiser: bed.denoiser,
    rowDenoiser: bed.rowDenoiser,
    data: (n, rng) => bed.sampleData(n, rng),
    sigmaMin: bed.sigmaMin,
    sigmaMax: bed.sigmaMax,
    timestepSigmas: problem.timestepSigmas,
    steps: request.steps,
    baseSteps,
    stages,
    samples: request.samples ?? STUDIO_SAMPLES,
    seed,
    maxSweeps: request.maxSweeps ?? 6,
    earlyStop,
    signal: callbacks.signal,
    onProgress: (p) => {
      if (p.coordinate === undefined) {
        // End of a stage-1 sweep, or of a later stage (which has no early-stopping metric).
        callbacks.onSweep({
          sweep: reported++,
          klub: p.klub ?? null,
          metric: p.stage === 1 ? (p.earlyStop ?? null) : null,
          sigmas: p.stage === 1 ? scored : [],
          note: p.stage === 1 ? undefined : `stage ${p.stage}: ${baseSteps * 2 ** (p.stage - 1)} steps`,
        });
      }
      if (callbacks.onProgress && p.fraction - lastFraction >= 0.01) {
        lastFraction = p.fraction;
        callbacks.onProgress(p.fraction, `stage ${p.stage}, sweep ${p.sweep}`);
      }
    },
  });
  return {
    sigmas: finalZero(result.sigmas),
    sweeps: result.trace.filter((e) => e.stage === 1).length - 1,
    stoppedEarly: result.stoppedBy === 'early-stop',
    note: `stopped by ${result.stoppedBy}; ${result.evaluations} denoiser rows; ${result.seconds.toFixed(1)} s`,
  };
}
