import type { Denoiser } from '../samplers/types.js';
import { createRng } from '../core/rng.js';
import { solveProbabilityFlow } from '../core/ode.js';
import { edmSchedule, nearestTimestep } from './search.js';

/**
 * GITS (Chen et al., ICML 2024, "On the Trajectory Regularity of ODE-based Diffusion Sampling"), written from the
 * paper's description: teacher trajectories on a fine grid, a cost matrix of one-step Euler errors between grid
 * points, a dynamic program over paths with exactly `steps` steps whose remaining cost is weighted by `coeff`,
 * and backtracking.
 */
export interface GitsOptions {
  denoiser: Denoiser;
  sigmaMin: number;
  sigmaMax: number;
  /** Shape of one sample. */
  sampleShape: number[];
  steps: number;
  /** Weight of the remaining path in the DP; default 1.20 (ComfyUI's default; the paper uses 1.15). */
  coeff?: number;
  /** Teacher grid steps (points - 1); default 60 (61 EDM rho-7 timestamps, paper). */
  teacherSteps?: number;
  /** Warm-up trajectories; default 256 (paper). */
  warmup?: number;
  /** Per-sample error norm; default 'l2'. */
  norm?: 'l1' | 'l2';
  seed?: number;
  /** Discrete models: the teacher grid is snapped to this sigma table (duplicates dropped). */
  timestepSigmas?: ArrayLike<number>;
  /** Teacher accuracy (relative tolerance of the ODE solve between grid points); default 1e-6. */
  teacherRtol?: number;
  onProgress?: (p: { phase: 'teacher' | 'dp'; done: number; total: number }) => void;
  signal?: AbortSignal;
}

export interface GitsResult {
  /** Descending, steps + 1 values from the teacher grid (sigma_max ... sigma_min). */
  sigmas: number[];
  /** Indices into the descending teacher grid. */
  path: number[];
  grid: number[];
  timesteps?: number[];
  /** costMatrix[i][j], i < j, in the descending grid. */
  costMatrix: number[][];
  /** DP value of the chosen path. */
  cost: number;
  seconds: number;
}

/**
 * The GITS dynamic program on a cost matrix over a descending grid of N points (index 0 = sigma_max):
 * V[i][1] = C[i][N-1]; V[j][k] = min over j < i < N-1 of C[j][i] + coeff V[i][k-1]; the path from 0 with `steps`
 * steps is recovered by backtracking the argmins.
 */
export function gitsDynamicProgram(cost: number[][], steps: number, coeff: number): { path: number[]; value: number } {
  const N = cost.length;
  if (!Number.isInteger(steps) || steps < 1) throw new RangeError(`GITS: steps must be a positive integer, got ${steps}`);
  if (steps > N - 1) throw new RangeError(`GITS: ${steps} steps need a teacher grid of at least ${steps + 1} points (have ${N})`);
  const V: Float64Array[] = Array.from({ length: steps + 1 }, () => new Float64Array(N).fill(Infinity));
  const arg: Int32Array[] = Array.from({ length: steps + 1 }, () => new Int32Array(N).fill(-1));
  for (let i = 0; i < N - 1; i++) {
    V[1]![i] = cost[i]![N - 1]!;
    arg[1]![i] = N - 1;
  }
  for (let k = 2; k <= steps; k++) {
    for (let j = 0; j < N - 1; j++) {
      for (let i = j + 1; i < N - 1; i++) {
        const v = cost[j]![i]! + coeff * V[k - 1]![i]!;
        if (v < V[k]![j]!) {
          V[k]![j] = v;
          arg[k]![j] = i;
        }
      }
    }
  }
  if (!Number.isFinite(V[steps]![0]!)) throw new RangeError(`GITS: no path with ${steps} steps on a grid of ${N} points`);
  const path = [0];
  let w = 0;
  for (let k = steps; k >= 1; k--) {
    w = arg[k]![w]!;
    path.push(w);
  }
  return { path, value: V[steps]![0]! };
}

export async function optimizeGits(options: GitsOptions): Promise<GitsResult> {
  const started = performance.now();
  const coeff = options.coeff ?? 1.2;
  const teacherSteps = options.teacherSteps ?? 60;
  const warmup = options.warmup ?? 256;
  const norm = options.norm ?? 'l2';
  if (!(options.sigmaMin > 0 && options.sigmaMax > options.sigmaMin)) throw new RangeError('GITS: need 0 < sigmaMin < sigmaMax');
  if (!(coeff > 0)) throw new RangeError(`GITS: coeff must be positive, got ${coeff}`);
  let grid = Array.from(edmSchedule(options.sigmaMin, options.sigmaMax, teacherSteps, 7)).reverse();
  const table = options.timestepSigmas;
  if (table) grid = [...new Set(grid.map((s) => table[nearestTimestep({ sigmas: table }, s)]!))];
  const N = grid.length;
  const size = options.sampleShape.reduce((a, b) => a * b, 1);
  const shape = [warmup, ...options.sampleShape];
  const noise = createRng(options.seed ?? 0).normals(warmup * size);
  // teacher: accurate ODE solves between consecutive grid points; d_i = (x_i - D(x_i))/sigma_i at each point
  const xs: Float64Array[] = [];
  const ds: Float64Array[] = [];
  let x = Float64Array.from(noise, (v) => v * grid[0]!);
  for (let i = 0; i < N; i++) {
    options.signal?.throwIfAborted();
    xs.push(x);
    const den = await options.denoiser({ data: x, shape }, grid[i]!);
    const cur = x;
    ds.push(Float64Array.from(cur, (v, j) => (v - den.data[j]!) / grid[i]!));
    if (i + 1 < N) {
      const seg = await solveProbabilityFlow(options.denoiser, { data: cur, shape }, grid[i]!, { sigmaEnd: grid[i + 1]!, rtol: options.teacherRtol ?? 1e-6, atol: 1e-8 });
      x = Float64Array.from(seg.xEnd.data);
    }
    options.onProgress?.({ phase: 'teacher', done: i + 1, total: N });
  }
  const cost: number[][] = Array.from({ length: N }, () => new Array<number>(N).fill(Infinity));
  for (let i = 0; i < N - 1; i++) {
    for (let j = i + 1; j < N; j++) {
      const h = grid[j]! - grid[i]!;
      let total = 0;
      for (let r = 0; r < warmup; r++) {
        let e = 0;
        for (let q = r * size; q < (r + 1) * size; q++) {
          const diff = xs[i]![q]! + h * ds[i]![q]! - xs[j]![q]!;
          e += norm === 'l1' ? Math.abs(diff) : diff * diff;
        }
        total += norm === 'l1' ? e : Math.sqrt(e);
      }
      cost[i]![j] = total / warmup;
    }
  }
  options.onProgress?.({ phase: 'dp', done: 0, total: 1 });
  const { path, value } = gitsDynamicProgram(cost, options.steps, coeff);
  options.onProgress?.({ phase: 'dp', done: 1, total: 1 });
  const result: GitsResult = {
    sigmas: path.map((p) => grid[p]!),
    path,
    grid,
    costMatrix: cost,
    cost: value,
    seconds: (performance.now() - started) / 1000,
  };
  if (table) result.timesteps = result.sigmas.map((s) => nearestTimestep({ sigmas: table }, s));
  return result;
}
