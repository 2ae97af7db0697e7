/**
 * generate() for every pipeline, built on its prepareSampling(): check the options, the schedule, the guided
 * denoiser and latent shape, the seeded starting latents, one `sample()` run, decode, and the A1111 PNG text.
 * A pipeline adds only what its PNG says beyond the common settings.
 */
import type { Tensor } from '../tensor/tensor.js';
import type { GenerateOptions, GenerateResult, Pipeline, SamplingSetup } from './types.js';
import { encodePng, formatParameters } from '../image/png.js';
import { GenerateOptionsError } from './errors.js';
import { checkSamplerName, initialLatents } from './sampling.js';
export { checkSchedulerKnown } from './sampling.js';
import { sample } from '../samplers/sample.js';
import { validateSigmas, validateSteps } from '../core/validate.js';
import { validateSeed } from '../noise/seed.js';

/** The sampling run before PNGs: images, the schedule followed and what it cost. */
export interface SampledImages {
  images: Tensor;
  sigmas: number[];
  setup: SamplingSetup;
  nfe: number;
  /** Milliseconds in prepareSampling, the sampler loop and decode. */
  timings: { prepareMs: number; samplingMs: number; decodeMs: number };
}

export function abortError(): Error {
  const err = new Error('generation cancelled');
  err.name = 'AbortError';
  return err;
}

function fail(message: string): never {
  throw new GenerateOptionsError(message);
}

/** The checks every pipeline shares, before any model work (scheduler names: the pipeline's schedule()). */
export function checkGenerateOptions(o: GenerateOptions): void {
  checkSamplerName(o.sampler);
  if (!o.sigmas) {
    try {
      validateSteps(o.steps);
    } catch (err) {
      fail((err as Error).message);
    }
  }
  if (typeof o.cfg !== 'number' || !Number.isFinite(o.cfg)) fail(`cfg must be a finite number, got ${o.cfg}`);
  try {
    validateSeed(o.seed);
  } catch (err) {
    fail((err as Error).message);
  }
  if (o.denoise !== undefined) {
    if (!(o.denoise >= 0 && o.denoise <= 1)) fail(`denoise must be in [0, 1], got ${o.denoise}`);
    if (o.denoise < 1 && !o.init) fail('denoise below 1 needs an init image (image-to-image)');
  }
}

/** The schedule a generate() call follows: explicit sigmas, or the pipeline's schedule; never one without a step. */
export function generateSigmas(pipeline: Pipeline, o: GenerateOptions): number[] {
  const denoise = o.init ? (o.denoise ?? 1) : 1;
  if (o.sigmas) {
    try {
      return validateSigmas(o.sigmas);
    } catch (err) {
      fail(err instanceof Error ? err.message : String(err));
    }
  }
  if (denoise === 0) fail('denoise 0 runs no step (the init image would come back unchanged); use a denoise above 0');
  const sigmas = pipeline.schedule({ scheduler: o.scheduler, steps: o.steps, sampler: o.sampler, denoise, ...(o.coeff !== undefined ? { coeff: o.coeff } : {}) });
  const what = `${o.scheduler} at ${o.steps} steps${denoise < 1 ? ` and denoise ${denoise}` : ''}`;
  if (sigmas.length < 2) fail(`${what} keeps no step (the schedule is [${sigmas.join(', ')}]); raise ${denoise < 1 ? 'denoise or ' : ''}steps`);
  return sigmas;
}

/** Samplers that integrate between the smallest and largest positive sigma, ignoring the steps in between. */
const RANGE_SAMPLERS = ['dpm_fast', 'dpm_adaptive'];

/** A schedule the sampler would run without one model call is an error, before any work. */
export function checkCallsModel(sampler: string, sigmas: readonly number[]): void {
  const positive = sigmas.filter((s) => s > 0);
  if (RANGE_SAMPLERS.includes(sampler) && new Set(positive).size < 2) {
    fail(`${sampler} integrates from the largest to the smallest positive sigma; [${sigmas.join(', ')}] has ${positive.length} positive sigma, so the model would never be called. Give at least two positive sigmas`);
  }
}

