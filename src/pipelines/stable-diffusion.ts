/**
 * Stable Diffusion 1.x/2.x and SDXL from a diffusers/optimum ONNX folder on onnxruntime-node: prompt -> CLIP
 * tokenizer -> text encoder(s) -> UNet loop driven by any of the library's samplers and schedules -> VAE decoder,
 * and image-to-image through the VAE encoder. Noise follows ComfyUI (torch CPU randn for the seed, KSampler's
 * noise scaling and denoise rule), so a seed, sampler and schedule mean the same starting point as there.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { readModelFolder, type ModelFolder } from './model-folder.js';
import { loadClipTokenizer } from './tokenizer.js';
import type { GenerateOptions, GenerateResult, Pipeline, PipelineCapabilities, SamplingRequest, SamplingSetup, ScheduleRequest } from './types.js';
import { ModelError, checkDim, checkRank, checkType, fixedDim, openSession, requireInputs, requireOutput, type ModelSession, type SessionOptions } from '../runtime/session.js';
import { availableMemoryBytes, checkMemory, DEVICE_MEMORY_CEILING, type MemoryTerm } from '../runtime/memory.js';
import { discreteModelSampling } from '../model-sampling/discrete.js';
import type { ModelSampling } from '../model-sampling/types.js';
import { GenerateOptionsError } from './errors.js';
export { GenerateOptionsError };
import { requestSize, samplerNeedsUncond, scheduleSigmas, checkSchedulerKnown } from './sampling.js';
import { checkTextEncoder, cfgBatch, encodePrompts, FLOAT_TYPES, type TextEncoderIO } from './sd-text.js';
import { checkStaticShape, unetDenoiser, type AddedConditioning, type UnetTimings } from './sd-unet.js';
import { decodeLatents, encodeInit, type Vae } from './sd-vae.js';
import { sampleImages, toResult } from './generate.js';

export interface StableDiffusionLoadOptions extends SessionOptions {}

/** Wall-clock split of one generate() call, for the benchmark: UNet runs versus everything else. */
export interface GenerateTimings extends UnetTimings {
  /** The whole sampling loop: UNet runs plus everything the pipeline and sampler do per step. */
  samplingMs: number;
  steps: number;
  textMs: number;
  vaeMs: number;
  totalMs: number;
}

export interface StableDiffusionPipeline extends Pipeline {
  readonly kind: 'stable-diffusion' | 'stable-diffusion-xl';
  readonly folder: ModelFolder;
  /** Timings of the last generate() call. */
  readonly lastTimings: GenerateTimings | null;
}

interface Parts {
  folder: ModelFolder;
  te1: TextEncoderIO;
  te2: TextEncoderIO | undefined;
  unet: ModelSession;
  vae: Vae;
  channels: number;
  ms: ModelSampling;
  sessions: ModelSession[];
  device: 'cpu' | 'cuda';
  /** The UNet takes text longer than 77 tokens (a dynamic sequence axis): long prompts go in 77-token windows. */
  longPrompts: boolean;
}

function checkUnet(unet: ModelSession, xl: boolean, te1: TextEncoderIO, te2: TextEncoderIO | undefined): ModelSession {
  const unetInputs = ['sample', 'timestep', 'encoder_hidden_states', ...(xl ? ['text_embeds', 'time_ids'] : [])];
  requireInputs(unet, unetInputs, `A ${xl ? 'SDXL' : 'Stable Diffusion'} UNet exported by optimum takes ${unetInputs.join(', ')}`);
  const out = requireOutput(unet, 'out_sample');
  const sampleInfo = unet.input('sample')!;
  checkType(unet, sampleInfo, FLOAT_TYPES);
  checkRank(unet, sampleInfo, [4]);
  checkRank(unet, out, [4]);
  const tInfo = unet.input('timestep')!;
  checkRank(unet, tInfo, [0, 1]);
  checkType(unet, tInfo, ['float32', 'float16', 'int64', 'int32']);
  const ehsInfo = unet.input('encoder_hidden_states')!;
  checkRank(unet, ehsInfo, [3]);
  const contextWidth = (te1.width ?? 0) + (te2?.width ?? 0);
  if (te1.width !== undefined && (!te2 || te2.width !== undefined)) checkDim(unet, ehsInfo, 2, contextWidth, 'context features (text encoder width)');
  return unet;
}

