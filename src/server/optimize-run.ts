/**
 * What an optimization run does, target by target. Runs inside the optimize worker (see
 * optimize-worker.ts); kept free of server code so it can be called directly too.
 */
import { optimizeAys } from '../optimizer/ays.js';
import { outputDistanceEarlyStop } from '../optimizer/early-stop.js';
import { testbed, testbedNames, testbedDescription } from '../lab/testbeds.js';
import type { OptimizeOutcome, OptimizeRequest, OptimizeTarget, SweepReport } from './optimize.js';

/** Monte Carlo samples per KLUB estimate in the studio: fewer than the paper's 8192, so a run takes seconds. */
export const STUDIO_SAMPLES = 2048;

export function testbedTargets(): OptimizeTarget[] {
  return testbedNames.map((name) => ({
    name,
    description: testbedDescription(name) ?? name,
    model: testbed(name).model?.name ?? 'edm',
    methods: ['ays'],
  }));
}

/** Stage plan for a step count: 10 -> 20 -> 40 as in the paper, fewer stages for few steps. */
export function stagesFor(steps: number): { baseSteps: number; stages: 1 | 2 | 3 } {
  if (steps <= 10) return { baseSteps: Math.max(2, steps), stages: 1 };
  if (steps <= 20) return { baseSteps: 10, stages: 2 };
  return { baseSteps: 10, stages: 3 };
}

/** Deployed AYS lists end in 0 (the final denoised image); the optimizer's list ends at sigma_min. */
function finalZero(sigmas: number[]): number[] {
  return [...sigmas.slice(0, -1), 0];
}

export interface RunCallbacks {
  onSweep: (report: SweepReport) => void;
  /** Fraction of the planned work done (an estimate), with where the search is. */
  onProgress?: (fraction: number, where: string) => void;
}

export async function runOptimization(request: OptimizeRequest & { samples?: number }, callbacks: RunCallbacks): Promise<OptimizeOutcome> {
  if (request.method !== 'ays') throw new RangeError(`method "${request.method}" is not available for target "${request.target}"`);
  if (!testbedNames.includes(request.target)) throw new RangeError(`unknown target "${request.target}"`);
  const bed = testbed(request.target);
  const seed = request.seed ?? 0;
  const { baseSteps, stages } = stagesFor(request.steps);
  const metric = await outputDistanceEarlyStop({ denoiser: bed.denoiser, sigmaMax: bed.sigmaMax, sampleShape: [bed.mixture.dim], count: 64, seed });
  // The optimizer scores the current schedule with the metric after every stage-1 sweep; keep what it scored
  // so the sweep report can carry the schedule along with its KLUB and metric.
  let scored: number[] = [];
  const earlyStop = async (descendingSigmas: number[]) => {
    scored = [...descendingSigmas];
    return metric(descendingSigmas);
  };
  let reported = 0;
  let lastFraction = -1;
  const result = await optimizeAys({
    denoiser: bed.denoiser,
    rowDenoiser: bed.rowDenoiser,
    data: (n, rng) => bed.sampleData(n, rng),
    sigmaMin: bed.sigmaMin,
    sigmaMax: bed.sigmaMax,
    timestepSigmas: bed.model?.kind === 'discrete' ? bed.model.sigmas : undefined,
    steps: request.steps,
    baseSteps,
    stages,
    samples: request.samples ?? STUDIO_SAMPLES,
    seed,
    maxSweeps: request.maxSweeps ?? 6,
    earlyStop,
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
