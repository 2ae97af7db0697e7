/**
 * The class-conditional pixel-space pipeline (the bundled Fashion-MNIST model): a discrete eps-prediction
 * model on SD1.5's noise schedule, with classifier-free guidance through a "no class" label.
 *
 * The denoiser (class-denoiser.ts) makes ONE session call per evaluation. The initial noise is
 * torch.randn(seed, [B,1,28,28]) scaled by sqrt(1 + sigma0^2) when sampling starts at sigma_max (ComfyUI's
 * max_denoise), else by sigma0; the images are the final x0 mapped from [-1, 1] to [0, 1].
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Tensor } from '../tensor/tensor.js';
import type { ModelSampling } from '../model-sampling/types.js';
import { discreteModelSampling, modelSampling } from '../model-sampling/index.js';
import type { GenerateOptions, GenerateResult, Pipeline, PipelineCapabilities, SamplingRequest, SamplingSetup, ScheduleRequest } from './types.js';
import { checkDim, checkRank, checkType, ModelError, openSession, requireInputs, requireOutput, type ModelSession, type SessionOptions } from '../runtime/session.js';
import { availableMemoryBytes, checkMemory, DEVICE_MEMORY_CEILING } from '../runtime/memory.js';
import { getSigmas } from '../schedules/index.js';
import { validateSteps } from '../core/validate.js';
import { discardsPenultimateSigma } from '../schedules/comfy-schedulers.js';
import { samplerNeedsUncond } from './sampling.js';
import { loglinearInterp } from '../schedules/numerics.js';
import {
  CARD_FILE,
  OPTIMIZED_SCHEDULE_FILE,
  TEACHER_SCHEDULES_FILE,
  UNET_FILE,
  checkModelFolder,
  readCard,
  readCarriedSchedule,
  readTeacherSchedules,
  teacherSigmasIn,
  type CarriedSchedule,
  type ModelCard,
  type TeacherScheduleSet,
} from './class-model-folder.js';
import { classResolver, type ClassLabelRequest } from './class-labels.js';
import { classDenoiser, type ClassDenoiser, type ClassModel } from './class-denoiser.js';
import { checkSchedulerKnown, sampleImages as sampleWith, toResult } from './generate.js';
export type { ClassDenoiser } from './class-denoiser.js';

export interface ClassConditionalOptions extends SessionOptions {
  /** Use this optimized schedule for `--scheduler optimized` instead of the folder's optimized-schedule.json. */
  carriedSchedule?: CarriedSchedule | null;
  /** Use these per-sampler schedules for `--scheduler optimized` instead of the folder's teacher-schedules.json
   * (null: none). */
  teacherSchedules?: TeacherScheduleSet | null;
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

export interface ClassConditionalPipeline extends Pipeline {
  readonly kind: 'class-conditional';
  readonly card: ModelCard;
  readonly dir: string;
  /** Class names as typed on the command line (the card's class_cli_names), index = label. */
  readonly classNames: readonly string[];
  /** The model's own optimized schedule (the fallback for samplers and step counts without a teacher schedule). */
  readonly carriedSchedule: CarriedSchedule | undefined;
  /** The model's per-sampler, per-step-count optimized schedules (teacher-schedules.json), when it carries them. */
  readonly teacherSchedules: TeacherScheduleSet | undefined;
  /** A class name (case and punctuation ignored), an index 0..N-1, or "none"/"unconditional" -> label. */
  resolveClass(label: string | number): number;
  /** Labels for a batch: one label for all, a list of B, or (absent) classes 0, 1, 2, ... cycling. */
  resolveLabels(classLabel: ClassLabelRequest, batchSize: number | undefined): number[];
  /** The sigmas for a scheduler name and a step count; `sampler` matters for "optimized" (the carried teacher
   * schedule for that sampler and step count, else the interpolated optimized-schedule.json), for the samplers
   * that drop the penultimate sigma (dpm_2, uni_pc, ...), and `coeff` for gits. */
  sigmasFor(scheduler: string, steps: number, options?: { sampler?: string; coeff?: number }): number[];
  /** The guided denoiser for fixed labels: one session call per evaluation. */
  denoiser(labels: readonly number[], cfg: number, options?: { alwaysUncond?: boolean }): ClassDenoiser;
  /** Sample images without encoding PNGs (for metrics and grids). */
  sampleImages(options: GenerateOptions): Promise<ClassSamples>;
}

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

