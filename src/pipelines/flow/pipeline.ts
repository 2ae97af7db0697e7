/**
 * Stable Diffusion 3 / 3.5 and Flux (dev, schnell) from an optimum ONNX folder on onnxruntime-node, with every
 * scheduler and sampler of ays. The model sampling is the folder's own (SD3: the config's shift; Flux dev: mu from
 * the image size), the denoiser is the library's flow model sampling (c_in = 1, x0 = x - sigma v) over one
 * transformer call per step (CFG rows batched [uncond, cond]), the starting latent is ComfyUI's (torch.randn of
 * [B,16,H/8,W/8] for the seed; sigma0 noise + (1 - sigma0) latent), and the sampler gets the model sampling so
 * samplers with flow-specific paths take them. With `--sampler euler --sigmas <diffusers' sigmas>` the result is
 * diffusers' StableDiffusion3Pipeline / FluxPipeline within float32 rounding (test/pipeline-flow-diffusers.test.ts).
 */
import { readFlowFolder, flowFolderModelSampling, type FlowFolder } from './folder.js';
import { sd3Conditioner, fluxConditioner, loadFlowTokenizers, type FlowTextEmbeddings, type TextConditioner } from './text.js';
import { checkTransformer, checkTransformerShapes, makeTransformerRun, type TransformerInfo } from './transformer.js';
import type { GenerateOptions, GenerateResult, Pipeline, PipelineCapabilities, SamplingRequest, SamplingSetup, ScheduleRequest } from '../types.js';
import { abortError, checkGenerateOptions, runSampler, startLatents, toResult } from '../generate.js';
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { samplerNames } from '../../samplers/registry.js';
import { GenerateOptionsError } from '../errors.js';
import {
  ModelError,
  checkRank,
  checkType,
  checkDim,
  floatTensor,
  openSession,
  ort,
  readFloat,
  requireInputs,
  requireOutput,
  type ModelSession,
  type SessionOptions,
} from '../../runtime/session.js';
import type { FlowModelSampling } from '../../model-sampling/flow.js';
import type { ModelSampling } from '../../model-sampling/types.js';
import type { Tensor } from '../../tensor/tensor.js';
import { guidedModelDenoiser, type PairedRawModel } from '../../denoisers/model.js';
import { validateSigmas } from '../../core/validate.js';
import { availableMemoryBytes, checkMemory, DEVICE_MEMORY_CEILING, type MemoryTerm } from '../../runtime/memory.js';
import { decodeLatents } from '../sd-vae.js';
import { checkSchedulerName, requestSize, samplerNeedsUncond, scheduleSigmas } from '../sampling.js';

/** The seam's request plus what flow models add. */
export interface FlowSamplingRequest extends SamplingRequest {
  /** Flux dev: the embedded guidance the transformer takes (default 3.5). An error on models without it. */
  guidance?: number;
  /** T5 tokens (default: 256 for SD3, 512 for Flux, as diffusers). */
  maxSequenceLength?: number;
  /** Called after every transformer run with its inputs and output (tests, debugging); the tensors are reused buffers. */
  onTransformerCall?: (feeds: Record<string, ort.Tensor>, output: ort.Tensor) => void;
}

export interface FlowGenerateOptions extends GenerateOptions, Omit<FlowSamplingRequest, 'sampler' | keyof GenerateOptions> {
  guidance?: number;
  maxSequenceLength?: number;
}

/** Flux's schedule depends on the image size (its shift does); default: the native size. */
export interface FlowScheduleRequest extends ScheduleRequest {
  width?: number;
  height?: number;
}

export interface FlowGenerateResult extends GenerateResult {
  /** Flux dev: the guidance used. */
  guidance?: number;
  maxSequenceLength: number;
  /** The model sampling the run used (Flux: at this image size). */
  modelSampling: ModelSampling;
  /** The final latent [B,16,H/8,W/8] before the VAE (unpacked, unscaled). */
  latents: Tensor;
}

