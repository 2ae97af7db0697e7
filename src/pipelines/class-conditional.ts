/**
 * The class-conditional pixel-space pipeline (the bundled Fashion-MNIST model): a discrete eps-prediction
 * model on SD1.5's noise schedule, with classifier-free guidance through a "no class" label.
 *
 * Each denoiser call is ONE session call: the conditional and unconditional halves go in as a batch of 2B
 * (B when cfg is 1, as ComfyUI skips the unconditional pass then). The arithmetic around the network follows
 * ComfyUI's EPS model in float32: input x / sqrt(sigma^2 + 1), denoised x - eps * sigma, then
 * uncond + (cond - uncond) * cfg on the denoised values. The initial noise is torch.randn(seed, [B,1,28,28])
 * scaled by sqrt(1 + sigma0^2) when sampling starts at sigma_max (ComfyUI's max_denoise), else by sigma0.
 */
import { join } from 'node:path';
import type { Tensor } from '../tensor/tensor.js';
import type { GuidedDenoiser } from '../samplers/types.js';
import type { ModelSampling } from '../model-sampling/types.js';
import { discreteModelSampling, modelSampling } from '../model-sampling/index.js';
import type { GenerateOptions, GenerateResult, Pipeline } from './types.js';
import {
  checkDim,
  checkRank,
  checkType,
  ModelError,
  openSession,
  ort,
  readFloat,
  requireInputs,
  requireOutput,
  type ModelSession,
  type SessionOptions,
} from '../runtime/session.js';
import { encodePng, formatParameters } from '../image/png.js';
import { discardPenultimateSigmaSamplers, getSigmas, validateSigmas } from '../schedules/index.js';
import { checkSamplerName, initialLatents, runSampler, samplerNeedsUncond } from './sampling.js';
import { loglinearInterp } from '../schedules/numerics.js';
import {
  CARD_FILE,
  OPTIMIZED_SCHEDULE_FILE,
  UNET_FILE,
  checkModelFolder,
  readCard,
  readCarriedSchedule,
  type CarriedSchedule,
  type ModelCard,
} from '../bundled/model-files.js';

const f32 = Math.fround;

export interface ClassConditionalOptions extends SessionOptions {
  /** Use this optimized schedule for `--scheduler optimized` instead of the folder's optimized-schedule.json. */
  carriedSchedule?: CarriedSchedule | null;
}

/** A batch of class-conditional samples before PNG encoding. */
export interface ClassSamples {
  /** [B, 1, H, W] float32 in [0, 1]. */
  images: Tensor;
  /** The class label of each image (the null class for unconditional images). */
  labels: number[];
  sigmas: number[];
  nfe: number;
  /** Session calls made (one per denoiser call). */
  sessionCalls: number;
}

/** The guided denoiser for fixed labels; `rows` takes one sigma per row (same single session call). */
export interface ClassDenoiser extends GuidedDenoiser {
  readonly sessionCalls: number;
  readonly rows: (x: Tensor, sigmas: ArrayLike<number>) => Promise<Tensor>;
}

export interface ClassConditionalPipeline extends Pipeline {
  readonly kind: 'class-conditional';
  readonly card: ModelCard;
  readonly dir: string;
  /** Class names as typed on the command line (the card's class_cli_names), index = label. */
  readonly classNames: readonly string[];
  /** The model's own optimized schedule, when it carries one. */
  readonly carriedSchedule: CarriedSchedule | undefined;
  /** A class name (case and punctuation ignored), an index, or "none"/"unconditional" -> label. */
  resolveClass(label: string | number): number;
  /** Labels for a batch: one label for all, a list of B, or (absent) classes 0, 1, 2, ... cycling. */
  resolveLabels(classLabel: GenerateOptions['classLabel'], batchSize: number | undefined): number[];
  /** The sigmas for a scheduler name ("optimized" = the carried schedule) and a step count; `sampler` matters
   * for the samplers that drop the penultimate sigma (dpm_2, uni_pc, ...), `coeff` for gits. */
  sigmasFor(scheduler: string, steps: number, options?: { sampler?: string; coeff?: number }): number[];
  /** The guided denoiser for fixed labels: one session call per evaluation. */
  denoiser(labels: readonly number[], cfg: number, options?: { alwaysUncond?: boolean }): ClassDenoiser;
  /** Sample images without encoding PNGs (for metrics and grids). */
  sampleImages(options: GenerateOptions): Promise<ClassSamples>;
}

