/**
 * Stable Diffusion 1.x/2.x and SDXL from a diffusers/optimum ONNX folder on onnxruntime-node: prompt -> CLIP
 * tokenizer -> text encoder(s) -> UNet loop driven by any of the library's samplers and schedules -> VAE decoder,
 * and image-to-image through the VAE encoder. Noise follows ComfyUI (torch CPU randn for the seed, KSampler's
 * noise scaling and denoise rule), so a seed, sampler and schedule mean the same starting point as there.
 */
import { readModelFolder, type ModelFolder } from './model-folder.js';
import { loadClipTokenizer, type ClipTokenizer, CLIP_SEQUENCE_LENGTH } from './tokenizer.js';
import type { GenerateOptions, GenerateResult, Pipeline } from './types.js';
import {
  ModelError,
  checkDim,
  checkRank,
  checkType,
  fixedDim,
  floatTensor,
  openSession,
  ort,
  readFloat,
  requireInputs,
  requireOutput,
  type ModelSession,
  type SessionOptions,
  type ValueInfo,
} from '../runtime/session.js';
import { toHalfBits, useHalfBits } from '../runtime/float16.js';
import { discreteModelSampling } from '../model-sampling/discrete.js';
import type { ModelSampling } from '../model-sampling/types.js';
import type { GuidedDenoiser } from '../samplers/types.js';
import type { Tensor } from '../tensor/tensor.js';
import { encodePng, formatParameters } from '../image/png.js';
import { GenerateOptionsError } from './errors.js';
export { GenerateOptionsError };
import { initialLatents, runSampler, scheduleSigmas, checkSamplerName, checkSchedulerName, samplerNeedsUncond } from './sampling.js';

export interface StableDiffusionLoadOptions extends SessionOptions {}