/** Wall-clock split of one generate() call. */
export interface FlowTimings {
  textMs: number;
  /** Time inside transformer.run. */
  transformerMs: number;
  transformerCalls: number;
  /** The whole sampling loop. */
  samplingMs: number;
  /** The pipeline's own per-call work around transformer.run (fill the feeds, Flux pack/unpack). */
  feedMs: number;
  steps: number;
  /** (samplingMs - transformerMs) / steps: everything but the transformer, per step. */
  perStepOtherMs: number;
  vaeMs: number;
  totalMs: number;
  /** T5 runs in this call (0 when the prompts were encoded before). */
  t5Runs: number;
}

export interface FlowPipeline extends Pipeline {
  readonly kind: 'stable-diffusion-3' | 'flux';
  readonly folder: FlowFolder;
  /** CFG scale `ays generate` uses when none is given (SD3 7, Flux 1). */
  readonly recommendedCfg: number;
  /** Flux dev's embedded guidance (3.5); undefined for models without it. */
  readonly defaultGuidance: number | undefined;
  readonly lastTimings: FlowTimings | null;
  /** The model sampling at an image size (Flux's shift depends on it; SD3's does not). */
  modelSamplingFor(width?: number, height?: number): FlowModelSampling;
  /** One prompt's text conditioning (cached), as the transformer gets it. */
  encodePrompt(text: string, maxSequenceLength?: number): Promise<FlowTextEmbeddings>;
  schedule(request: FlowScheduleRequest): number[];
  prepareSampling(request: FlowSamplingRequest): Promise<SamplingSetup>;
  generate(options: FlowGenerateOptions): Promise<FlowGenerateResult>;
}

export type FlowLoadOptions = SessionOptions;


export async function loadFlowPipeline(dir: string, options: FlowLoadOptions = {}): Promise<FlowPipeline> {
  const folder = readFlowFolder(dir);
  // tokenizers first: one that does not load is an error before any (large) session is created
  const tokenizers = loadFlowTokenizers(folder);
  const opened: ModelSession[] = [];
  const open = async (path: string, label: string) => {
    let s: ModelSession;
    try {
      s = await openSession(path, options, label);
    } catch (err) {
      // onnxruntime's CPU provider runs float16 graphs (it inserts casts to float32) but has no bfloat16 kernels
      const m = err instanceof Error ? /Could not find an implementation for (\w+)\(\d+\)/.exec(err.message) : null;
      if (m && (options.device ?? 'cpu') === 'cpu') {
        throw new ModelError(
          `${label}: onnxruntime's CPU provider has no ${m[1]} kernel for this export's element type (bfloat16 exports do not run on the CPU); export in float32 or float16 (docs/flow-models.md)`,
        );
      }
      throw err;
    }
    opened.push(s);
    return s;
  };
  try {
    const transformer = checkTransformer(await open(folder.paths.transformer, 'transformer/model.onnx'), folder);
    let text: TextConditioner;
    if (folder.kind === 'sd3') {
      text = sd3Conditioner(folder, {
        tokenizers,
        clipL: await open(folder.paths.textEncoder, 'text_encoder/model.onnx'),
        clipG: await open(folder.paths.textEncoder2, 'text_encoder_2/model.onnx'),
        ...(folder.paths.textEncoder3 ? { t5: await open(folder.paths.textEncoder3, 'text_encoder_3/model.onnx') } : {}),
        jointDim: transformer.contextWidth,
      });
    } else {
      text = fluxConditioner({
        tokenizers,
        clip: await open(folder.paths.textEncoder, 'text_encoder/model.onnx'),
        t5: await open(folder.paths.textEncoder2, 'text_encoder_2/model.onnx'),
      });
    }
    if (text.width !== undefined && transformer.contextWidth !== undefined && text.width !== transformer.contextWidth) {
      throw new ModelError(`transformer/model.onnx takes ${transformer.contextWidth}-wide text embeddings but the T5 encoder gives ${text.width}; the encoders and transformer do not belong together`);
    }
    if (text.pooledWidth !== undefined && transformer.pooledWidth !== undefined && text.pooledWidth !== transformer.pooledWidth) {
      throw new ModelError(`transformer/model.onnx takes ${transformer.pooledWidth}-wide pooled_projections but the CLIP encoders give ${text.pooledWidth}; the encoders and transformer do not belong together`);
    }
    const vaeDecoder = await open(folder.paths.vaeDecoder, 'vae_decoder/model.onnx');
    requireInputs(vaeDecoder, ['latent_sample'], 'A VAE decoder exported by optimum takes "latent_sample"');
    requireOutput(vaeDecoder, 'sample');
    const latentInfo = vaeDecoder.input('latent_sample')!;
    checkRank(vaeDecoder, latentInfo, [4]);
    checkType(vaeDecoder, latentInfo, ['float32', 'float16']);
    checkDim(vaeDecoder, latentInfo, 1, folder.latentChannels, 'latent channels (vae_decoder/config.json latent_channels)');
    let vaeEncoder: ModelSession | undefined;
    if (folder.paths.vaeEncoder) {
      vaeEncoder = await open(folder.paths.vaeEncoder, 'vae_encoder/model.onnx');
      requireInputs(vaeEncoder, ['sample'], 'A VAE encoder exported by optimum takes "sample"');
      requireOutput(vaeEncoder, 'latent_parameters', 'optimum\'s VAE encoder gives "latent_parameters" (mean and log-variance)');
    }
    return makeFlowPipeline(folder, transformer, text, vaeDecoder, vaeEncoder, opened, options.device ?? 'cpu');
  } catch (err) {
    await Promise.all(opened.map((s) => s.release().catch(() => undefined)));
    throw err;
  }
}

