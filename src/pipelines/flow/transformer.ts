/**
 * The SD3 and Flux transformers as optimum exports them, and the one call per step the sampler's denoiser makes:
 *
 * - SD3 (`SD3TransformerOnnxConfig`): hidden_states [b,16,H/8,W/8], encoder_hidden_states [b,seq,D],
 *   pooled_projections [b,P], timestep [b] = 1000 sigma (float32) -> out_hidden_states [b,16,H/8,W/8].
 * - Flux (`FluxTransformerOnnxConfig`): hidden_states [b,(H/16)(W/16),64] (the latent packed 2x2),
 *   encoder_hidden_states [b,seq,D], pooled_projections [b,P], timestep [b] = float32(1000 sigma)/1000,
 *   img_ids int64 [(H/16)(W/16),3] with row i*(W/16)+j = [0,i,j], txt_ids int64 [seq,3] zeros, guidance [b]
 *   (dev only) -> out_hidden_states packed like hidden_states.
 *
 * The sampler works on the unpacked latent [B,16,H/8,W/8] for both (as ComfyUI); Flux packs on the way in and
 * unpacks on the way out. Feeds are allocated once per run and refilled in place each step.
 */
import {
  ModelError,
  checkDim,
  checkRank,
  checkType,
  fixedDim,
  floatTensor,
  ort,
  readFloat,
  requireInputs,
  requireOutput,
  type ModelSession,
} from '../../runtime/session.js';
import { toHalfBits, useHalfBits } from '../../runtime/float16.js';
import type { FlowFolder, FlowKind } from './folder.js';
import type { FlowTextEmbeddings } from './text.js';
import { GenerateOptionsError } from '../errors.js';

const FLOAT_TYPES = ['float32', 'float16'];

/**
 * A preallocated float32 tensor, or a float16 one over bit patterns (Uint16Array). On Node 24 onnxruntime wraps
 * float16 data in a Float16Array; useHalfBits hands the binding the bit patterns we fill in place.
 */
function halfOrFloatTensor(data: Uint16Array | Float32Array, shape: readonly number[]): ort.Tensor {
  return data instanceof Uint16Array ? useHalfBits(new ort.Tensor('float16', data, shape), data) : new ort.Tensor('float32', data, shape);
}

export interface TransformerInfo {
  session: ModelSession;
  kind: FlowKind;
  /** Flux dev: takes `guidance`. */
  takesGuidance: boolean;
  /** encoder_hidden_states width, pooled_projections width, when fixed in the file. */
  contextWidth: number | undefined;
  pooledWidth: number | undefined;
}

export function checkTransformer(session: ModelSession, folder: FlowFolder): TransformerInfo {
  const base = ['hidden_states', 'encoder_hidden_states', 'pooled_projections', 'timestep'];
  const kind = folder.kind;
  const names = kind === 'flux' ? [...base, 'img_ids', 'txt_ids'] : base;
  requireInputs(session, names, `A ${kind === 'sd3' ? 'SD3' : 'Flux'} transformer exported by optimum takes ${names.join(', ')}${kind === 'flux' ? ' (+ guidance for dev)' : ''}`);
  const out = requireOutput(session, 'out_hidden_states');
  const hs = session.input('hidden_states')!;
  checkType(session, hs, FLOAT_TYPES);
  checkType(session, out, FLOAT_TYPES);
  const C = folder.latentChannels;
  if (kind === 'sd3') {
    checkRank(session, hs, [4]);
    checkRank(session, out, [4]);
    checkDim(session, hs, 1, C, 'latent channels (the VAE\'s latent_channels)');
    checkDim(session, out, 1, C, 'latent channels');
  } else {
    checkRank(session, hs, [3]);
    checkRank(session, out, [3]);
    checkDim(session, hs, 2, 4 * C, 'packed channels (4 x latent channels)');
    checkDim(session, out, 2, 4 * C, 'packed channels');
    for (const ids of ['img_ids', 'txt_ids']) {
      const v = session.input(ids)!;
      checkType(session, v, ['int64', 'int32', 'float32', 'float16']);
      checkRank(session, v, [2, 3]);
      checkDim(session, v, v.shape.length - 1, 3, 'position axes');
    }
  }
  const t = session.input('timestep')!;
  checkType(session, t, FLOAT_TYPES);
  checkRank(session, t, [0, 1]);
  const takesGuidance = session.input('guidance') !== undefined;
  if (kind === 'flux' && takesGuidance !== folder.guidanceEmbeds) {
    throw new ModelError(
      `transformer/model.onnx ${takesGuidance ? 'takes' : 'does not take'} "guidance" but transformer/config.json says guidance_embeds ${folder.guidanceEmbeds}; the export and its config disagree`,
    );
  }
  if (takesGuidance) checkType(session, session.input('guidance')!, FLOAT_TYPES);
  const ehs = session.input('encoder_hidden_states')!;
  checkRank(session, ehs, [3]);
  const pp = session.input('pooled_projections')!;
  checkRank(session, pp, [2]);
  return { session, kind, takesGuidance, contextWidth: fixedDim(ehs, 2), pooledWidth: fixedDim(pp, 1) };
}