/** Normalize a class name for matching: lower case, letters and digits only. */
function normalizeName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]/g, '');
}

const UNCONDITIONAL_NAMES = new Set(['none', 'uncond', 'unconditional', 'null', 'noclass']);

/** The ModelSampling a card's schedule describes (SD1.5's preset when it is SD1.5's, so 'ays' picks the SD1 table). */
export function cardModelSampling(card: ModelCard): ModelSampling {
  const s = card.schedule;
  if (s.betaSchedule === 'scaled_linear' && s.betaStart === 0.00085 && s.betaEnd === 0.012 && s.timesteps === 1000) {
    return modelSampling('sd15');
  }
  return discreteModelSampling({
    betaSchedule: s.betaSchedule,
    linearStart: s.betaStart,
    linearEnd: s.betaEnd,
    timesteps: s.timesteps,
    prediction: 'eps',
    name: `${card.name} (${s.betaSchedule} ${s.betaStart}..${s.betaEnd})`,
  });
}

/** Sigmas of a carried (optimized) schedule for `steps` steps: log-linear interpolation of the master list,
 * last value replaced by 0 (as ComfyUI does for AYS); a master already ending in 0 keeps that 0. */
export function carriedSigmas(schedule: CarriedSchedule, steps: number): number[] {
  const master = schedule.masterSigmas;
  if (master[master.length - 1] === 0) {
    const positive = master.slice(0, -1);
    if (steps === positive.length) return [...positive, 0];
    return [...loglinearInterp(positive, steps), 0];
  }
  const out = steps + 1 === master.length ? [...master] : loglinearInterp(master, steps + 1);
  out[out.length - 1] = 0;
  return out;
}

function checkUnet(session: ModelSession, card: ModelCard): void {
  const { sample: xName, timestep: tName, classLabel: yName } = card.inputs;
  requireInputs(session, [xName, tName, yName], `The bundled-model UNet takes ${xName} [B,1,28,28], ${tName} [B], ${yName} [B]`);
  const x = session.input(xName)!;
  checkType(session, x, ['float32']);
  checkRank(session, x, [4]);
  checkDim(session, x, 1, card.channels, 'channels');
  checkDim(session, x, 2, card.resolution, 'rows');
  checkDim(session, x, 3, card.resolution, 'columns');
  const t = session.input(tName)!;
  checkType(session, t, ['float32', 'int64']);
  checkRank(session, t, [1]);
  const y = session.input(yName)!;
  checkType(session, y, ['int64', 'int32']);
  checkRank(session, y, [1]);
  const out = requireOutput(session, card.output);
  checkRank(session, out, [4]);
}

/**
 * Open a class-conditional model folder (card.json + unet.onnx [+ optimized-schedule.json]).
 * Every problem (missing folder or file, bad card, corrupt ONNX, wrong inputs) is a ModelError that says which.
 */
