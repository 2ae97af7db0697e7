/**
 * The Stable Diffusion UNet as the samplers' guided denoiser: preallocated feeds (one latent-sized input and
 * output per run, filled in place), cond and uncond halves in ONE session call, eps/v -> x0 and CFG.
 */
import { ModelError, fixedDim, floatTensor, ort, readFloat, type ModelSession, type ValueInfo } from '../runtime/session.js';
import { toHalfBits, useHalfBits } from '../runtime/float16.js';
import type { ModelSampling } from '../model-sampling/types.js';
import type { GuidedDenoiser } from '../samplers/types.js';
import { guidedModelDenoiser, type PairedRawModel } from '../denoisers/model.js';
import type { Tensor } from '../tensor/tensor.js';
import { GenerateOptionsError } from './errors.js';
import { abortError } from './generate.js';

/** Wall-clock split of the UNet work, for the benchmark. */
export interface UnetTimings {
  /** Time inside unet.run (including the host<->device copies a GPU provider makes). */
  unetMs: number;
  unetCalls: number;
  /** The pipeline's own per-call work around unet.run (input scaling, x0 and CFG). */
  denoiserOtherMs: number;
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

/** SDXL's added conditioning rows. */
export interface AddedConditioning {
  textEmbeds: Float32Array;
  pw: number;
  timeIds: Float32Array;
}

function timestepFeed(tInfo: ValueInfo, rows: number): { tensor: ort.Tensor; data: UnetFeeds['timestep'] } {
  // current optimum exports take a scalar timestep, older ones one per batch row (some with a fixed length)
  const tCount = tInfo.shape.length === 0 ? 1 : (fixedDim(tInfo, 0) ?? rows);
  const tShape = tInfo.shape.length === 0 ? [] : [tCount];
  switch (tInfo.type) {
    case 'int64': {
      const data = new BigInt64Array(tCount);
      return { data, tensor: new ort.Tensor('int64', data, tShape) };
    }
    case 'int32': {
      const data = new Int32Array(tCount);
      return { data, tensor: new ort.Tensor('int32', data, tShape) };
    }
    case 'float16': {
      const data = new Uint16Array(tCount);
      return { data, tensor: useHalfBits(new ort.Tensor('float16', data, tShape), data) };
    }
    default: {
      const data = new Float32Array(tCount);
      return { data, tensor: new ort.Tensor('float32', data, tShape) };
    }
  }
}

function makeUnetFeeds(unet: ModelSession, rowShape: number[], context: Float32Array, seqLen: number, added: AddedConditioning | undefined): UnetFeeds {
  const rows = rowShape[0]!;
  const sampleType = unet.input('sample')!.type as string;
  const per = rowShape[1]! * rowShape[2]! * rowShape[3]!;
  const sample = sampleType === 'float16' ? new Uint16Array(rows * per) : new Float32Array(rows * per);
  const feeds: Record<string, ort.Tensor> = {
    sample: sample instanceof Uint16Array ? useHalfBits(new ort.Tensor('float16', sample, rowShape), sample) : new ort.Tensor('float32', sample, rowShape),
  };
  const t = timestepFeed(unet.input('timestep')!, rows);
  feeds.timestep = t.tensor;
  const width = context.length / (rows * seqLen);
  feeds.encoder_hidden_states = floatTensor(unet.input('encoder_hidden_states')!.type, context, [rows, seqLen, width]);
  if (added) {
    feeds.text_embeds = floatTensor(unet.input('text_embeds')!.type, added.textEmbeds, [rows, added.pw]);
    feeds.time_ids = floatTensor(unet.input('time_ids')!.type, added.timeIds, [rows, added.timeIds.length / rows]);
  }
  const outType = unet.output('out_sample')!.type === 'float16' ? 'float16' : 'float32';
  const outBits = outType === 'float16' ? new Uint16Array(rows * per) : undefined;
  const outTensor = outBits ? useHalfBits(new ort.Tensor('float16', outBits, rowShape), outBits) : new ort.Tensor('float32', new Float32Array(rows * per), rowShape);
  const out = outType === 'float32' ? (outTensor.data as Float32Array) : new Float32Array(rows * per);
  return { feeds, sample, timestep: t.data, outTensor, out };
}

/** Exports with fixed (static) batch or spatial sizes only run at those sizes: say which instead of failing inside onnxruntime. */
export function checkStaticShape(session: ModelSession, need: number[], cfg: boolean, size: { width: number; height: number }): void {
  const info = session.input('sample')!;
  const batch = fixedDim(info, 0);
  if (batch !== undefined && batch !== need[0]) {
    throw new GenerateOptionsError(
      `${session.label} was exported with a fixed batch of ${batch}; this run needs ${need[0]} (batch size${cfg ? ' x 2 for CFG' : ''}). Re-export with a dynamic batch or change --batch/--cfg`,
    );
  }
  const h = fixedDim(info, 2);
  const w = fixedDim(info, 3);
  if ((h !== undefined && h !== need[2]) || (w !== undefined && w !== need[3])) {
    throw new GenerateOptionsError(`${session.label} was exported for ${(w ?? need[3]!) * 8}x${(h ?? need[2]!) * 8} images only; asked for ${size.width}x${size.height}`);
  }
}

export interface UnetDenoiserOptions {
  unet: ModelSession;
  ms: ModelSampling;
  /** [B, C, h, w] latents. */
  latentShape: number[];
  /** Context rows for the run ([2B] with CFG: uncond first, then cond), each seqLen tokens. */
  context: Float32Array;
  seqLen: number;
  added: AddedConditioning | undefined;
  /** Run the uncond half (CFG, or a cfg_pp sampler). */
  useCfg: boolean;
  cfg: number;
  sampler: string;
  signal: AbortSignal | undefined;
  timings: UnetTimings;
}

/** Write the model input (already c_in-scaled) into the UNet's sample buffer, once per CFG half; NaN check on the way. */
function fillSample(dst: Float32Array | Uint16Array, x: ArrayLike<number>, n: number, copies: number, nan: () => Error): void {
  if (dst instanceof Uint16Array) {
    for (let i = 0; i < n; i++) {
      const v = x[i]!;
      if (v !== v) throw nan();
      const h = toHalfBits(v);
      for (let c = 0; c < copies; c++) dst[c * n + i] = h;
    }
    return;
  }
  for (let i = 0; i < n; i++) {
    const v = x[i]!;
    if (v !== v) throw nan();
    dst[i] = v;
  }
  if (copies === 2) dst.copyWithin(n, 0, n);
}

function fillTimestep(ts: UnetFeeds['timestep'], t: number): void {
  if (ts instanceof BigInt64Array) ts.fill(BigInt(Math.round(t)));
  else if (ts instanceof Uint16Array) ts.fill(toHalfBits(t));
  else ts.fill(t);
}

/** A guided denoiser whose `lastUncond` this module sets after each call (a plain field, typed). */
interface MutableGuided extends GuidedDenoiser {
  lastUncond: Tensor | null;
}

/**
 * The UNet as the denoiser layer's paired raw model: ONE session call for [uncond; cond] (cond only without
 * CFG) on the preallocated feeds; the output halves are views of the reused output buffer, read at once by
 * guidedModelDenoiser.
 */
function unetPairModel(o: UnetDenoiserOptions): PairedRawModel {
  const [batch, C, h, w] = o.latentShape as [number, number, number, number];
  const rows = o.useCfg ? 2 * batch : batch;
  const feeds = makeUnetFeeds(o.unet, [rows, C, h, w], o.context, o.seqLen, o.added);
  const n = batch * C * h * w;
  const shape = [batch, C, h, w];
  return async (xIn, t) => {
    if (o.signal?.aborted) throw abortError();
    if (xIn.data.length !== n) throw new ModelError(`the sampler passed ${xIn.data.length} latent values, expected ${n}`);
    fillSample(feeds.sample, xIn.data, n, rows / batch, () => new ModelError(`the sampler passed NaN latents to the denoiser at timestep ${t} (sampler ${o.sampler})`));
    fillTimestep(feeds.timestep, t);
    const tu = performance.now();
    const out = await o.unet.run(feeds.feeds, { out_sample: feeds.outTensor });
    o.timings.unetMs += performance.now() - tu;
    o.timings.unetCalls += 1;
    const got = out.out_sample!;
    // onnxruntime fills the preallocated output; read the returned tensor in case a provider hands back its own
    const raw = got.data === feeds.outTensor.data && got.type === 'float32' ? feeds.out : readFloat(got, feeds.out);
    if (raw.length !== rows * (n / batch)) throw new ModelError(`unet/model.onnx: "out_sample" has ${raw.length} values, expected ${rows * (n / batch)} ([${rows}, ${C}, ${h}, ${w}])`);
    for (let i = 0; i < raw.length; i++) {
      if (raw[i] !== raw[i]) throw new ModelError(`unet/model.onnx produced NaN at timestep ${t} (a float16 UNet overflowing?)`);
    }
    // rows: uncond first, then cond
    if (!o.useCfg) return { cond: { data: raw.subarray(0, n), shape }, uncond: null };
    return { cond: { data: raw.subarray(n, 2 * n), shape }, uncond: { data: raw.subarray(0, n), shape } };
  };
}

/**
 * The guided denoiser over the one UNet session: the library's guidedModelDenoiser (c_in, eps/v -> x0 and CFG
 * from the model sampling, float64) around the paired UNet call, timed for the benchmark.
 */
export function unetDenoiser(o: UnetDenoiserOptions): GuidedDenoiser {
  const den = guidedModelDenoiser(o.ms, unetPairModel(o), o.useCfg ? o.cfg : 1);
  const timed: MutableGuided = Object.assign(
    async (x: Tensor, sigma: number): Promise<Tensor> => {
      const t0 = performance.now();
      const unetBefore = o.timings.unetMs;
      const r = await den(x, sigma);
      timed.lastUncond = den.lastUncond;
      o.timings.denoiserOtherMs += performance.now() - t0 - (o.timings.unetMs - unetBefore);
      return r;
    },
    { lastUncond: null as Tensor | null },
  );
  return timed;
}