/**
 * Flux's 2x2 latent packing between [B,C,h,w] and [B,(h/2)(w/2),4C] (channel order (c, dy, dx)), in the direction
 * `pack` says: both directions walk the same (packed, unpacked) index pairs.
 */
function repack(src: ArrayLike<number>, dst: Float32Array, B: number, C: number, h: number, w: number, pack: boolean): Float32Array {
  const h2 = h / 2, w2 = w / 2, per = C * h * w;
  let o = 0;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < h2; i++) {
      for (let j = 0; j < w2; j++) {
        for (let c = 0; c < C; c++, o += 4) {
          const base = b * per + c * h * w + 2 * i * w + 2 * j;
          if (pack) {
            dst[o] = src[base]!;
            dst[o + 1] = src[base + 1]!;
            dst[o + 2] = src[base + w]!;
            dst[o + 3] = src[base + w + 1]!;
          } else {
            dst[base] = src[o]!;
            dst[base + 1] = src[o + 1]!;
            dst[base + w] = src[o + 2]!;
            dst[base + w + 1] = src[o + 3]!;
          }
        }
      }
    }
  }
  return dst;
}

/** Flux's _pack_latents: [B,C,h,w] -> [B,(h/2)(w/2),4C], channel order (c, dy, dx). */
export function packLatents(src: ArrayLike<number>, B: number, C: number, h: number, w: number, dst = new Float32Array(B * C * h * w)): Float32Array {
  return repack(src, dst, B, C, h, w, true);
}

/** Flux's _unpack_latents: [B,(h/2)(w/2),4C] -> [B,C,h,w]. */
export function unpackLatents(src: ArrayLike<number>, B: number, C: number, h: number, w: number, dst = new Float32Array(B * C * h * w)): Float32Array {
  return repack(src, dst, B, C, h, w, false);
}

/** Flux's image position ids: row i*(w/2)+j = [0, i, j] for the packed latent of an h x w latent. */
export function fluxImageIds(h: number, w: number): number[] {
  const ids: number[] = [];
  for (let i = 0; i < h / 2; i++) for (let j = 0; j < w / 2; j++) ids.push(0, i, j);
  return ids;
}

function idsTensor(type: string, values: ArrayLike<number>, rows: number, batch: number, rank: number): ort.Tensor {
  const reps = rank === 3 ? batch : 1;
  const shape = rank === 3 ? [batch, rows, 3] : [rows, 3];
  const n = values.length;
  switch (type) {
    case 'int64': {
      const d = new BigInt64Array(n * reps);
      for (let r = 0; r < reps; r++) for (let i = 0; i < n; i++) d[r * n + i] = BigInt(values[i]!);
      return new ort.Tensor('int64', d, shape);
    }
    case 'int32': {
      const d = new Int32Array(n * reps);
      for (let r = 0; r < reps; r++) d.set(Int32Array.from(values), r * n);
      return new ort.Tensor('int32', d, shape);
    }
    default: {
      const d = new Float32Array(n * reps);
      for (let r = 0; r < reps; r++) d.set(Float32Array.from(values), r * n);
      return floatTensor(type, d, shape);
    }
  }
}

