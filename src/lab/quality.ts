import { readFileSync } from 'node:fs';
import type { Tensor } from '../tensor/tensor.js';
import type { ModelSampling } from '../model-sampling/types.js';
import { edmModelSampling } from '../model-sampling/edm.js';
import { getSigmas } from '../schedules/get-sigmas.js';
import { samplerSpec } from '../samplers/registry.js';
import { sample } from '../samplers/sample.js';
import { readScheduleFile, sigmasForSteps } from '../optimizer/schedule-file.js';
import { edmSchedule, logSnrSchedule } from '../optimizer/search.js';
import { loglinearInterp } from '../core/numerics.js';
import { createRng } from '../core/rng.js';
import { labNoise } from './noise.js';
import { solveProbabilityFlow } from '../core/ode.js';
import { gaussianSamplerKl, meanNll, rmse, slicedWasserstein2 } from './metrics.js';
import { sampleMixture } from './mixture.js';
import { testbed as getTestbed, type Testbed } from './testbeds.js';
import { lineChartSvg } from '../plot/line-chart.js';

/** nll_excess = nll minus the same estimate on fresh true samples (the entropy floor), for log-scale plots. */
export type QualityMetric = 'nll' | 'nll_excess' | 'rmse' | 'sw2' | 'kl';

export interface QualityRow {
  testbed: string;
  sampler: string;
  scheduler: string;
  steps: number;
  metric: QualityMetric;
  value: number;
  /** Standard error where the metric is a sample mean (nll). */
  stderr?: number;
}

export interface QualityOptions {
  testbed: string;
  samplers: string[];
  /** Scheduler names (getSigmas), or custom:FILE for a schedule written by `ays optimize`. */
  schedulers: string[];
  steps: number[];
  /** Samples per run; default 8192. */
  count?: number;
  seed?: number;
  finalStep?: FinalStep;
  /** GITS coefficient for the gits scheduler; default ComfyUI's 1.20. */
  gitsCoeff?: number;
  /** ODE reference relative tolerance; default 1e-8 (checked against half of it by `odeCheck`). */
  odeRtol?: number;
  onRow?: (row: QualityRow) => void;
  signal?: AbortSignal;
}

/** The model sampling a testbed's schedules are computed for (its own preset, else continuous EDM on its range). */
export function testbedModelSampling(tb: Testbed): ModelSampling {
  return tb.model ?? edmModelSampling({ sigmaMin: tb.sigmaMin, sigmaMax: tb.sigmaMax, sigmaData: 1 });
}

/**
 * Where a run ends. 'zero': the lists as deployed (ComfyUI's, e.g. karras = n values down to sigma_min then 0;
 * optimizer files use their 0-ended `sigmas`), scored under the data density. 'sigma-min': the paper's convention,
 * n+1 values from sigma_max down to sigma_min for every schedule (karras = EDM rho 7, exponential = uniform
 * log sigma, custom = the file's `table`), scored under the density at sigma_min. A last step to 0 returns the
 * posterior mean, which shrinks samples towards the modes and flatters NLL; 'sigma-min' avoids that.
 */
export type FinalStep = 'zero' | 'sigma-min';

/** Resolve a schedule spec (getSigmas name or custom:FILE) to the descending sigma list a sampler runs. */
export function scheduleFor(spec: string, tb: Testbed, steps: number, sampler: string, finalStep: FinalStep = 'zero', gitsCoeff = 1.2): number[] {
  if (spec.startsWith('custom:')) {
    const file = spec.slice('custom:'.length);
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      throw new RangeError(`cannot read schedule file "${file}"`);
    }
    const parsed = readScheduleFile(text, file);
    if (finalStep === 'zero') return sigmasForSteps(parsed, steps);
    return steps === parsed.steps && parsed.table[steps]! > 0 ? [...parsed.table] : Array.from(loglinearInterp(parsed.master_sigmas, steps + 1, { exactEnds: true }));
  }
  if (finalStep === 'sigma-min') {
    if (spec === 'karras') return Array.from(edmSchedule(tb.sigmaMin, tb.sigmaMax, steps, 7)).reverse();
    if (spec === 'exponential') return Array.from(logSnrSchedule(tb.sigmaMin, tb.sigmaMax, steps)).reverse();
    throw new RangeError(`scheduler "${spec}" has no sigma-min form here; use karras, exponential or custom:FILE`);
  }
  const ms = testbedModelSampling(tb);
  return getSigmas({ model: ms, scheduler: spec, steps, sampler, coeff: spec === 'gits' ? gitsCoeff : undefined });
}