export interface Checked {
  /** checkFlowOptions: the sigmas the run follows (explicit, or the schedule on the folder's model sampling). */
  sigmas?: number[];
  width: number;
  height: number;
  batch: number;
  maxSequenceLength: number;
  guidance: number | undefined;
  useCfg: boolean;
}

/**
 * A sampling request checked against the folder before any model runs, one line per problem: sizes the
 * transformer takes, guidance only where there is a guidance embedding, a negative prompt only with CFG on Flux,
 * T5 length, the init image.
 */
export function checkFlowRequest(folder: FlowFolder, o: FlowSamplingRequest, device: 'cpu' | 'cuda' = 'cpu', available?: number): Checked {
  const f = folder.vaeScaleFactor;
  const sizeStep = f * folder.patchSize;
  const flux = folder.kind === 'flux';
  const modelName = flux ? 'Flux' : 'SD3';
  const fail = (m: string): never => {
    throw new GenerateOptionsError(m);
  };
  const { batch, width, height, from } = requestSize(o, folder.defaultSize);
  if (o.init && !folder.paths.vaeEncoder) fail('image-to-image needs vae_encoder/model.onnx, which this model folder does not have');
  for (const [name, v] of [['width', width], ['height', height]] as const) {
    if (!Number.isInteger(v) || v <= 0 || v % sizeStep !== 0) fail(`${name} must be a positive multiple of ${sizeStep} for ${modelName} (VAE x${f}, ${flux ? '2x2 packing' : `patch ${folder.patchSize}`}), got ${v}${from}`);
  }
  if (folder.posEmbedMaxSize !== undefined) {
    const maxSide = folder.posEmbedMaxSize * sizeStep;
    if (width > maxSide || height > maxSide) {
      fail(`${width}x${height} is larger than this SD3 transformer takes: pos_embed_max_size ${folder.posEmbedMaxSize} allows at most ${maxSide} pixels a side`);
    }
  }
  if (typeof o.cfg !== 'number' || !Number.isFinite(o.cfg)) fail(`cfg must be a finite number, got ${o.cfg}`);
  if (o.prompt !== undefined && typeof o.prompt !== 'string') fail('prompt must be a string');
  const maxSequenceLength = o.maxSequenceLength ?? folder.defaultMaxSequenceLength;
  if (!Number.isInteger(maxSequenceLength) || maxSequenceLength < 1 || maxSequenceLength > 512) {
    fail(`max sequence length must be an integer in [1, 512] (T5's limit in these pipelines), got ${maxSequenceLength}`);
  }
  let guidance: number | undefined;
  if (o.guidance !== undefined) {
    if (!folder.guidanceEmbeds) {
      fail(
        flux
          ? 'this Flux model has no guidance embedding (schnell style): --guidance does not apply; use --cfg with a negative prompt for true CFG'
          : 'SD3 has no embedded guidance: --guidance is for Flux dev; use --cfg for SD3\'s classifier-free guidance',
      );
    }
    if (!Number.isFinite(o.guidance) || o.guidance < 0) fail(`guidance must be a non-negative number, got ${o.guidance}`);
    guidance = o.guidance;
  } else if (folder.guidanceEmbeds) guidance = folder.defaultGuidance ?? 3.5;
  const useCfg = o.cfg !== 1 || (o.sampler !== undefined && samplerNames.includes(o.sampler) && samplerNeedsUncond(o.sampler));
  if (flux && o.negativePrompt !== undefined && o.negativePrompt !== '' && !useCfg) {
    fail('Flux runs without CFG at --cfg 1, so a negative prompt would be ignored; give --cfg > 1 for true CFG (two transformer rows per step) or leave --negative out');
  }
  checkFlowMemory(folder, { width, height, batch, maxSequenceLength, useCfg }, device, available);
  return { width, height, batch, maxSequenceLength, guidance, useCfg };
}