/** Width of the UNet's first feature map, from the card (unet.architecture.channels[0]), else the image channels. */
function firstWidth(card: ModelCard): number {
  const unet = card.raw.unet as { architecture?: { channels?: unknown } } | undefined;
  const c = unet?.architecture?.channels;
  return Array.isArray(c) && typeof c[0] === 'number' && c[0] > 0 ? c[0] : card.channels;
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
  const teacher = (options.teacherSchedules === undefined ? readTeacherSchedules(abs) : options.teacherSchedules) ?? undefined;
  const ms = cardModelSampling(card);
  const session = await openSession(join(abs, UNET_FILE), options, `${UNET_FILE} in ${abs}`);
  try {
    checkUnet(session, card);
  } catch (err) {
    await session.release();
    throw err;
  }
  const model: ClassModel = {
    session,
    card,
    ms,
    timestepType: session.input(card.inputs.timestep)!.type,
    labelType: session.input(card.inputs.classLabel)!.type,
  };
  return makeClassPipeline(abs, model, { carried, teacher }, options.device ?? 'cpu');
}

/** What a model folder carries for `--scheduler optimized`. */
interface CarriedSchedules {
  /** optimized-schedule.json: one master list, interpolated to any step count (the fallback). */
  carried: CarriedSchedule | undefined;
  /** teacher-schedules.json: one schedule per sampler and step count. */
  teacher: TeacherScheduleSet | undefined;
}

function hasOptimized(c: CarriedSchedules): boolean {
  return c.carried !== undefined || (c.teacher?.schedules.length ?? 0) > 0;
}

/** The schedules of a class-conditional model: the library's, and 'optimized' when it carries one. */
function classSchedules(abs: string, ms: ModelSampling, { carried, teacher }: CarriedSchedules) {
  function sigmasFor(scheduler: string, steps: number, opts: { sampler?: string; coeff?: number } = {}): number[] {
    validateSteps(steps);
    if (scheduler === 'optimized') {
      // A teacher schedule was made by running this very sampler on exactly these sigmas: used as is.
      const own = teacherSigmasIn(teacher, opts.sampler, steps);
      if (own) return own;
      if (!carried) {
        const made = teacher ? ` (${TEACHER_SCHEDULES_FILE} has ${[...new Set(teacher.schedules.map((t) => `${t.sampler}@${t.steps}`))].join(', ')})` : '';
        throw new ModelError(
          `--scheduler optimized: the model in ${abs} carries no optimized schedule for ${opts.sampler ?? 'this sampler'} at ${steps} steps${made} and no ${OPTIMIZED_SCHEDULE_FILE}; run ays optimize on it or pick another scheduler`,
        );
      }
      // Like ComfyUI's KSampler: these samplers get one step more and lose the penultimate sigma.
      if (discardsPenultimateSigma(opts.sampler)) {
        const longer = carriedSigmas(carried, steps + 1);
        return [...longer.slice(0, -2), longer[longer.length - 1]!];
      }
      return carriedSigmas(carried, steps);
    }
    return getSigmas({ model: ms, scheduler, steps, sampler: opts.sampler, coeff: opts.coeff });
  }

  function schedule(r: ScheduleRequest): number[] {
    if (r.scheduler !== 'optimized') checkSchedulerKnown(r.scheduler, hasOptimized({ carried, teacher }) ? ['optimized'] : []);
    if (r.denoise !== undefined && r.denoise !== 1) {
      if (r.scheduler === 'optimized') throw new ModelError('the optimized schedule has no denoise rule; use denoise 1');
      return getSigmas({ model: ms, scheduler: r.scheduler, steps: r.steps, sampler: r.sampler, coeff: r.coeff, denoise: r.denoise });
    }
    return sigmasFor(r.scheduler, r.steps, { ...(r.sampler !== undefined ? { sampler: r.sampler } : {}), ...(r.coeff !== undefined ? { coeff: r.coeff } : {}) });
  }
  return { sigmasFor, schedule };
}

function classCapabilities(card: ModelCard, carried: CarriedSchedules): PipelineCapabilities {
  return {
    conditioning: 'class',
    classNames: card.classes,
    classKeys: card.classKeys,
    extraSchedulers: hasOptimized(carried) ? ['optimized'] : [],
    recommendedCfg: card.recommendedCfg,
    nativeSize: { width: card.resolution, height: card.resolution },
    sizeMultiple: 0,
    fixedSize: true,
    imageToImage: false,
    negativePrompt: false,
  };
}