/** Wall-clock split of one generate() call, for the benchmark: UNet runs versus everything else. */
export interface GenerateTimings {
  /** Time inside unet.run (including the host<->device copies a GPU provider makes). */
  unetMs: number;
  unetCalls: number;
  /** The whole sampling loop: UNet runs plus everything the pipeline and sampler do per step. */
  samplingMs: number;
  /** The pipeline's own per-call work around unet.run (input scaling, x0 and CFG); the rest of the loop is the sampler's. */
  denoiserOtherMs: number;
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

const FLOAT_TYPES = ['float32', 'float16'];
const ID_TYPES = ['int32', 'int64'];

interface TextEncoderIO {
  session: ModelSession;
  tokenizer: ClipTokenizer;
  ids: ValueInfo;
  /** Output giving the per-token states fed to the UNet. */
  statesOutput: string;
  /** Output giving the pooled embedding (SDXL's text_embeds), if used. */
  pooledOutput?: string;
  width: number | undefined;
}

/** Highest index N of `hidden_states.N` outputs, or -1. */
function lastHiddenStateIndex(session: ModelSession): number {
  let last = -1;
  for (const o of session.outputs) {
    const m = /^hidden_states\.(\d+)$/.exec(o.name);
    if (m) last = Math.max(last, Number(m[1]));
  }
  return last;
}

function checkTextEncoder(session: ModelSession, tokenizer: ClipTokenizer, role: 'sd' | 'xl1' | 'xl2'): TextEncoderIO {
  requireInputs(session, ['input_ids'], 'A text encoder exported by optimum takes "input_ids"');
  const ids = session.input('input_ids')!;
  checkType(session, ids, ID_TYPES);
  checkRank(session, ids, [2]);
  checkDim(session, ids, 1, CLIP_SEQUENCE_LENGTH, 'tokens');
  let statesOutput: string;
  let pooledOutput: string | undefined;
  if (role === 'sd') {
    statesOutput = requireOutput(session, 'last_hidden_state').name;
  } else {
    // SDXL conditions on the penultimate layer of both encoders (hidden_states.N-1 where N is the last)
    const last = lastHiddenStateIndex(session);
    if (last < 1) {
      throw new ModelError(
        `${session.label}: SDXL needs the hidden_states.N outputs (penultimate layer); the file declares [${session.outputs.map((o) => o.name).join(', ')}]. ` +
          'Export the text encoders with hidden states, as `optimum-cli export onnx --task text-to-image` does for SDXL',
      );
    }
    statesOutput = `hidden_states.${last - 1}`;
    if (role === 'xl2') pooledOutput = requireOutput(session, 'text_embeds', 'SDXL\'s second text encoder must be a CLIPTextModelWithProjection').name;
  }
  const out = session.output(statesOutput)!;
  checkType(session, out, FLOAT_TYPES);
  checkRank(session, out, [3]);
  return { session, tokenizer, ids, statesOutput, pooledOutput, width: fixedDim(out, 2) };
}

function idTensor(info: ValueInfo, rows: number[][]): ort.Tensor {
  const flat = rows.flat();
  const shape = [rows.length, CLIP_SEQUENCE_LENGTH];
  if (info.type === 'int64') return new ort.Tensor('int64', BigInt64Array.from(flat, (v) => BigInt(v)), shape);
  return new ort.Tensor('int32', Int32Array.from(flat), shape);
}

interface Encoded {
  /** [n, 77, D] float32, one row per prompt */
  states: Float32Array;
  width: number;
  pooled?: Float32Array;
  pooledWidth?: number;
}

async function encodeText(enc: TextEncoderIO, prompts: string[]): Promise<Encoded> {
  const rows = prompts.map((p) => enc.tokenizer.encode(p));
  const names = [enc.statesOutput, ...(enc.pooledOutput ? [enc.pooledOutput] : [])];
  const out = await enc.session.run({ input_ids: idTensor(enc.ids, rows) }, names);
  const states = out[enc.statesOutput]!;
  const result: Encoded = { states: Float32Array.from(readFloat(states)), width: Number(states.dims[2]) };
  if (enc.pooledOutput) {
    const pooled = out[enc.pooledOutput]!;
    result.pooled = Float32Array.from(readFloat(pooled));
    result.pooledWidth = Number(pooled.dims[1]);
  }
  return result;
}

/** Concatenate two [n, 77, Da] and [n, 77, Db] along the last axis. */
function concatLastAxis(a: Float32Array, da: number, b: Float32Array, db: number, n: number): Float32Array {
  const out = new Float32Array(n * CLIP_SEQUENCE_LENGTH * (da + db));
  for (let r = 0; r < n * CLIP_SEQUENCE_LENGTH; r++) {
    out.set(a.subarray(r * da, (r + 1) * da), r * (da + db));
    out.set(b.subarray(r * db, (r + 1) * db), r * (da + db) + da);
  }
  return out;
}

/** Repeat row 0 (uncond) B times then row 1 (cond) B times: the [2B, ...] CFG batch layout. */
function cfgBatch(rows: Float32Array, rowSize: number, batch: number, withUncond: boolean): Float32Array {
  const copies = withUncond ? 2 : 1;
  const out = new Float32Array(copies * batch * rowSize);
  for (let c = 0; c < copies; c++) {
    const src = rows.subarray((withUncond ? c : 1) * rowSize, ((withUncond ? c : 1) + 1) * rowSize);
    for (let i = 0; i < batch; i++) out.set(src, (c * batch + i) * rowSize);
  }
  return out;
}

function isMultipleOf8(v: number): boolean {
  return Number.isInteger(v) && v > 0 && v % 8 === 0;
}

function abortError(): Error {
  const err = new Error('generation cancelled');
  err.name = 'AbortError';
  return err;
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
    const tok1 = loadClipTokenizer(folder.paths.tokenizer, 'tokenizer');
    const te1 = checkTextEncoder(await open(folder.paths.textEncoder, 'text_encoder/model.onnx'), tok1, xl ? 'xl1' : 'sd');
    let te2: TextEncoderIO | undefined;
    if (xl) {
      const tok2 = loadClipTokenizer(folder.paths.tokenizer2!, 'tokenizer_2');
      te2 = checkTextEncoder(await open(folder.paths.textEncoder2!, 'text_encoder_2/model.onnx'), tok2, 'xl2');
    }
    const unet = await open(folder.paths.unet, 'unet/model.onnx');
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

    const vaeDecoder = await open(folder.paths.vaeDecoder, 'vae_decoder/model.onnx');
    requireInputs(vaeDecoder, ['latent_sample'], 'A VAE decoder exported by optimum takes "latent_sample"');
    requireOutput(vaeDecoder, 'sample');
    const latentInfo = vaeDecoder.input('latent_sample')!;
    checkRank(vaeDecoder, latentInfo, [4]);
    checkType(vaeDecoder, latentInfo, FLOAT_TYPES);
    const unetChannels = fixedDim(sampleInfo, 1);
    const vaeChannels = fixedDim(latentInfo, 1);
    if (unetChannels !== undefined && vaeChannels !== undefined && unetChannels !== vaeChannels) {
      throw new ModelError(
        `unet/model.onnx: "sample" has ${unetChannels} latent channels but vae_decoder/model.onnx's "latent_sample" has ${vaeChannels}; the UNet and VAE do not belong together`,
      );
    }
    const outChannels = fixedDim(out, 1);
    if (unetChannels !== undefined && outChannels !== undefined && outChannels !== unetChannels) {
      throw new ModelError(`unet/model.onnx: "out_sample" has ${outChannels} channels but "sample" has ${unetChannels}; expected the same`);
    }
    const channels = unetChannels ?? vaeChannels ?? 4;

    let vaeEncoder: ModelSession | undefined;
    let vaeEncoderOutput = '';
    if (folder.paths.vaeEncoder) {
      vaeEncoder = await open(folder.paths.vaeEncoder, 'vae_encoder/model.onnx');
      requireInputs(vaeEncoder, ['sample'], 'A VAE encoder exported by optimum takes "sample"');
      vaeEncoderOutput = vaeEncoder.output('latent_parameters') ? 'latent_parameters' : requireOutput(vaeEncoder, 'latent_sample', 'expected "latent_parameters" (optimum) or "latent_sample"').name;
    }

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

    return makePipeline({ folder, te1, te2, unet, vaeDecoder, vaeEncoder, vaeEncoderOutput, channels, ms, sessions: opened });
  } catch (err) {
    await Promise.all(opened.map((s) => s.release().catch(() => undefined)));
    throw err;
  }
}