export async function loadClassConditionalPipeline(dir: string, options: ClassConditionalOptions = {}): Promise<ClassConditionalPipeline> {
  const abs = checkModelFolder(dir, [CARD_FILE, UNET_FILE]);
  const card = readCard(abs);
  if (card.nullClass < card.classes.length) {
    throw new ModelError(`${CARD_FILE} in ${abs}: null_class ${card.nullClass} is one of the ${card.classes.length} real classes`);
  }
  const carried = options.carriedSchedule === undefined ? readCarriedSchedule(abs) : (options.carriedSchedule ?? undefined);
  const ms = cardModelSampling(card);
  const session = await openSession(join(abs, UNET_FILE), options, `${UNET_FILE} in ${abs}`);
  try {
    checkUnet(session, card);
  } catch (err) {
    await session.release();
    throw err;
  }
  const timestepType = session.input(card.inputs.timestep)!.type;
  const labelType = session.input(card.inputs.classLabel)!.type;
  const size = card.resolution;
  const channels = card.channels;
  const plane = channels * size * size;
  const names = card.classKeys;
  const displayNames = card.classes;

  function resolveClass(label: string | number): number {
    if (typeof label === 'number') {
      if (Number.isInteger(label) && label >= 0 && label < names.length) return label;
      if (label === card.nullClass) return label;
      throw new ModelError(`class ${label} is out of range: use 0..${names.length - 1} (or a name: ${names.join(', ')})`);
    }
    const text = label.trim();
    if (/^\d+$/.test(text)) return resolveClass(Number(text));
    const key = normalizeName(text);
    if (UNCONDITIONAL_NAMES.has(key)) return card.nullClass;
    for (let i = 0; i < names.length; i++) {
      // "T-shirt/top" (key "tshirt") also answers to "t-shirt", "T-shirt/top" and "top".
      const spellings = [names[i]!, displayNames[i]!, ...displayNames[i]!.split('/')];
      if (spellings.some((n) => normalizeName(n) === key)) return i;
    }
    throw new ModelError(`unknown class "${label}"; classes: ${names.map((n, i) => `${i} ${n}`).join(', ')} (or "none" for unconditional)`);
  }

  function resolveLabels(classLabel: GenerateOptions['classLabel'], batchSize: number | undefined): number[] {
    if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1)) {
      throw new ModelError(`batch size must be a positive integer, got ${batchSize}`);
    }
    if (Array.isArray(classLabel)) {
      if (classLabel.length === 0) throw new ModelError('the class list is empty');
      const labels = classLabel.map(resolveClass);
      if (batchSize === undefined || batchSize === labels.length) return labels;
      // A shorter list repeats to fill the batch (e.g. --class sneaker,bag --batch 6).
      return Array.from({ length: batchSize }, (_, i) => labels[i % labels.length]!);
    }
    const b = batchSize ?? 1;
    if (classLabel === undefined) return Array.from({ length: b }, (_, i) => i % names.length);
    const label = resolveClass(classLabel);
    return new Array<number>(b).fill(label);
  }

  function sigmasFor(scheduler: string, steps: number, opts: { sampler?: string; coeff?: number } = {}): number[] {
    if (!Number.isInteger(steps) || steps < 1) throw new ModelError(`steps must be a positive integer, got ${steps}`);
    if (scheduler === 'optimized') {
      if (!carried) {
        throw new ModelError(
          `--scheduler optimized: the model in ${abs} carries no optimized schedule (no ${OPTIMIZED_SCHEDULE_FILE}); ` +
            'run the AYS optimizer on it or pick another scheduler',
        );
      }
      // Like ComfyUI's KSampler: these samplers get one step more and lose the penultimate sigma.
      if (opts.sampler !== undefined && discardPenultimateSigmaSamplers.includes(opts.sampler)) {
        const longer = carriedSigmas(carried, steps + 1);
        return [...longer.slice(0, -2), longer[longer.length - 1]!];
      }
      return carriedSigmas(carried, steps);
    }
    return getSigmas({ model: ms, scheduler, steps, sampler: opts.sampler, coeff: opts.coeff });
  }

  function denoiser(labels: readonly number[], cfg: number, opts: { alwaysUncond?: boolean } = {}) {
    if (!Number.isFinite(cfg)) throw new ModelError(`cfg must be a finite number, got ${cfg}`);
    const b = labels.length;
    const guided = cfg !== 1 || opts.alwaysUncond === true;
    const rows = guided ? 2 * b : b;
    const yData = labelType === 'int64' ? new BigInt64Array(rows) : new Int32Array(rows);
    for (let i = 0; i < rows; i++) {
      const y = i < b ? labels[i]! : card.nullClass;
      if (yData instanceof BigInt64Array) yData[i] = BigInt(y);
      else yData[i] = y;
    }
    const yTensor = new ort.Tensor(labelType === 'int64' ? 'int64' : 'int32', yData, [rows]);
    let sessionCalls = 0;
    const state: { lastUncond: Tensor | null } = { lastUncond: null };

    // One noise level per batch row (the AYS optimizer evaluates Monte Carlo rows at their own sigma).
    const rowFn = async (x: Tensor, sigmas: ArrayLike<number>): Promise<Tensor> => {
      if (x.shape.length !== 4 || x.shape[0] !== b || x.data.length !== b * plane) {
        throw new ModelError(`denoiser: expected x of shape [${b}, ${channels}, ${size}, ${size}], got [${x.shape.join(', ')}]`);
      }
      if (sigmas.length !== b) throw new ModelError(`denoiser: ${sigmas.length} sigmas for ${b} rows`);
      const s = new Float32Array(b);
      const tData = timestepType === 'int64' ? new BigInt64Array(rows) : new Float32Array(rows);
      const input = new Float32Array(rows * plane);
      for (let r = 0; r < b; r++) {
        const sigma = sigmas[r]!;
        if (!Number.isFinite(sigma) || sigma < 0) throw new ModelError(`denoiser: sigma must be a finite non-negative number, got ${sigma}`);
        const sr = f32(sigma);
        s[r] = sr;
        const cIn = f32(Math.sqrt(f32(f32(sr * sr) + 1)));
        for (let i = r * plane, e = i + plane; i < e; i++) input[i] = f32(f32(x.data[i]!) / cIn);
        const t = ms.timestep(sr);
        for (const rr of guided ? [r, b + r] : [r]) {
          if (tData instanceof BigInt64Array) tData[rr] = BigInt(t);
          else tData[rr] = t;
        }
      }
      if (guided) input.copyWithin(b * plane, 0, b * plane);
      const feeds = {
        [card.inputs.sample]: new ort.Tensor('float32', input, [rows, channels, size, size]),
        [card.inputs.timestep]: new ort.Tensor(timestepType === 'int64' ? 'int64' : 'float32', tData, [rows]),
        [card.inputs.classLabel]: yTensor,
      };
      const out = await session.run(feeds, [card.output]);
      sessionCalls++;
      const eps = readFloat(out[card.output]!);
      if (eps.length !== rows * plane) throw new ModelError(`${UNET_FILE}: output has ${eps.length} values, expected ${rows * plane}`);
      const result = x.data instanceof Float64Array ? new Float64Array(b * plane) : new Float32Array(b * plane);
      const uncond = guided ? new Float32Array(b * plane) : null;
      for (let i = 0; i < b * plane; i++) {
        const sr = s[Math.floor(i / plane)]!;
        const xi = f32(x.data[i]!);
        const cond = f32(xi - f32(eps[i]! * sr));
        if (uncond) {
          const u = f32(xi - f32(eps[b * plane + i]! * sr));
          uncond[i] = u;
          result[i] = f32(u + f32(f32(cond - u) * cfg));
        } else {
          result[i] = cond;
        }
        if (Number.isNaN(result[i]!)) throw new ModelError(`${UNET_FILE}: the model produced NaN at sigma ${sr}`);
      }
      state.lastUncond = uncond ? { data: uncond, shape: [...x.shape] } : null;
      return { data: result, shape: [...x.shape] };
    };
    const fn = (x: Tensor, sigma: number): Promise<Tensor> => rowFn(x, new Float64Array(b).fill(sigma));
    Object.defineProperty(fn, 'rows', { value: rowFn });
    Object.defineProperty(fn, 'lastUncond', { get: () => state.lastUncond });
    Object.defineProperty(fn, 'sessionCalls', { get: () => sessionCalls });
    return fn as unknown as ClassDenoiser;
  }

  function checkOptions(o: GenerateOptions): void {
    if (o.prompt !== undefined && o.prompt !== '') {
      throw new ModelError('the bundled class-conditional model takes a class (--class), not a prompt');
    }
    for (const [k, v] of [['width', o.width], ['height', o.height]] as const) {
      if (v !== undefined && v !== size) throw new ModelError(`this model makes ${size}x${size} images; ${k} ${v} is not supported`);
    }
    if (o.init !== undefined || (o.denoise !== undefined && o.denoise !== 1)) {
      throw new ModelError('image-to-image (init image, denoise < 1) is not supported by the class-conditional pipeline');
    }
    if (!Number.isFinite(o.cfg) || o.cfg < 0) throw new ModelError(`cfg must be a non-negative number, got ${o.cfg}`);
    checkSamplerName(o.sampler);
  }

  async function sampleImages(o: GenerateOptions): Promise<ClassSamples> {
    checkOptions(o);
    const labels = resolveLabels(o.classLabel, o.batchSize);
    const sigmas = o.sigmas ? validateSigmas(o.sigmas) : sigmasFor(o.scheduler, o.steps, { sampler: o.sampler, coeff: o.coeff });
    if (sigmas.length < 2) throw new ModelError('the schedule has no steps (fewer than 2 sigmas)');
    const b = labels.length;
    const x = initialLatents(ms, o.seed, [b, channels, size, size], sigmas, null);
    const den = denoiser(labels, o.cfg, { alwaysUncond: samplerNeedsUncond(o.sampler) });
    let nfe = 0;
    const counted: GuidedDenoiser = Object.assign(
      async (xi: Tensor, sigma: number) => {
        nfe++;
        return den(xi, sigma);
      },
      {},
    ) as unknown as GuidedDenoiser;
    Object.defineProperty(counted, 'lastUncond', { get: () => den.lastUncond });
    const totalSteps = sigmas.length - 1;
    const out = await runSampler(o.sampler, counted, x, sigmas, {
      seed: o.seed,
      signal: o.signal,
      onStep: o.onStep ? (i, sigma) => o.onStep!(i + 1, totalSteps, sigma) : undefined,
    });
    const images = new Float32Array(out.data.length);
    for (let i = 0; i < images.length; i++) {
      const v = out.data[i]!;
      if (Number.isNaN(v)) throw new ModelError('sampling produced NaN');
      images[i] = Math.min(1, Math.max(0, (v + 1) / 2));
    }
    return { images: { data: images, shape: [b, channels, size, size] }, labels, sigmas, nfe, sessionCalls: den.sessionCalls };
  }

  const pipeline: ClassConditionalPipeline = {
    kind: 'class-conditional',
    modelName: card.name,
    modelSampling: ms,
    card,
    dir: abs,
    classNames: names,
    carriedSchedule: carried,
    resolveClass,
    resolveLabels,
    sigmasFor,
    denoiser,
    sampleImages,
    async generate(o: GenerateOptions): Promise<GenerateResult> {
      const s = await sampleImages(o);
      const pngs: Uint8Array[] = [];
      const parameters: string[] = [];
      const b = s.labels.length;
      for (let i = 0; i < b; i++) {
        const label = s.labels[i]!;
        const className = label === card.nullClass ? 'unconditional' : names[label]!;
        const settings: Record<string, string> = {
          Steps: String(s.sigmas.length - 1),
          Sampler: o.sampler,
          'Schedule type': o.sigmas ? 'custom' : o.scheduler,
          'CFG scale': String(o.cfg),
          Seed: String(o.seed),
          Size: `${size}x${size}`,
          Model: card.name,
          Class: `${className} (${label})`,
        };
        if (b > 1) {
          settings['Batch size'] = String(b);
          settings['Batch pos'] = String(i);
        }
        if (o.sigmas || o.scheduler === 'optimized') settings['Sigmas'] = s.sigmas.map((v) => +v.toPrecision(6)).join(' ');
        const text = formatParameters({ prompt: className, negativePrompt: '', settings });
        const image: Tensor = { data: s.images.data.subarray(i * plane, (i + 1) * plane) as Float32Array, shape: [channels, size, size] };
        parameters.push(text);
        pngs.push(encodePng(image, { text: { parameters: text } }));
      }
      return { images: s.images, sigmas: s.sigmas, pngs, parameters, nfe: s.nfe };
    },
    dispose: () => session.release(),
  };
  return pipeline;
}