/** Check the run's sizes against what a static export accepts, before any work. */
export function checkTransformerShapes(info: TransformerInfo, rows: number, h: number, w: number, seq: number, size: { width: number; height: number }, cfg: boolean): void {
  const s = info.session;
  const hs = s.input('hidden_states')!;
  const batch = fixedDim(hs, 0);
  if (batch !== undefined && batch !== rows) {
    throw new GenerateOptionsError(
      `${s.label} was exported with a fixed batch of ${batch}; this run needs ${rows} (batch size${cfg ? ' x 2 for CFG' : ''}). Re-export with a dynamic batch or change --batch/--cfg`,
    );
  }
  const sizeError = () =>
    new GenerateOptionsError(`${s.label} was exported for one image size only (hidden_states ${JSON.stringify(hs.shape)}); asked for ${size.width}x${size.height}`);
  if (info.kind === 'sd3') {
    const fh = fixedDim(hs, 2), fw = fixedDim(hs, 3);
    if ((fh !== undefined && fh !== h) || (fw !== undefined && fw !== w)) throw sizeError();
  } else {
    const fl = fixedDim(hs, 1);
    if (fl !== undefined && fl !== (h / 2) * (w / 2)) throw sizeError();
  }
  const ehs = s.input('encoder_hidden_states')!;
  const fs = fixedDim(ehs, 1);
  if (fs !== undefined && fs !== seq) {
    throw new GenerateOptionsError(`${s.label} was exported for a text sequence of ${fs} tokens; this run has ${seq} (set --max-sequence-length to ${info.kind === 'sd3' ? fs - 77 : fs})`);
  }
}

export interface TransformerRun {
  /**
   * Fill the inputs from the unpacked latent x [B,C,h,w] (each CFG copy) and the model time t = timestep(sigma) of
   * the model sampling (SD3: 1000 sigma; Flux: sigma), run, and return the output unpacked, [rows,C,h,w].
   */
  call(x: ArrayLike<number>, t: number, rowTimes?: readonly number[]): Promise<Float32Array>;
  feeds: Record<string, ort.Tensor>;
  /** ms spent inside session.run, and the pipeline's own work around it (fill, pack, unpack). */
  readonly stats: { runMs: number; otherMs: number; calls: number };
}

export interface TransformerRunSpec {
  info: TransformerInfo;
  /** Conditioning per copy, in batch order: [uncond, cond] with CFG, [cond] without. */
  conds: FlowTextEmbeddings[];
  batch: number;
  channels: number;
  h: number;
  w: number;
  /** Flux dev's embedded guidance. */
  guidance?: number;
  onCall?: (feeds: Record<string, ort.Tensor>, output: ort.Tensor) => void;
}