interface Parts {
  folder: ModelFolder;
  te1: TextEncoderIO;
  te2?: TextEncoderIO;
  unet: ModelSession;
  vaeDecoder: ModelSession;
  vaeEncoder?: ModelSession;
  vaeEncoderOutput: string;
  channels: number;
  ms: ModelSampling;
  sessions: ModelSession[];
}

/** Preallocated UNet feeds: the buffers are filled in place each step, so a step allocates no latent-sized input. */
interface UnetFeeds {
  feeds: Record<string, ort.Tensor>;
  sample: Float32Array | Uint16Array;
  timestep: Float32Array | Uint16Array | BigInt64Array | Int32Array;
  /** Preallocated UNet output that onnxruntime writes into (float32 or float16 bits). */
  outTensor: ort.Tensor;
  /** The output as float32 (the output buffer itself for float32 models). */
  out: Float32Array;
}

function makeUnetFeeds(p: Parts, rows: number, latentShape: number[], context: Float32Array, added?: { textEmbeds: Float32Array; pw: number; timeIds: Float32Array }): UnetFeeds {
  const sampleType = p.unet.input('sample')!.type as string;
  const per = latentShape[1]! * latentShape[2]! * latentShape[3]!;
  const sample = sampleType === 'float16' ? new Uint16Array(rows * per) : new Float32Array(rows * per);
  const feeds: Record<string, ort.Tensor> = {
    sample: sample instanceof Uint16Array ? useHalfBits(new ort.Tensor('float16', sample, [rows, ...latentShape.slice(1)]), sample) : new ort.Tensor('float32', sample, [rows, ...latentShape.slice(1)]),
  };
  const tInfo = p.unet.input('timestep')!;
  // current optimum exports take a scalar timestep, older ones one per batch row (some with a fixed length)
  const tCount = tInfo.shape.length === 0 ? 1 : (fixedDim(tInfo, 0) ?? rows);
  const tShape = tInfo.shape.length === 0 ? [] : [tCount];
  let timestep: UnetFeeds['timestep'];
  switch (tInfo.type) {
    case 'int64':
      timestep = new BigInt64Array(tCount);
      feeds.timestep = new ort.Tensor('int64', timestep, tShape);
      break;
    case 'int32':
      timestep = new Int32Array(tCount);
      feeds.timestep = new ort.Tensor('int32', timestep, tShape);
      break;
    case 'float16':
      timestep = new Uint16Array(tCount);
      feeds.timestep = useHalfBits(new ort.Tensor('float16', timestep, tShape), timestep);
      break;
    default:
      timestep = new Float32Array(tCount);
      feeds.timestep = new ort.Tensor('float32', timestep, tShape);
  }
  const width = context.length / (rows * CLIP_SEQUENCE_LENGTH);
  feeds.encoder_hidden_states = floatTensor(p.unet.input('encoder_hidden_states')!.type, context, [rows, CLIP_SEQUENCE_LENGTH, width]);
  if (added) {
    feeds.text_embeds = floatTensor(p.unet.input('text_embeds')!.type, added.textEmbeds, [rows, added.pw]);
    feeds.time_ids = floatTensor(p.unet.input('time_ids')!.type, added.timeIds, [rows, added.timeIds.length / rows]);
  }
  const outType = p.unet.output('out_sample')!.type === 'float16' ? 'float16' : 'float32';
  const outBits = outType === 'float16' ? new Uint16Array(rows * per) : undefined;
  const outTensor = outBits ? useHalfBits(new ort.Tensor('float16', outBits, [rows, ...latentShape.slice(1)]), outBits) : new ort.Tensor('float32', new Float32Array(rows * per), [rows, ...latentShape.slice(1)]);
  const out = outType === 'float32' ? (outTensor.data as Float32Array) : new Float32Array(rows * per);
  return { feeds, sample, timestep, outTensor, out };
}