/** ODE references by testbed, count, seed and tolerance: they depend on nothing else, and are the slow part. */
const referenceCache = new Map<string, Tensor>();

function scaled(noise: Float64Array, s: number, shape: number[]): Tensor {
  return { data: Float64Array.from(noise, (v) => v * s), shape };
}

/**
 * Run every (sampler, schedule, steps) on a testbed from the same starting noise and the same noise stream, and
 * score the outputs: NLL under the true density and sliced W2 to fresh true samples for every sampler, RMSE to a
 * high-accuracy solution of the true probability-flow ODE (the exact data flow, also for testbeds presented as a
 * discrete model, whose timestep quantisation then counts as model error) for deterministic samplers, and exact KL
 * on the Gaussian testbed.
 */
export async function runQuality(options: QualityOptions): Promise<QualityRow[]> {
  const tb = getTestbed(options.testbed);
  const count = options.count ?? 8192;
  const seed = options.seed ?? 0;
  const dim = tb.mixture.dim;
  const shape = [count, dim];
  const rng = createRng(seed);
  const noise = rng.normals(count * dim);
  const fresh = sampleMixture(tb.mixture, count, createRng(seed + 1));
  const isGaussian = tb.mixture.stds.length === 1;
  const entropies = new Map<number, number>();
  const entropyAt = (sigma: number): number => {
    let h = entropies.get(sigma);
    if (h === undefined) {
      const extra = createRng(seed + 4).normals(count * dim);
      const pts: Tensor = { data: Float64Array.from(fresh.data, (v, i) => v + sigma * extra[i]!), shape };
      h = meanNll(tb.mixture, pts, sigma).value;
      entropies.set(sigma, h);
    }
    return h;
  };
  const rows: QualityRow[] = [];
  const push = (row: QualityRow): void => {
    rows.push(row);
    options.onRow?.(row);
  };
  for (const samplerName of options.samplers) {
    const info = samplerSpec(samplerName);
    for (const spec of options.schedulers) {
      for (const steps of options.steps) {
        options.signal?.throwIfAborted();
        const sigmas = scheduleFor(spec, tb, steps, samplerName, options.finalStep, options.gitsCoeff);
        const x = scaled(noise, sigmas[0]!, shape);
        const out = await sample(samplerName, tb.denoiser, x, sigmas, { noise: labNoise(seed + 2), signal: options.signal });
        const base = { testbed: tb.name, sampler: samplerName, scheduler: spec, steps };
        const nll = meanNll(tb.mixture, out, sigmas[sigmas.length - 1]!);
        push({ ...base, metric: 'nll', value: nll.value, stderr: nll.stderr });
        push({ ...base, metric: 'nll_excess', value: nll.value - entropyAt(sigmas[sigmas.length - 1]!) });
        push({ ...base, metric: 'sw2', value: slicedWasserstein2(out, fresh, dim, 64, createRng(seed + 3)) });
        if (!info.stochastic) {
          // the reference starts from the same noise at the schedule's own first sigma
          const s0 = sigmas[0]!;
          const key = `${tb.name}|${count}|${seed}|${options.odeRtol ?? 1e-8}|${s0}`;
          let reference = referenceCache.get(key);
          if (!reference) {
            reference = (await solveProbabilityFlow(tb.exactDenoiser, scaled(noise, s0, shape), s0, { rtol: options.odeRtol ?? 1e-8 })).x0;
            referenceCache.set(key, reference);
          }
          push({ ...base, metric: 'rmse', value: rmse(out, reference) });
        }
        if (isGaussian) {
          const c = tb.mixture.stds[0]!;
          const s = (d: any, xx: Tensor, sg: ArrayLike<number>, o?: any) => sample(samplerName, d, xx, sg, o);
          push({ ...base, metric: 'kl', value: await gaussianSamplerKl(s, sigmas, c, dim) });
        }
      }
    }
  }
  return rows;
}

