/**
 * Runners behind `ays eval` and `ays demo`: sample many images for one configuration (balanced classes,
 * fixed seeds), score them with the evaluator, and assemble the schedule x steps comparison.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { ClassConditionalPipeline } from '../pipelines/class-conditional.js';
import { MetricsAccumulator, type Evaluator, type ImageMetrics } from './evaluator.js';

export interface SampleConfig {
  scheduler: string;
  sampler: string;
  steps: number;
  cfg: number;
  /** Explicit sigmas instead of scheduler/steps (a schedule from a file or a bench run); `scheduler` then only names it. */
  sigmas?: number[];
}

export interface RunOptions {
  /** Images to generate; classes cycle 0..9 so every class gets the same share. */
  samples: number;
  /** Seed of the first batch (0 .. 2^64-1, exact as a bigint); batch k uses seed + k (mod 2^64), so every
   * configuration sees the same noise. */
  seed: number | bigint;
  /** Images per batch (one session call per denoiser evaluation per batch). */
  batch: number;
  /** Called after each sampler step of each batch. */
  onSamplerStep?: () => void;
  signal?: AbortSignal;
  /** Keep every generated image in the result (for paired comparisons against a reference). */
  keepImages?: boolean;
  /** Bootstrap resamples for the FID's 95% interval (MetricsAccumulator.fidInterval, as `ays eval`); default 200, 0 = none. */
  bootstrap?: number;
  /** Return the metrics accumulator (classifier features of every image), for paired FID comparisons. */
  keepMetrics?: boolean;
}

export interface ConfigResult extends ImageMetrics, SampleConfig {
  /** Network evaluations per image (a CFG pair counts as one). */
  nfe: number;
  sigmas: number[];
  seconds: number;
  /** The first `keep` images (classes 0, 1, 2, ...), for grids. */
  shown: Tensor;
  /** Every image, when `keepImages` was set. */
  images?: Tensor;
  /** RMS pixel difference (images in [0, 1]) to the reference run from the same noise, when one was given. */
  rmseToReference?: number;
  /** Bootstrap 95% interval of the FID (resampling the images), unless `bootstrap` was 0. */
  fidCi?: [number, number];
  /** The accumulator, when `keepMetrics` was set (MetricsAccumulator.fidDifferenceInterval against another run). */
  metrics?: MetricsAccumulator;
}

/**
 * Root-mean-square pixel difference between two runs from the same seeds and labels. For a deterministic (ODE)
 * sampler both converge to the same images as the steps grow, so this measures the discretization error directly,
 * with far less sampling noise than a distribution metric at small sample counts.
 */
export function rmsDifference(a: Tensor, b: Tensor): number {
  if (a.data.length !== b.data.length) throw new RangeError(`rmsDifference: ${a.data.length} vs ${b.data.length} values`);
  let sum = 0;
  for (let i = 0; i < a.data.length; i++) sum += (a.data[i]! - b.data[i]!) ** 2;
  return Math.sqrt(sum / a.data.length);
}

const SEEDS = 2n ** 64n;

/** The seed of batch k: seed + k modulo 2^64, a number while that is exact, else a bigint. */
export function batchSeed(seed: number | bigint, k: number): number | bigint {
  const s = (BigInt(seed) + BigInt(k)) % SEEDS;
  return s <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(s) : s;
}