/** Exports with fixed (static) batch or spatial sizes only run at those sizes: say which instead of failing inside onnxruntime. */
function checkStaticShape(session: ModelSession, info: ValueInfo, need: number[], cfg: boolean, size: { width: number; height: number }): void {
  const batch = fixedDim(info, 0);
  if (batch !== undefined && batch !== need[0]) {
    throw new GenerateOptionsError(
      `${session.label} was exported with a fixed batch of ${batch}; this run needs ${need[0]} (batch size${cfg ? ' x 2 for CFG' : ''}). Re-export with a dynamic batch or change --batch/--cfg`,
    );
  }
  const h = fixedDim(info, 2);
  const w = fixedDim(info, 3);
  if ((h !== undefined && h !== need[2]) || (w !== undefined && w !== need[3])) {
    throw new GenerateOptionsError(
      `${session.label} was exported for ${(w ?? need[3]!) * 8}x${(h ?? need[2]!) * 8} images only; asked for ${size.width}x${size.height}`,
    );
  }
}

function validate(options: GenerateOptions, folder: ModelFolder): { width: number; height: number; batch: number } {
  const fail = (m: string): never => {
    throw new GenerateOptionsError(m);
  };
  const batch = options.batchSize ?? 1;
  if (!Number.isInteger(batch) || batch < 1) fail(`batch size must be a positive integer, got ${batch}`);
  let width = options.width;
  let height = options.height;
  if (options.init) {
    const [, c, h, w] = options.init.shape;
    if (options.init.shape.length !== 4 || c !== 3) fail(`init image must be [1, 3, H, W], got [${options.init.shape.join(', ')}]`);
    if (width !== undefined && width !== w) fail(`width ${width} differs from the init image's width ${w}; resize the image or leave width out`);
    if (height !== undefined && height !== h) fail(`height ${height} differs from the init image's height ${h}; resize the image or leave height out`);
    width = w;
    height = h;
  }
  width ??= folder.defaultSize;
  height ??= folder.defaultSize;
  if (!isMultipleOf8(width)) fail(`width must be a positive multiple of 8, got ${width}${options.init ? ' (from the init image)' : ''}`);
  if (!isMultipleOf8(height)) fail(`height must be a positive multiple of 8, got ${height}${options.init ? ' (from the init image)' : ''}`);
  if (!options.sigmas && (!Number.isInteger(options.steps) || options.steps < 1)) fail(`steps must be a positive integer, got ${options.steps}`);
  if (typeof options.cfg !== 'number' || !Number.isFinite(options.cfg)) fail(`cfg must be a finite number, got ${options.cfg}`);
  if (options.denoise !== undefined) {
    if (!(options.denoise >= 0 && options.denoise <= 1)) fail(`denoise must be in [0, 1], got ${options.denoise}`);
    if (options.denoise < 1 && !options.init) fail('denoise below 1 needs an init image (image-to-image)');
  }
  if (options.prompt !== undefined && typeof options.prompt !== 'string') fail('prompt must be a string');
  if (typeof options.seed === 'number' && (!Number.isInteger(options.seed) || options.seed < 0)) fail(`seed must be a non-negative integer, got ${options.seed}`);
  if (options.sigmas) {
    const s = options.sigmas;
    if (s.length < 1 || s.some((v) => !Number.isFinite(v) || v < 0)) fail('sigmas must be finite non-negative numbers');
    for (let i = 1; i < s.length; i++) if (s[i]! > s[i - 1]!) fail('sigmas must be non-increasing');
  }
  return { width, height, batch };
}