/** Latent channels, checked to agree between the UNet's input and output and the VAE decoder. */
function latentChannels(unet: ModelSession, vaeDecoder: ModelSession): number {
  const unetChannels = fixedDim(unet.input('sample')!, 1);
  const vaeChannels = fixedDim(vaeDecoder.input('latent_sample')!, 1);
  if (unetChannels !== undefined && vaeChannels !== undefined && unetChannels !== vaeChannels) {
    throw new ModelError(
      `unet/model.onnx: "sample" has ${unetChannels} latent channels but vae_decoder/model.onnx's "latent_sample" has ${vaeChannels}; the UNet and VAE do not belong together`,
    );
  }
  const outChannels = fixedDim(unet.output('out_sample')!, 1);
  if (unetChannels !== undefined && outChannels !== undefined && outChannels !== unetChannels) {
    throw new ModelError(`unet/model.onnx: "out_sample" has ${outChannels} channels but "sample" has ${unetChannels}; expected the same`);
  }
  return unetChannels ?? vaeChannels ?? 4;
}

function checkVaeDecoder(decoder: ModelSession): ModelSession {
  requireInputs(decoder, ['latent_sample'], 'A VAE decoder exported by optimum takes "latent_sample"');
  requireOutput(decoder, 'sample');
  const latentInfo = decoder.input('latent_sample')!;
  checkRank(decoder, latentInfo, [4]);
  checkType(decoder, latentInfo, FLOAT_TYPES);
  return decoder;
}

/** What to do about SDXL's VAE in float16, said at load instead of as NaN after all the sampling. */
export const SDXL_FP16_VAE_HELP =
  'put a float32 export of the VAE decoder in vae_decoder_fp32/ (an export without --dtype fp16; copy its vae_decoder/ there), ' +
  'or export with the float16-safe VAE madebyollin/sdxl-vae-fp16-fix, whose config says force_upcast: false (docs/stable-diffusion.md, "SDXL and float16")';

/**
 * The VAE decoder to run. SDXL's VAE overflows in float16 (its config keeps diffusers' force_upcast: true): with a
 * float16 decoder, a float32 copy in vae_decoder_fp32/ is used, and without one the load stops naming the fix.
 */
async function openVaeDecoder(folder: ModelFolder, open: (path: string, label: string) => Promise<ModelSession>): Promise<ModelSession> {
  const decoder = checkVaeDecoder(await open(folder.paths.vaeDecoder, 'vae_decoder/model.onnx'));
  const half = decoder.input('latent_sample')!.type === 'float16';
  if (!half || folder.kind !== 'stable-diffusion-xl' || !folder.vaeForceUpcast) return decoder;
  if (!folder.paths.vaeDecoderFp32) {
    throw new ModelError(`vae_decoder/model.onnx is float16, and SDXL's VAE overflows in float16 (black or NaN images after all the sampling): ${SDXL_FP16_VAE_HELP}`);
  }
  await decoder.release();
  const fp32 = checkVaeDecoder(await open(folder.paths.vaeDecoderFp32, 'vae_decoder_fp32/model.onnx'));
  if (fp32.input('latent_sample')!.type !== 'float32') throw new ModelError('vae_decoder_fp32/model.onnx: "latent_sample" must be float32');
  return fp32;
}

async function openVae(folder: ModelFolder, open: (path: string, label: string) => Promise<ModelSession>): Promise<Vae> {
  const decoder = await openVaeDecoder(folder, open);
  let encoder: ModelSession | undefined;
  let encoderOutput = '';
  if (folder.paths.vaeEncoder) {
    encoder = await open(folder.paths.vaeEncoder, 'vae_encoder/model.onnx');
    requireInputs(encoder, ['sample'], 'A VAE encoder exported by optimum takes "sample"');
    encoderOutput = encoder.output('latent_parameters') ? 'latent_parameters' : requireOutput(encoder, 'latent_sample', 'expected "latent_parameters" (optimum) or "latent_sample"').name;
  }
  return { decoder, encoder, encoderOutput, scale: folder.vaeScalingFactor, shift: folder.vaeShiftFactor };
}