export function makeTransformerRun(spec: TransformerRunSpec): TransformerRun {
  const { info, conds, batch: B, channels: C, h, w } = spec;
  const s = info.session;
  const copies = conds.length;
  const rows = copies * B;
  const per = C * h * w;
  const n = B * per;
  const flux = info.kind === 'flux';
  const hsInfo = s.input('hidden_states')!;
  const fp16 = hsInfo.type === 'float16';
  const hidden = fp16 ? new Uint16Array(rows * per) : new Float32Array(rows * per);
  const hsShape = flux ? [rows, (h / 2) * (w / 2), 4 * C] : [rows, C, h, w];
  const feeds: Record<string, ort.Tensor> = { hidden_states: halfOrFloatTensor(hidden, hsShape) };

  const seq = conds[0]!.seq;
  const width = conds[0]!.width;
  const pw = conds[0]!.pooledWidth;
  const ctx = new Float32Array(rows * seq * width);
  const pooled = new Float32Array(rows * pw);
  conds.forEach((c, k) => {
    if (c.seq !== seq || c.width !== width || c.pooledWidth !== pw) throw new ModelError('text conditioning rows differ in shape');
    for (let b = 0; b < B; b++) {
      ctx.set(c.embeds, (k * B + b) * seq * width);
      pooled.set(c.pooled, (k * B + b) * pw);
    }
  });
  feeds.encoder_hidden_states = floatTensor(s.input('encoder_hidden_states')!.type, ctx, [rows, seq, width]);
  feeds.pooled_projections = floatTensor(s.input('pooled_projections')!.type, pooled, [rows, pw]);

  const tInfo = s.input('timestep')!;
  const tCount = tInfo.shape.length === 0 ? 1 : (fixedDim(tInfo, 0) ?? rows);
  const tShape = tInfo.shape.length === 0 ? [] : [tCount];
  const tFp16 = tInfo.type === 'float16';
  const timestep = tFp16 ? new Uint16Array(tCount) : new Float32Array(tCount);
  feeds.timestep = halfOrFloatTensor(timestep, tShape);

  if (flux) {
    const img = s.input('img_ids')!;
    const txt = s.input('txt_ids')!;
    feeds.img_ids = idsTensor(img.type, fluxImageIds(h, w), (h / 2) * (w / 2), rows, img.shape.length);
    feeds.txt_ids = idsTensor(txt.type, new Float32Array(seq * 3), seq, rows, txt.shape.length);
    if (info.takesGuidance) {
      const g = s.input('guidance')!;
      const gCount = g.shape.length === 0 ? 1 : (fixedDim(g, 0) ?? rows);
      feeds.guidance = floatTensor(g.type, new Float32Array(gCount).fill(Math.fround(spec.guidance ?? 3.5)), g.shape.length === 0 ? [] : [gCount]);
    }
  }

  const outInfo = s.output('out_hidden_states')!;
  const outFp16 = outInfo.type === 'float16';
  const outTensor = halfOrFloatTensor(outFp16 ? new Uint16Array(rows * per) : new Float32Array(rows * per), hsShape);
  const outF32 = outFp16 ? new Float32Array(rows * per) : (outTensor.data as Float32Array);
  const packed = flux ? new Float32Array(n) : null;
  const unpacked = flux ? new Float32Array(rows * per) : null;
  const stats = { runMs: 0, otherMs: 0, calls: 0 };

  return {
    feeds,
    stats,
    async call(x, tIn, rowTimes) {
      const t0 = performance.now();
      if (x.length !== n) throw new ModelError(`the sampler passed ${x.length} latent values, expected ${n}`);
      const src = flux ? packLatents(x, B, C, h, w, packed!) : x;
      if (fp16) {
        const dst = hidden as Uint16Array;
        for (let i = 0; i < n; i++) {
          const v = src[i]!;
          if (v !== v) throw new ModelError(`the sampler passed NaN latents to the transformer at model time ${tIn}`);
          dst[i] = toHalfBits(v);
        }
      } else {
        const dst = hidden as Float32Array;
        for (let i = 0; i < n; i++) {
          const v = src[i]!;
          if (v !== v) throw new ModelError(`the sampler passed NaN latents to the transformer at model time ${tIn}`);
          dst[i] = v;
        }
      }
      for (let k = 1; k < copies; k++) hidden.copyWithin(k * n, 0, n);
      // SD3: float32(1000 sigma); Flux: float32(float32(1000 sigma) / 1000), as diffusers divides its timesteps by 1000
      const conv = (v: number) => (flux ? Math.fround(Math.fround(v * 1000) / 1000) : Math.fround(v));
      const put = (i: number, v: number) => {
        if (tFp16) (timestep as Uint16Array)[i] = toHalfBits(conv(v));
        else (timestep as Float32Array)[i] = conv(v);
      };
      if (rowTimes && rowTimes.some((v) => v !== tIn)) {
        if (rowTimes.length !== B) throw new ModelError(`${rowTimes.length} row times for a batch of ${B}`);
        if (tCount !== rows) throw new ModelError(`${s.label} takes one timestep for the whole batch ([${tInfo.shape.join(', ')}]); per-row noise levels need a timestep per row`);
        for (let k = 0; k < copies; k++) for (let b = 0; b < B; b++) put(k * B + b, rowTimes[b]!);
      } else {
        for (let i = 0; i < tCount; i++) put(i, tIn);
      }
      const t1 = performance.now();
      const res = await s.run(feeds, { out_hidden_states: outTensor });
      const t2 = performance.now();
      const got = res.out_hidden_states!;
      spec.onCall?.(feeds, got);
      const raw = got.data === outTensor.data && got.type === 'float32' ? outF32 : readFloat(got, outF32);
      if (raw.length !== rows * per) throw new ModelError(`${s.label}: out_hidden_states has ${raw.length} values, expected ${rows * per}`);
      const v = flux ? unpackLatents(raw, rows, C, h, w, unpacked!) : raw;
      stats.runMs += t2 - t1;
      stats.otherMs += performance.now() - t2 + (t1 - t0);
      stats.calls += 1;
      return v;
    },
  };
}