function makeClassPipeline(abs: string, m: ClassModel, carried: CarriedSchedules, device: string): ClassConditionalPipeline {
  const { card, ms } = m;
  const size = card.resolution;
  const { resolveClass, resolveLabels } = classResolver(card);
  let hash: string | undefined;

  const { sigmasFor, schedule } = classSchedules(abs, ms, carried);

  function checkRequest(o: SamplingRequest): void {
    if (o.prompt !== undefined && o.prompt !== '') throw new ModelError('the bundled class-conditional model takes a class (--class), not a prompt');
    for (const [k, v] of [['width', o.width], ['height', o.height]] as const) {
      if (v !== undefined && v !== size) throw new ModelError(`this model makes ${size}x${size} images; ${k} ${v} is not supported`);
    }
    if (o.init !== undefined) throw new ModelError('image-to-image (init image, denoise < 1) is not supported by the class-conditional pipeline');
    if (!Number.isFinite(o.cfg) || o.cfg < 0) throw new ModelError(`cfg must be a non-negative number, got ${o.cfg}`);
  }

  /** A batch whose first feature map (input and output of the first conv) cannot fit is refused before sampling. */
  function checkFits(rows: number, batch: number): void {
    const plane = size * size;
    const bytes = rows * firstWidth(card) * plane * 4 * 2;
    const available = device === 'cpu' ? availableMemoryBytes() : DEVICE_MEMORY_CEILING;
    checkMemory(`batch ${batch}${rows > batch ? ' (x 2 for CFG)' : ''}`, [{ what: `first UNet feature maps ${rows} x ${firstWidth(card)} x ${size} x ${size}, twice`, bytes }], available, (msg) => new ModelError(msg));
  }

  /** Every check before model work; the labels and whether the uncond half runs. */
  function validate(req: SamplingRequest): { labels: number[]; alwaysUncond: boolean } {
    checkRequest(req);
    const labels = resolveLabels(req.classLabel, req.batchSize);
    const alwaysUncond = req.sampler !== undefined && samplerNeedsUncond(req.sampler);
    checkFits((req.cfg !== 1 || alwaysUncond ? 2 : 1) * labels.length, labels.length);
    return { labels, alwaysUncond };
  }

  async function prepareSampling(req: SamplingRequest): Promise<SamplingSetup> {
    const { labels, alwaysUncond } = validate(req);
    const den = classDenoiser(m, labels, req.cfg, { alwaysUncond });
    return {
      modelSampling: ms,
      latentShape: [labels.length, card.channels, size, size],
      denoiser: den,
      calls: () => den.sessionCalls,
      initLatent: null,
      labels,
      async decode(latents: Tensor): Promise<Tensor> {
        const images = new Float32Array(latents.data.length);
        for (let i = 0; i < images.length; i++) {
          const v = latents.data[i]!;
          if (Number.isNaN(v)) throw new ModelError('sampling produced NaN');
          images[i] = Math.min(1, Math.max(0, (v + 1) / 2));
        }
        return { data: images, shape: [...latents.shape] };
      },
    };
  }

  const capabilities = classCapabilities(card, carried);

  const pipeline: ClassConditionalPipeline = {
    kind: 'class-conditional',
    modelName: card.name,
    model: {
      name: card.name,
      contentHash: async () => (hash ??= createHash('sha256').update(readFileSync(join(abs, UNET_FILE))).digest('hex')),
    },
    modelSampling: ms,
    capabilities,
    card,
    dir: abs,
    classNames: card.classKeys,
    carriedSchedule: carried.carried,
    teacherSchedules: carried.teacher,
    resolveClass,
    resolveLabels,
    sigmasFor,
    schedule,
    denoiser: (labels, cfg, opts) => classDenoiser(m, labels, cfg, opts),
    checkRequest: (req) => void validate(req),
    prepareSampling,
    async sampleImages(o: GenerateOptions): Promise<ClassSamples> {
      const s = await sampleWith(pipeline, o);
      return { images: s.images, labels: [...s.setup.labels!], sigmas: s.sigmas, nfe: s.nfe, sessionCalls: s.setup.calls() };
    },
    async generate(o: GenerateOptions): Promise<GenerateResult> {
      const s = await sampleWith(pipeline, o);
      const labels = s.setup.labels!;
      return toResult(pipeline, o, s, (b) => {
        const label = labels[b]!;
        const className = label === card.nullClass ? 'unconditional' : card.classKeys[label]!;
        return {
          prompt: className,
          negativePrompt: '',
          settings: {
            Class: `${className} (${label})`,
            ...(o.sigmas || o.scheduler === 'optimized' ? { Sigmas: s.sigmas.map((v) => +v.toPrecision(6)).join(' ') } : {}),
          },
        };
      });
    },
    dispose: () => m.session.release(),
  };
  return pipeline;
}