/**
 * Refuse sizes and batches that cannot fit: on the CPU the transformer's attention scores (rows x heads x tokens^2,
 * tokens = image patches + text; onnxruntime's CPU attention materialises them), its hidden states, and the VAE
 * decoder's last feature map (first block channels at full size, one image at a time).
 */
function checkFlowMemory(
  folder: FlowFolder,
  s: { width: number; height: number; batch: number; maxSequenceLength: number; useCfg: boolean },
  device: 'cpu' | 'cuda',
  available = device === 'cpu' ? availableMemoryBytes() : DEVICE_MEMORY_CEILING,
): void {
  const rows = (s.useCfg ? 2 : 1) * s.batch;
  const image = (s.height / (folder.vaeScaleFactor * 2)) * (s.width / (folder.vaeScaleFactor * 2));
  const tokens = image + (folder.kind === 'sd3' ? 77 + s.maxSequenceLength : s.maxSequenceLength);
  const inner = folder.attentionHeads * folder.attentionHeadDim;
  const terms: MemoryTerm[] = [
    { what: `transformer hidden states ${rows} x ${tokens} x ${inner}`, bytes: rows * tokens * inner * 4 },
    { what: `VAE decoder feature map ${folder.vaeFirstChannels} x ${s.height} x ${s.width}`, bytes: folder.vaeFirstChannels * s.height * s.width * 4 },
  ];
  if (device === 'cpu') terms.push({ what: `attention scores ${rows} x ${folder.attentionHeads} x ${tokens}^2`, bytes: rows * folder.attentionHeads * tokens * tokens * 4 });
  checkMemory(`${s.width}x${s.height} with batch ${s.batch}${s.useCfg ? ' (x 2 for CFG)' : ''}`, terms, available, (m) => new GenerateOptionsError(m));
}

/**
 * Every generate option checked against the folder before any model runs: the request (checkFlowRequest), then
 * sampler, steps, seed, denoise, and explicit sigmas in [0, 1]. The CLI calls it before loading the sessions.
 */