function makePipeline(p: Parts): StableDiffusionPipeline {
  const xl = p.folder.kind === 'stable-diffusion-xl';
  let lastTimings: GenerateTimings | null = null;
  const scale = p.folder.vaeScalingFactor;
  const shift = p.folder.vaeShiftFactor;

  async function encodeInit(init: Tensor, batch: number, latentShape: number[]): Promise<Float32Array> {
    if (!p.vaeEncoder) throw new ModelError('image-to-image needs vae_encoder/model.onnx, which this model folder does not have');
    const pixels = new Float32Array(init.data.length);
    for (let i = 0; i < pixels.length; i++) pixels[i] = init.data[i]! * 2 - 1;
    const type = p.vaeEncoder.input('sample')!.type as string;
    const out = await p.vaeEncoder.run({ sample: floatTensor(type, pixels, init.shape) }, [p.vaeEncoderOutput]);
    const t = out[p.vaeEncoderOutput]!;
    const moments = readFloat(t);
    const [, cOut, h, w] = t.dims.map(Number) as [number, number, number, number];
    const C = latentShape[1]!;
    // latent_parameters holds [mean, logvar]; the mean is the deterministic encoding (ComfyUI and diffusers' mode())
    if (cOut !== C && cOut !== 2 * C) throw new ModelError(`vae_encoder/model.onnx: "${p.vaeEncoderOutput}" has ${cOut} channels; expected ${C} or ${2 * C}`);
    if (h !== latentShape[2] || w !== latentShape[3]) throw new ModelError(`vae_encoder/model.onnx: output is ${w}x${h} latents, expected ${latentShape[3]}x${latentShape[2]}`);
    const per = C * h * w;
    const latent = new Float32Array(batch * per);
    for (let i = 0; i < per; i++) latent[i] = (moments[i]! - shift) * scale;
    for (let b = 1; b < batch; b++) latent.copyWithin(b * per, 0, per);
    return latent;
  }

  async function decode(latents: Tensor, batch: number): Promise<Tensor> {
    const [, C, h, w] = latents.shape as [number, number, number, number];
    const per = C * h * w;
    const type = p.vaeDecoder.input('latent_sample')!.type as string;
    let images: Float32Array | undefined;
    let imgPer = 0;
    let outShape: number[] = [];
    // one image at a time: a 512x512 (or 1024x1024) VAE decode of a whole batch needs a lot of memory
    for (let b = 0; b < batch; b++) {
      const z = new Float32Array(per);
      for (let i = 0; i < per; i++) z[i] = latents.data[b * per + i]! / scale + shift;
      const out = await p.vaeDecoder.run({ latent_sample: floatTensor(type, z, [1, C, h, w]) }, ['sample']);
      const t = out.sample!;
      const px = readFloat(t);
      if (!images) {
        outShape = t.dims.map(Number);
        imgPer = px.length;
        images = new Float32Array(batch * imgPer);
      }
      for (let i = 0; i < imgPer; i++) {
        const v = px[i]! * 0.5 + 0.5;
        if (Number.isNaN(v)) throw new ModelError('vae_decoder/model.onnx produced NaN (a float16 VAE overflowing? try a float32 or fp16-fixed VAE)');
        images[b * imgPer + i] = Math.min(1, Math.max(0, v));
      }
    }
    return { data: images!, shape: [batch, ...outShape.slice(1)] };
  }

  async function generate(options: GenerateOptions): Promise<GenerateResult> {
    const t0 = performance.now();
    const { width, height, batch } = validate(options, p.folder);
    checkSchedulerName(options.scheduler, options.sigmas);
    checkSamplerName(options.sampler);
    const signal = options.signal;
    if (signal?.aborted) throw abortError();
    const prompt = options.prompt ?? '';
    const negative = options.negativePrompt ?? '';
    const useCfg = options.cfg !== 1 || samplerNeedsUncond(options.sampler);
    const timings: GenerateTimings = { unetMs: 0, unetCalls: 0, samplingMs: 0, denoiserOtherMs: 0, steps: 0, textMs: 0, vaeMs: 0, totalMs: 0 };

    // --- text conditioning: row 0 = negative (uncond), row 1 = prompt (cond) ---
    const tText = performance.now();
    const e1 = await encodeText(p.te1, [negative, prompt]);
    let context: Float32Array;
    let contextWidth: number;
    let pooled: Float32Array | undefined;
    let pooledWidth = 0;
    if (xl) {
      const e2 = await encodeText(p.te2!, [negative, prompt]);
      context = concatLastAxis(e1.states, e1.width, e2.states, e2.width, 2);
      contextWidth = e1.width + e2.width;
      pooled = e2.pooled!;
      pooledWidth = e2.pooledWidth!;
      if (options.negativePrompt === undefined && p.folder.forceZerosForEmptyPrompt) {
        // diffusers' SDXL rule: without a negative prompt the unconditional embeddings are zeros
        context.fill(0, 0, CLIP_SEQUENCE_LENGTH * contextWidth);
        pooled.fill(0, 0, pooledWidth);
      }
    } else {
      context = e1.states;
      contextWidth = e1.width;
    }
    timings.textMs = performance.now() - tText;

    const rows = useCfg ? 2 * batch : batch;
    const latentShape = [batch, p.channels, height / 8, width / 8];
    const per = p.channels * (height / 8) * (width / 8);
    const ctxRows = cfgBatch(context, CLIP_SEQUENCE_LENGTH * contextWidth, batch, useCfg);
    let added: { textEmbeds: Float32Array; pw: number; timeIds: Float32Array } | undefined;
    if (xl) {
      // time_ids = original size, crop top-left, target size (all the output size here)
      const ids = new Float32Array(rows * 6);
      for (let r = 0; r < rows; r++) ids.set([height, width, 0, 0, height, width], r * 6);
      added = { textEmbeds: cfgBatch(pooled!, pooledWidth, batch, useCfg), pw: pooledWidth, timeIds: ids };
    }
    checkStaticShape(p.unet, p.unet.input('sample')!, [rows, p.channels, height / 8, width / 8], useCfg, { width, height });
    const unetFeeds = makeUnetFeeds(p, rows, [rows, ...latentShape.slice(1)], ctxRows, added);

    // --- sigmas and starting latents ---
    const denoise = options.init ? (options.denoise ?? 1) : 1;
    const sigmas = options.sigmas ? [...options.sigmas] : scheduleSigmas(p.ms, options.scheduler, options.steps, denoise, options.sampler, options.coeff);
    const initLatent = options.init ? await encodeInit(options.init, batch, latentShape) : null;
    const x = initialLatents(p.ms, options.seed, latentShape, sigmas, initLatent);

    // --- the guided denoiser over the one UNet session ---
    let lastUncond: Tensor | null = null;
    const fp16 = unetFeeds.sample instanceof Uint16Array;
    const copies = rows / batch;
    const n = batch * per;
    const nanInput = (sigma: number) => new ModelError(`the sampler passed NaN latents to the denoiser at sigma ${sigma} (sampler ${options.sampler})`);
    const nanOutput = (sigma: number) => new ModelError(`unet/model.onnx produced NaN at sigma ${sigma} (a float16 UNet overflowing?)`);
    const denoiser = async (xt: Tensor, sigma: number): Promise<Tensor> => {
      const tIn = performance.now();
      if (signal?.aborted) throw abortError();
      if (!Number.isFinite(sigma) || sigma < 0) throw new ModelError(`the sampler asked for the denoiser at sigma ${sigma}`);
      const x = xt.data;
      if (x.length !== n) throw new ModelError(`the sampler passed ${x.length} latent values, expected ${n}`);
      const cIn = 1 / Math.sqrt(sigma * sigma + 1);
      // model input x * c_in into the preallocated buffer, once per CFG half; NaN check on the way
      if (fp16) {
        const dst = unetFeeds.sample as Uint16Array;
        for (let i = 0; i < n; i++) {
          const v = x[i]!;
          if (v !== v) throw nanInput(sigma);
          const h = toHalfBits(v * cIn);
          for (let c = 0; c < copies; c++) dst[c * n + i] = h;
        }
      } else {
        const dst = unetFeeds.sample as Float32Array;
        for (let i = 0; i < n; i++) {
          const v = x[i]!;
          if (v !== v) throw nanInput(sigma);
          dst[i] = v * cIn;
        }
        if (copies === 2) dst.copyWithin(n, 0, n);
      }
      const t = p.ms.timestep(sigma);
      const ts = unetFeeds.timestep;
      if (ts instanceof BigInt64Array) ts.fill(BigInt(Math.round(t)));
      else if (ts instanceof Uint16Array) ts.fill(toHalfBits(t));
      else ts.fill(t);
      const tu = performance.now();
      const out = await p.unet.run(unetFeeds.feeds, { out_sample: unetFeeds.outTensor });
      const tuEnd = performance.now();
      timings.unetMs += tuEnd - tu;
      timings.unetCalls += 1;
      const got = out.out_sample!;
      // onnxruntime fills the preallocated output; read the returned tensor in case a provider hands back its own
      const raw = got.data === unetFeeds.outTensor.data && got.type === 'float32' ? unetFeeds.out : readFloat(got, unetFeeds.out);
      if (raw.length !== rows * per) throw new ModelError(`unet/model.onnx: "out_sample" has ${raw.length} values, expected ${rows * per} ([${rows}, ${latentShape.slice(1).join(', ')}])`);
      // model output -> x0 (k-diffusion convention): eps: x0 = x - s*eps; v: x0 = x/(s^2+1) - v*s/sqrt(s^2+1).
      // x0 = a*x - b*out; then CFG on x0: uncond + (cond - uncond) * scale (rows: uncond first, then cond).
      const v = p.ms.prediction === 'v';
      const a = v ? 1 / (sigma * sigma + 1) : 1;
      const b = v ? sigma * cIn : sigma;
      const result = new Float32Array(n); // fresh: multistep samplers keep earlier x0 predictions
      if (!useCfg) {
        for (let i = 0; i < n; i++) {
          const x0 = a * x[i]! - b * raw[i]!;
          if (x0 !== x0) throw nanOutput(sigma);
          result[i] = x0;
        }
        lastUncond = null;
      } else {
        const uncond = new Float32Array(n);
        const scale = options.cfg;
        for (let i = 0; i < n; i++) {
          const ax = a * x[i]!;
          const u = ax - b * raw[i]!;
          const c = ax - b * raw[n + i]!;
          const g = u + (c - u) * scale;
          if (g !== g) throw nanOutput(sigma);
          uncond[i] = u;
          result[i] = g;
        }
        lastUncond = { data: uncond, shape: xt.shape };
      }
      timings.denoiserOtherMs += performance.now() - tIn - (tuEnd - tu);
      return { data: result, shape: xt.shape };
    };
    const guided = Object.defineProperty(denoiser, 'lastUncond', { get: () => lastUncond }) as GuidedDenoiser;

    const totalSteps = Math.max(0, sigmas.length - 1);
    timings.steps = totalSteps;
    const tLoop = performance.now();
    const latents =
      totalSteps === 0
        ? x
        : await runSampler(options.sampler, guided, x, sigmas, {
            seed: options.seed,
            signal,
            onStep: (i, sigma) => options.onStep?.(i + 1, totalSteps, sigma),
          });
    timings.samplingMs = performance.now() - tLoop;
    if (signal?.aborted) throw abortError();

    const tVae = performance.now();
    const images = await decode(latents, batch);
    timings.vaeMs = performance.now() - tVae;

    const [, c, h, w] = images.shape as [number, number, number, number];
    const pngs: Uint8Array[] = [];
    const parameters: string[] = [];
    for (let b = 0; b < batch; b++) {
      const settings: Record<string, string> = {
        Steps: String(options.sigmas ? totalSteps : options.steps),
        Sampler: options.sampler,
        'Schedule type': options.sigmas ? 'custom sigmas' : options.scheduler,
        'CFG scale': String(options.cfg),
        Seed: String(options.seed),
        Size: `${w}x${h}`,
        Model: p.folder.name,
      };
      if (options.init) settings['Denoising strength'] = String(denoise);
      if (batch > 1) {
        settings['Batch size'] = String(batch);
        settings['Batch pos'] = String(b);
      }
      const text = formatParameters({ prompt, negativePrompt: negative, settings });
      parameters.push(text);
      const img: Tensor = { data: images.data.subarray(b * c * h * w, (b + 1) * c * h * w) as Float32Array, shape: [c, h, w] };
      pngs.push(encodePng(img, { text: { parameters: text } }));
    }
    timings.totalMs = performance.now() - t0;
    lastTimings = timings;
    return { images, sigmas, pngs, parameters, nfe: timings.unetCalls };
  }

  return {
    kind: p.folder.kind,
    modelName: p.folder.name,
    modelSampling: p.ms,
    folder: p.folder,
    get lastTimings() {
      return lastTimings;
    },
    generate,
    async dispose() {
      await Promise.all(p.sessions.map((s) => s.release()));
    },
  };
}