/** The seeded starting latents of a prepared request (noise, or the noised init image for image-to-image). */
export function startLatents(setup: SamplingSetup, o: GenerateOptions, sigmas: number[]): Tensor {
  return initialLatents(setup.modelSampling, o.seed, [...setup.latentShape], sigmas, setup.initLatent ? setup.initLatent.data as Float32Array : null);
}

/**
 * sample() from x along sigmas with the request's sampler, seed, abort signal and progress callback, and the
 * setup's model sampling (which picks the samplers' flow paths); an abort during the run throws.
 */
export async function runSampler(setup: SamplingSetup, o: GenerateOptions, x: Tensor, sigmas: number[]): Promise<Tensor> {
  const totalSteps = sigmas.length - 1;
  const latents = await sample(o.sampler, setup.denoiser, x, sigmas, {
    seed: o.seed,
    modelSampling: setup.modelSampling,
    ...(o.signal ? { signal: o.signal } : {}),
    onStep: (info) => o.onStep?.(info.i + 1, totalSteps, info.sigma),
  });
  if (o.signal?.aborted) throw abortError();
  return latents;
}

/** Prepare, draw the seeded start, sample and decode. */
export async function sampleImages(pipeline: Pipeline, o: GenerateOptions): Promise<SampledImages> {
  checkGenerateOptions(o);
  const sigmas = generateSigmas(pipeline, o);
  checkCallsModel(o.sampler, sigmas);
  if (o.signal?.aborted) throw abortError();
  const t0 = performance.now();
  const setup = await pipeline.prepareSampling({ ...o, sampler: o.sampler });
  const t1 = performance.now();
  const latents = await runSampler(setup, o, startLatents(setup, o, sigmas), sigmas);
  if (setup.calls() === 0) fail(`${o.sampler} called the model zero times on the schedule [${sigmas.join(', ')}]; the result would be the starting noise`);
  const t2 = performance.now();
  const images = await setup.decode(latents);
  const t3 = performance.now();
  return { images, sigmas, setup, nfe: setup.calls(), timings: { prepareMs: t1 - t0, samplingMs: t2 - t1, decodeMs: t3 - t2 } };
}

/** What a pipeline writes into image b's PNG beyond the common settings. */
export interface PngText {
  prompt: string;
  negativePrompt: string;
  /** Settings after the common ones (Class, Denoising strength, ...). */
  settings: Record<string, string>;
}

/** PNGs with A1111 `parameters` for sampled images. `Steps` is the number of steps run. */
export function toResult(
  pipeline: Pipeline,
  o: GenerateOptions,
  s: SampledImages,
  describe: (b: number) => PngText,
  warnings: string[] = [],
): GenerateResult {
  const [batch, c, h, w] = s.images.shape as [number, number, number, number];
  const steps = s.sigmas.length - 1;
  const custom = o.sigmas !== undefined;
  const pngs: Uint8Array[] = [];
  const parameters: string[] = [];
  for (let b = 0; b < batch; b++) {
    const own = describe(b);
    const settings: Record<string, string> = {
      Steps: String(steps),
      Sampler: o.sampler,
      'Schedule type': custom ? 'custom sigmas' : o.scheduler,
      'CFG scale': String(o.cfg),
      Seed: String(o.seed),
      Size: `${w}x${h}`,
      Model: pipeline.modelName,
      ...own.settings,
    };
    if (batch > 1) {
      settings['Batch size'] = String(batch);
      settings['Batch pos'] = String(b);
    }
    const text = formatParameters({ prompt: own.prompt, negativePrompt: own.negativePrompt, settings });
    parameters.push(text);
    const img: Tensor = { data: s.images.data.subarray(b * c * h * w, (b + 1) * c * h * w) as Float32Array, shape: [c, h, w] };
    pngs.push(encodePng(img, { text: { parameters: text } }));
  }
  return {
    images: s.images,
    sigmas: s.sigmas,
    steps,
    seed: o.seed,
    pngs,
    parameters,
    nfe: s.nfe,
    ...(s.setup.labels ? { labels: [...s.setup.labels] } : {}),
    warnings,
  };
}