export function checkFlowOptions(folder: FlowFolder, o: FlowGenerateOptions, device: 'cpu' | 'cuda' = 'cpu'): Checked {
  const fail = (m: string): never => {
    throw new GenerateOptionsError(m);
  };
  checkGenerateOptions(o);
  const checked = checkFlowRequest(folder, o, device);
  if (o.sigmas) {
    const s = o.sigmas;
    try {
      validateSigmas(s);
    } catch (err) {
      fail(err instanceof Error ? err.message : String(err));
    }
    if (s[0]! > 1) fail(`flow models take sigmas in [0, 1] (sigma 1 is pure noise), got ${s[0]} first`);
    return { ...checked, sigmas: [...s] };
  }
  // the schedule on the folder's own model sampling, checked now: no model work for a schedule that cannot run
  const denoise = o.init ? (o.denoise ?? 1) : 1;
  if (denoise === 0) fail('denoise 0 runs no step (the init image would come back unchanged); use a denoise above 0');
  checkSchedulerName(o.scheduler);
  const ms = flowFolderModelSampling(folder, checked.width, checked.height);
  const sigmas = scheduleSigmas(ms, o.scheduler, o.steps, denoise, o.sampler, o.coeff);
  const what = `${o.scheduler} at ${o.steps} steps${denoise < 1 ? ` and denoise ${denoise}` : ''} on this model`;
  if (sigmas.length < 2 || !sigmas.slice(0, -1).some((v) => v > 0)) fail(`${what} gives no step (${sigmas.length} sigmas)`);
  try {
    validateSigmas(sigmas, what);
  } catch (err) {
    fail(`${err instanceof Error ? err.message : String(err)} (a flow model's sigmas end at 1: this scheduler repeats it; pick another)`);
  }
  return { ...checked, sigmas };
}


/** sha256 of the transformer's weights (model.onnx and its external data file). */
async function hashFiles(paths: string[]): Promise<string> {
  const hash = createHash('sha256');
  for (const path of paths) {
    for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  }
  return hash.digest('hex');
}