export async function loadStableDiffusionPipeline(dir: string, options: StableDiffusionLoadOptions = {}): Promise<StableDiffusionPipeline> {
  const folder = readModelFolder(dir);
  const xl = folder.kind === 'stable-diffusion-xl';
  const opened: ModelSession[] = [];
  const open = async (path: string, label: string) => {
    const s = await openSession(path, options, label);
    opened.push(s);
    return s;
  };
  try {
    const te1 = checkTextEncoder(await open(folder.paths.textEncoder, 'text_encoder/model.onnx'), loadClipTokenizer(folder.paths.tokenizer, 'tokenizer'), xl ? 'xl1' : 'sd');
    const te2 = xl ? checkTextEncoder(await open(folder.paths.textEncoder2!, 'text_encoder_2/model.onnx'), loadClipTokenizer(folder.paths.tokenizer2!, 'tokenizer_2'), 'xl2') : undefined;
    const unet = checkUnet(await open(folder.paths.unet, 'unet/model.onnx'), xl, te1, te2);
    const vae = await openVae(folder, open);
    const channels = latentChannels(unet, vae.decoder);
    const ms = discreteModelSampling({
      betaSchedule: folder.scheduler.betaSchedule,
      linearStart: folder.scheduler.betaStart,
      linearEnd: folder.scheduler.betaEnd,
      prediction: folder.scheduler.prediction,
      zeroTerminalSnr: folder.scheduler.zeroTerminalSnr,
      timesteps: folder.scheduler.trainTimesteps,
      // the name selects the AYS/GITS tables: SD1.x/2.x-family models use SD1's, SDXL-family SDXL's
      name: xl ? 'sdxl' : 'sd15',
    });
    const longPrompts = fixedDim(unet.input('encoder_hidden_states')!, 1) === undefined;
    return makePipeline({ folder, te1, te2, unet, vae, channels, ms, sessions: opened, device: options.device ?? 'cpu', longPrompts });
  } catch (err) {
    await Promise.all(opened.map((s) => s.release().catch(() => undefined)));
    throw err;
  }
}

interface Size {
  width: number;
  height: number;
  batch: number;
}

/** Size, batch and prompt checks, before any model work. */
function validate(req: SamplingRequest, p: Parts): Size {
  const fail = (m: string): never => {
    throw new GenerateOptionsError(m);
  };
  const { batch, width, height, from } = requestSize(req, p.folder.defaultSize);
  const m = p.folder.unet.sizeMultiple;
  for (const [what, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v <= 0 || v % 8 !== 0) fail(`${what} must be a positive multiple of 8, got ${v}${from}`);
    if (v % m !== 0) {
      fail(`${what} must be a multiple of ${m} for this UNet (8 x 2^${p.folder.unet.downsamplers} downsamplers), got ${v}${from}; try ${Math.max(m, Math.round(v / m) * m)}`);
    }
  }
  if (typeof req.cfg !== 'number' || !Number.isFinite(req.cfg)) fail(`cfg must be a finite number, got ${req.cfg}`);
  if (req.prompt !== undefined && typeof req.prompt !== 'string') fail('prompt must be a string');
  if (req.classLabel !== undefined) fail('this model takes a prompt, not a class');
  checkFitsMemory(p, { width, height, batch }, req.cfg !== 1 || (req.sampler !== undefined && samplerNeedsUncond(req.sampler)));
  return { width, height, batch };
}

/**
 * Refuse sizes and batches that cannot fit: the UNet's first feature map (rows x block_out_channels[0] x h x w),
 * on the CPU the attention scores at the first attention level (rows x heads x tokens^2, onnxruntime's CPU attention
 * materialises them), and the VAE decoder's last feature map (128 channels at full size, one image at a time).
 */
function checkFitsMemory(p: Parts, s: Size, cfg: boolean, available = p.device === 'cpu' ? availableMemoryBytes() : DEVICE_MEMORY_CEILING): void {
  const rows = (cfg ? 2 : 1) * s.batch;
  const h = s.height / 8;
  const w = s.width / 8;
  const bytes = p.unet.input('sample')!.type === 'float16' ? 2 : 4;
  const arch = p.folder.unet;
  const terms: MemoryTerm[] = [
    { what: `UNet feature map ${rows} x ${arch.blockOutChannels[0]} x ${h} x ${w}`, bytes: rows * arch.blockOutChannels[0]! * h * w * bytes },
    { what: `VAE decoder feature map 128 x ${s.height} x ${s.width}`, bytes: 128 * s.height * s.width * bytes },
  ];
  if (p.device === 'cpu') {
    const tokens = (h * w) / 4 ** arch.firstAttentionLevel;
    terms.push({ what: `attention scores ${rows} x ${arch.heads} x ${tokens}^2`, bytes: rows * arch.heads * tokens * tokens * bytes });
  }
  checkMemory(`${s.width}x${s.height} with batch ${s.batch}${cfg ? ' (x 2 for CFG)' : ''}`, terms, available, (m) => new GenerateOptionsError(m));
}