/** Generate `samples` images for one configuration and score them. */
export async function evaluateConfig(
  pipeline: ClassConditionalPipeline,
  evaluator: Evaluator,
  config: SampleConfig,
  options: RunOptions,
  keep = 10,
): Promise<ConfigResult> {
  if (!Number.isInteger(options.samples) || options.samples < 2) throw new RangeError(`samples must be an integer >= 2, got ${options.samples}`);
  if (!Number.isInteger(options.batch) || options.batch < 1) throw new RangeError(`batch must be a positive integer, got ${options.batch}`);
  const numClasses = pipeline.classNames.length;
  const metrics = new MetricsAccumulator(evaluator);
  const start = performance.now();
  let shown: Tensor | undefined;
  const all: Float32Array[] = [];
  let nfe = 0;
  let sigmas: number[] = [];
  for (let k = 0, done = 0; done < options.samples; k++) {
    const b = Math.min(options.batch, options.samples - done);
    // Global index -> class, so the class sequence does not depend on the batch size.
    const labels = Array.from({ length: b }, (_, i) => (done + i) % numClasses);
    const result = await pipeline.sampleImages({
      classLabel: labels,
      batchSize: b,
      seed: batchSeed(options.seed, k),
      scheduler: config.scheduler,
      ...(config.sigmas ? { sigmas: config.sigmas } : {}),
      sampler: config.sampler,
      steps: config.steps,
      cfg: config.cfg,
      signal: options.signal,
      onStep: options.onSamplerStep ? () => options.onSamplerStep!() : undefined,
    });
    nfe = result.nfe;
    sigmas = result.sigmas;
    await metrics.add(result.images, labels);
    if (options.keepImages) all.push(result.images.data as Float32Array);
    if (!shown) {
      const n = Math.min(keep, b);
      const plane = result.images.data.length / b;
      shown = { data: result.images.data.slice(0, n * plane), shape: [n, ...result.images.shape.slice(1)] };
    }
    done += b;
  }
  const resamples = options.bootstrap ?? 200;
  const fidCi = resamples > 0 ? metrics.fidInterval(resamples, Number(BigInt(options.seed) % 2n ** 31n)) : undefined;
  const out: ConfigResult = { ...config, ...metrics.result(), ...(fidCi ? { fidCi } : {}), ...(options.keepMetrics ? { metrics } : {}), nfe, sigmas, seconds: (performance.now() - start) / 1000, shown: shown! };
  if (options.keepImages) {
    const data = new Float32Array(all.reduce((n, a) => n + a.length, 0));
    let o = 0;
    for (const a of all) {
      data.set(a, o);
      o += a.length;
    }
    out.images = { data, shape: [options.samples, ...shown!.shape.slice(1)] };
  }
  return out;
}

export interface DemoOptions extends RunOptions {
  schedulers: string[];
  stepCounts: number[];
  referenceSteps: number;
  referenceScheduler: string;
  sampler: string;
  cfg: number;
  /** Called when a cell starts. */
  onCellStart?: (scheduler: string, steps: number) => void;
  /** Called when a cell finishes. */
  onCell?: (result: ConfigResult | null, scheduler: string, steps: number) => void;
}

export interface DemoResult {
  /** cells[row][col], null where the row's schedule is unavailable (e.g. no optimized schedule). */
  cells: Array<Array<ConfigResult | null>>;
  reference: ConfigResult;
  /** Rows left empty and why. */
  skipped: Record<string, string>;
  seconds: number;
}

/** Sampler steps (summed over batches) that one configuration takes, for progress totals. */
export function samplerStepsFor(pipeline: ClassConditionalPipeline, config: SampleConfig, samples: number, batch: number): number {
  const batches = Math.ceil(samples / batch);
  return batches * pipeline.sigmasFor(config.scheduler, config.steps, { sampler: config.sampler }).length - batches;
}

/** The schedule x steps comparison plus the shared high-step reference. */
export async function runDemo(pipeline: ClassConditionalPipeline, evaluator: Evaluator, options: DemoOptions): Promise<DemoResult> {
  const start = performance.now();
  const skipped: Record<string, string> = {};
  const cells: Array<Array<ConfigResult | null>> = [];
  options.onCellStart?.(options.referenceScheduler, options.referenceSteps);
  const reference = await evaluateConfig(
    pipeline,
    evaluator,
    { scheduler: options.referenceScheduler, sampler: options.sampler, steps: options.referenceSteps, cfg: options.cfg },
    { ...options, keepImages: true },
  );
  reference.rmseToReference = 0;
  options.onCell?.(reference, options.referenceScheduler, options.referenceSteps);
  for (const scheduler of options.schedulers) {
    const row: Array<ConfigResult | null> = [];
    try {
      pipeline.sigmasFor(scheduler, options.stepCounts[0]!, { sampler: options.sampler });
    } catch (err) {
      skipped[scheduler] = err instanceof Error ? err.message : String(err);
      cells.push(options.stepCounts.map(() => null));
      for (const steps of options.stepCounts) options.onCell?.(null, scheduler, steps);
      continue;
    }
    for (const steps of options.stepCounts) {
      options.onCellStart?.(scheduler, steps);
      const r = await evaluateConfig(pipeline, evaluator, { scheduler, sampler: options.sampler, steps, cfg: options.cfg }, { ...options, keepImages: true });
      r.rmseToReference = rmsDifference(r.images!, reference.images!);
      delete r.images;
      row.push(r);
      options.onCell?.(r, scheduler, steps);
    }
    cells.push(row);
  }
  return { cells, reference, skipped, seconds: (performance.now() - start) / 1000 };
}