function makeFlowPipeline(
  folder: FlowFolder,
  transformer: TransformerInfo,
  text: TextConditioner,
  vaeDecoder: ModelSession,
  vaeEncoder: ModelSession | undefined,
  sessions: ModelSession[],
  device: 'cpu' | 'cuda',
): FlowPipeline {
  const C = folder.latentChannels;
  const f = folder.vaeScaleFactor;
  const flux = folder.kind === 'flux';
  let lastTimings: FlowTimings | null = null;
  let hash: Promise<string> | undefined;
  const newTimings = (): FlowTimings => ({ textMs: 0, transformerMs: 0, transformerCalls: 0, samplingMs: 0, feedMs: 0, steps: 0, perStepOtherMs: 0, vaeMs: 0, totalMs: 0, t5Runs: 0 });
  let current = newTimings();

  const modelSamplingFor = (width = folder.defaultSize, height = folder.defaultSize) => flowFolderModelSampling(folder, width, height);

  async function encodeInit(init: Tensor, batch: number, h: number, w: number): Promise<Tensor> {
    const enc = vaeEncoder!;
    const pixels = new Float32Array(init.data.length);
    for (let i = 0; i < pixels.length; i++) pixels[i] = init.data[i]! * 2 - 1;
    const out = await enc.run({ sample: floatTensor(enc.input('sample')!.type, pixels, init.shape) }, ['latent_parameters']);
    const t = out.latent_parameters!;
    const moments = readFloat(t);
    const [, cOut, lh, lw] = t.dims.map(Number) as [number, number, number, number];
    if (cOut !== 2 * C && cOut !== C) throw new ModelError(`vae_encoder/model.onnx: latent_parameters has ${cOut} channels; expected ${2 * C} (mean and log-variance)`);
    if (lh !== h || lw !== w) throw new ModelError(`vae_encoder/model.onnx: output is ${lw}x${lh} latents, expected ${w}x${h}`);
    const per = C * h * w;
    const latent = new Float32Array(batch * per);
    // the mean (ComfyUI's and diffusers' deterministic encoding), then (z - shift) * scale
    for (let i = 0; i < per; i++) latent[i] = (moments[i]! - folder.vaeShiftFactor) * folder.vaeScalingFactor;
    for (let b = 1; b < batch; b++) latent.copyWithin(b * per, 0, per);
    return { data: latent, shape: [batch, C, h, w] };
  }

  const vae = { decoder: vaeDecoder, scale: folder.vaeScalingFactor, shift: folder.vaeShiftFactor };
  const decode = (latents: Tensor): Promise<Tensor> => decodeLatents(vae, latents, 'use a float32 VAE');

  async function prepareSampling(req: FlowSamplingRequest): Promise<SamplingSetup> {
    const { width, height, batch, maxSequenceLength, guidance, useCfg } = checkFlowRequest(folder, req, device);
    const ms = modelSamplingFor(width, height);
    const h = height / f;
    const w = width / f;
    const rows = (useCfg ? 2 : 1) * batch;
    checkTransformerShapes(transformer, rows, h, w, flux ? maxSequenceLength : 77 + maxSequenceLength, { width, height }, useCfg);
    const signal = req.signal;
    if (signal?.aborted) throw abortError();
    const t = current;

    // text: [uncond, cond] with CFG; SD3's empty negative is encoded, never zeros. Cached per prompt.
    const tText = performance.now();
    const t5Before = text.stats.t5Runs;
    const cond = await text.encode(req.prompt ?? '', maxSequenceLength);
    const conds = useCfg ? [await text.encode(req.negativePrompt ?? '', maxSequenceLength), cond] : [cond];
    t.textMs += performance.now() - tText;
    t.t5Runs += text.stats.t5Runs - t5Before;

    const initLatent = req.init ? await encodeInit(req.init, batch, h, w) : null;
    const run = makeTransformerRun({
      info: transformer,
      conds,
      batch,
      channels: C,
      h,
      w,
      ...(guidance !== undefined ? { guidance } : {}),
      ...(req.onTransformerCall ? { onCall: req.onTransformerCall } : {}),
    });
    const n = batch * C * h * w;
    // one transformer call per step for both CFG rows; the model sampling's c_in / x0 and the CFG combination are
    // the denoiser layer's (guidedModelDenoiser). Per-row times (denoiser.rows, e.g. the optimizer) go to timestep[b].
    const paired: PairedRawModel = async (xIn, tm, rowT) => {
      if (signal?.aborted) throw abortError();
      const before = run.stats.runMs;
      const otherBefore = run.stats.otherMs;
      const v = await run.call(xIn.data, tm, rowT);
      t.transformerMs += run.stats.runMs - before;
      t.feedMs += run.stats.otherMs - otherBefore;
      t.transformerCalls += 1;
      const shape = [...xIn.shape];
      return { cond: { data: v.subarray(useCfg ? n : 0, useCfg ? 2 * n : n), shape }, uncond: useCfg ? { data: v.subarray(0, n), shape } : null };
    };
    const warnings: string[] = [];
    for (const [what, e] of [['prompt', cond], ...(useCfg ? [['negative prompt', conds[0]!] as const] : [])] as const) {
      if (e.clipTruncated) warnings.push(`the ${what} is longer than CLIP's 77 tokens: CLIP reads the first 75${e.t5Truncated ? '' : ', T5 reads all of it'}`);
      if (e.t5Truncated) warnings.push(`the ${what} is longer than the T5 sequence (${maxSequenceLength} tokens): the rest is cut (raise --max-sequence-length, at most 512)`);
    }
    return {
      modelSampling: ms,
      latentShape: [batch, C, h, w],
      denoiser: guidedModelDenoiser(ms, paired, req.cfg, { precision: 'float32' }),
      calls: () => run.stats.calls,
      initLatent,
      warnings,
      async decode(latents) {
        const tVae = performance.now();
        const images = await decode(latents);
        t.vaeMs += performance.now() - tVae;
        return images;
      },
    };
  }

  function schedule(r: FlowScheduleRequest): number[] {
    checkSchedulerName(r.scheduler);
    const ms = modelSamplingFor(r.width, r.height);
    return scheduleSigmas(ms, r.scheduler, r.steps, r.denoise ?? 1, r.sampler ?? 'euler', r.coeff);
  }

  const capabilities: PipelineCapabilities = {
    conditioning: 'text',
    classNames: [],
    classKeys: [],
    extraSchedulers: [],
    recommendedCfg: folder.recommendedCfg,
    nativeSize: { width: folder.defaultSize, height: folder.defaultSize },
    sizeMultiple: f * folder.patchSize,
    fixedSize: false,
    imageToImage: vaeEncoder !== undefined,
    negativePrompt: true,
  };

  const pipeline: FlowPipeline = {
    kind: flux ? 'flux' : 'stable-diffusion-3',
    modelName: folder.name,
    model: {
      name: folder.name,
      contentHash: () => (hash ??= hashFiles([folder.paths.transformer, ...(existsSync(`${folder.paths.transformer}_data`) ? [`${folder.paths.transformer}_data`] : [])])),
    },
    modelSampling: modelSamplingFor(),
    capabilities,
    folder,
    recommendedCfg: folder.recommendedCfg,
    defaultGuidance: transformer.takesGuidance ? (folder.defaultGuidance ?? 3.5) : undefined,
    get lastTimings() {
      return lastTimings;
    },
    modelSamplingFor,
    encodePrompt: (t, len) => text.encode(t, len ?? folder.defaultMaxSequenceLength),
    schedule,
    checkRequest: (req: FlowSamplingRequest) => void checkFlowRequest(folder, req, device),
    prepareSampling,

    /** prepareSampling + sample() with the model sampling (flow paths) + decode, diffusers' conventions throughout. */
    async generate(o: FlowGenerateOptions): Promise<FlowGenerateResult> {
      const t0 = performance.now();
      current = newTimings();
      const checked = checkFlowOptions(folder, o, device);
      const { maxSequenceLength, guidance } = checked;
      const sigmas = checked.sigmas!;
      const denoise = o.init ? (o.denoise ?? 1) : 1;
      const tPrep = performance.now();
      const setup = await pipeline.prepareSampling({ ...o, sampler: o.sampler });
      const prepareMs = performance.now() - tPrep;
      const x = startLatents(setup, o, sigmas);
      const totalSteps = sigmas.length - 1;
      const tLoop = performance.now();
      const latents = await runSampler(setup, o, x, sigmas);
      const t = current;
      t.samplingMs = performance.now() - tLoop;
      t.steps = totalSteps;
      t.perStepOtherMs = totalSteps > 0 ? (t.samplingMs - t.transformerMs) / totalSteps : 0;
      const tDec = performance.now();
      const images = await setup.decode(latents);
      const decodeMs = performance.now() - tDec;
      const result = toResult(
        pipeline,
        o,
        { images, sigmas, setup, nfe: setup.calls(), timings: { prepareMs, samplingMs: t.samplingMs, decodeMs } },
        () => {
          const settings: Record<string, string> = {};
          if (guidance !== undefined) settings.Guidance = String(guidance);
          if (maxSequenceLength !== folder.defaultMaxSequenceLength) settings['Max sequence length'] = String(maxSequenceLength);
          if (o.init) settings['Denoising strength'] = String(denoise);
          const withUncond = setup.denoiser.lastUncond !== null || (o.cfg !== 1);
          return { prompt: o.prompt ?? '', negativePrompt: withUncond ? (o.negativePrompt ?? '') : '', settings };
        },
        [...(setup.warnings ?? [])],
      );
      t.totalMs = performance.now() - t0;
      lastTimings = t;
      return { ...result, latents, ...(guidance !== undefined ? { guidance } : {}), maxSequenceLength, modelSampling: setup.modelSampling };
    },
    async dispose() {
      await Promise.all(sessions.map((s) => s.release()));
    },
  };
  return pipeline;
}