/** Accuracy check of the ODE reference: the largest RMS change when the tolerance is halved. */
export async function odeCheck(testbedName: string, count = 1024, seed = 0, rtol = 1e-8): Promise<{ rtol: number; rmsChange: number; steps: number }> {
  const tb = getTestbed(testbedName);
  const dim = tb.mixture.dim;
  const noise = createRng(seed).normals(count * dim);
  const x = scaled(noise, tb.sigmaMax, [count, dim]);
  const a = await solveProbabilityFlow(tb.exactDenoiser, x, tb.sigmaMax, { rtol });
  const b = await solveProbabilityFlow(tb.exactDenoiser, x, tb.sigmaMax, { rtol: rtol / 2, atol: 5e-11 });
  return { rtol, rmsChange: rmse(a.x0, b.x0), steps: a.steps };
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a >= 1e4 || a < 1e-3) ? v.toExponential(3) : v.toFixed(4);
}

/** Plain-text table: for each sampler, rows = scheduler, columns = steps. */
export function qualityTable(rows: readonly QualityRow[], metric: QualityMetric): string {
  const chosen = rows.filter((r) => r.metric === metric);
  const samplers = [...new Set(chosen.map((r) => r.sampler))];
  const steps = [...new Set(chosen.map((r) => r.steps))].sort((a, b) => a - b);
  const lines: string[] = [];
  for (const sampler of samplers) {
    const mine = chosen.filter((r) => r.sampler === sampler);
    const schedulers = [...new Set(mine.map((r) => r.scheduler))];
    const width = Math.max(9, ...schedulers.map((s) => s.length));
    lines.push(`${sampler} (${metric}, lower is better)`);
    lines.push(['scheduler'.padEnd(width), ...steps.map((n) => `${n} steps`.padStart(12))].join(' '));
    for (const sc of schedulers) {
      const cells = steps.map((n) => {
        const r = mine.find((q) => q.scheduler === sc && q.steps === n);
        return (r ? formatValue(r.value) : '-').padStart(12);
      });
      lines.push([sc.padEnd(width), ...cells].join(' '));
    }
    lines.push('');
  }
  return `${lines.join('\n')}`;
}

/**
 * Error against steps, log scale, one line per schedule, one panel per sampler (stacked in one SVG).
 * NLL can be negative, so its panels plot nll_excess (NLL above the entropy floor).
 */
export function qualityPlotSvg(rows: readonly QualityRow[], testbedName: string, metric: QualityMetric): string {
  const plotted: QualityMetric = metric === 'nll' ? 'nll_excess' : metric;
  const chosen = rows.filter((r) => r.metric === plotted);
  const samplers = [...new Set(chosen.map((r) => r.sampler))];
  // Below the entropy floor (lists ending in 0 pull samples onto the modes) a log axis cannot show the values.
  const logY = chosen.every((r) => r.value > 0);
  const width = 900;
  const height = 520;
  const panels = samplers.map((sampler, k) => {
    const mine = chosen.filter((r) => r.sampler === sampler);
    const schedulers = [...new Set(mine.map((r) => r.scheduler))];
    const series = schedulers.map((sc) => ({
      label: sc.startsWith('custom:') ? `${sc.slice(7).split('/').pop()}` : sc,
      points: mine.filter((r) => r.scheduler === sc).sort((a, b) => a.steps - b.steps).map((r) => [r.steps, r.value] as [number, number]),
    }));
    const svg = lineChartSvg({
      title: `${testbedName}: ${sampler}`,
      xLabel: 'steps',
      yLabel: (plotted === 'nll_excess' ? 'NLL − entropy' : plotted) + (logY ? '' : ' (linear axis: some values ≤ 0)'),
      logY,
      series,
      width,
      height,
    });
    return svg.replace(/^<\?xml[^>]*>\s*/, '').replace(/^<svg /, `<svg x="0" y="${k * height}" `);
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height * samplers.length}" viewBox="0 0 ${width} ${height * samplers.length}">\n${panels.join('\n')}\n</svg>\n`;
}