/** sha256 of the UNet's weights (model.onnx and its external data file, when there is one). */
async function hashFiles(paths: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const path of paths) {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

function capabilitiesOf(p: Parts): PipelineCapabilities {
  return {
    conditioning: 'text',
    classNames: [],
    classKeys: [],
    extraSchedulers: [],
    recommendedCfg: 7,
    nativeSize: { width: p.folder.defaultSize, height: p.folder.defaultSize },
    sizeMultiple: p.folder.unet.sizeMultiple,
    fixedSize: false,
    imageToImage: p.vae.encoder !== undefined,
    negativePrompt: true,
  };
}

function makePipeline(p: Parts): StableDiffusionPipeline {
  const xl = p.folder.kind === 'stable-diffusion-xl';
  let lastTimings: GenerateTimings | null = null;
  let hash: Promise<string> | undefined;
  const timings = (): GenerateTimings => ({ unetMs: 0, unetCalls: 0, samplingMs: 0, denoiserOtherMs: 0, steps: 0, textMs: 0, vaeMs: 0, totalMs: 0 });
  let current = timings();

  async function prepareSampling(req: SamplingRequest): Promise<SamplingSetup> {
    const { width, height, batch } = validate(req, p);
    const useCfg = req.cfg !== 1 || (req.sampler !== undefined && samplerNeedsUncond(req.sampler));
    const tText = performance.now();
    const zeroUncond = xl && req.negativePrompt === undefined && p.folder.forceZerosForEmptyPrompt;
    const text = await encodePrompts(p.te1, p.te2, req.prompt ?? '', req.negativePrompt ?? '', zeroUncond, p.longPrompts);
    current.textMs += performance.now() - tText;
    const rows = useCfg ? 2 * batch : batch;
    const latentShape = [batch, p.channels, height / 8, width / 8];
    let added: AddedConditioning | undefined;
    if (xl) {
      // time_ids = original size, crop top-left, target size (all the output size here)
      const ids = new Float32Array(rows * 6);
      for (let r = 0; r < rows; r++) ids.set([height, width, 0, 0, height, width], r * 6);
      added = { textEmbeds: cfgBatch(text.pooled!, text.pooledWidth, batch, useCfg), pw: text.pooledWidth, timeIds: ids };
    }
    checkStaticShape(p.unet, [rows, p.channels, height / 8, width / 8], useCfg, { width, height });
    const context = cfgBatch(text.context, text.seqLen * text.contextWidth, batch, useCfg);
    const t = current;
    const callsBefore = t.unetCalls;
    const denoiser = unetDenoiser({ unet: p.unet, ms: p.ms, latentShape, context, seqLen: text.seqLen, added, useCfg, cfg: req.cfg, sampler: req.sampler ?? '', signal: req.signal, timings: t });
    const initLatent = req.init ? await encodeInit(p.vae, req.init, latentShape) : null;
    return {
      modelSampling: p.ms,
      latentShape,
      denoiser,
      calls: () => t.unetCalls - callsBefore,
      initLatent,
      warnings: text.warnings,
      async decode(latents) {
        const tVae = performance.now();
        const images = await decodeLatents(p.vae, latents);
        t.vaeMs += performance.now() - tVae;
        return images;
      },
    };
  }

  function schedule(r: ScheduleRequest): number[] {
    checkSchedulerKnown(r.scheduler);
    return scheduleSigmas(p.ms, r.scheduler, r.steps, r.denoise ?? 1, r.sampler ?? 'euler', r.coeff);
  }

  const pipeline: StableDiffusionPipeline = {
    kind: p.folder.kind,
    modelName: p.folder.name,
    model: {
      name: p.folder.name,
      contentHash: () => (hash ??= hashFiles([p.folder.paths.unet, ...(existsSync(`${p.folder.paths.unet}_data`) ? [`${p.folder.paths.unet}_data`] : [])])),
    },
    modelSampling: p.ms,
    capabilities: capabilitiesOf(p),
    folder: p.folder,
    get lastTimings() {
      return lastTimings;
    },
    schedule,
    checkRequest: (req) => void validate(req, p),
    prepareSampling,
    async generate(o: GenerateOptions): Promise<GenerateResult> {
      const t0 = performance.now();
      current = timings();
      const s = await sampleImages(pipeline, o);
      const prompt = o.prompt ?? '';
      const negative = o.negativePrompt ?? '';
      const denoise = o.init ? (o.denoise ?? 1) : 1;
      const result = toResult(pipeline, o, s, () => ({
        prompt,
        negativePrompt: negative,
        settings: o.init ? { 'Denoising strength': String(denoise) } : ({} as Record<string, string>),
      }), [...(s.setup.warnings ?? [])]);
      current.samplingMs = s.timings.samplingMs;
      current.steps = s.sigmas.length - 1;
      current.totalMs = performance.now() - t0;
      lastTimings = current;
      return result;
    },
    async dispose() {
      await Promise.all(p.sessions.map((s) => s.release()));
    },
  };
  return pipeline;
}
