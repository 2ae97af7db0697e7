/**
 * Text conditioning of SD3 and Flux, as diffusers assembles it (docs/flow-models.md, section "Conventions"):
 *
 * - SD3: CLIP-L and CLIP-G penultimate hidden states (`hidden_states.{N-1}` of optimum's export) side by side,
 *   zero-padded on the right to T5's width, then T5's `last_hidden_state` after them along the sequence; pooled =
 *   CLIP-L `text_embeds` ++ CLIP-G `text_embeds`. Without a T5 encoder (model_index.json text_encoder_3 null),
 *   zeros of [L, joint_attention_dim] stand in, as in diffusers.
 * - Flux: pooled = CLIP-L `pooler_output`; embeddings = T5 `last_hidden_state`.
 *
 * Every prompt is encoded alone (batch 1), as diffusers does, and remembered: a prompt's T5 pass runs once per
 * pipeline, however many images or runs use it.
 */
import { loadClipTokenizer, type ClipTokenizer, CLIP_SEQUENCE_LENGTH, CLIP_PROMPT_TOKENS } from '../tokenizer.js';
import { loadT5Tokenizer, type T5Tokenizer } from './t5-tokenizer.js';
import {
  ModelError,
  checkDim,
  checkRank,
  checkType,
  fixedDim,
  ort,
  readFloat,
  requireOutput,
  type ModelSession,
  type ValueInfo,
} from '../../runtime/session.js';
import type { FlowFolder } from './folder.js';
import { FLOAT_TYPES, checkInputIds, lastHiddenStateIndex } from '../sd-text.js';

/** One prompt's conditioning. */
export interface FlowTextEmbeddings {
  /** [seq, width] float32 */
  embeds: Float32Array;
  seq: number;
  width: number;
  /** [pooledWidth] float32 */
  pooled: Float32Array;
  pooledWidth: number;
  /** Token ids per encoder, for tests and messages: text_encoder, text_encoder_2 (, text_encoder_3). */
  tokenIds: Record<string, number[]>;
  /** The prompt had more than CLIP's 75 tokens / more than T5's length - 1 pieces: the rest was cut, as in diffusers. */
  clipTruncated: boolean;
  t5Truncated: boolean;
}

interface ClipIO {
  session: ModelSession;
  tokenizer: ClipTokenizer;
  ids: ValueInfo;
  states?: string;
  pooled: string;
}

interface T5IO {
  session: ModelSession;
  tokenizer: T5Tokenizer;
  ids: ValueInfo;
  width: number | undefined;
}

/** SD3's CLIPs: penultimate hidden states and projected text_embeds. */
export function checkSd3Clip(session: ModelSession, tokenizer: ClipTokenizer, role: string): ClipIO {
  const ids = checkInputIds(session);
  checkDim(session, ids, 1, CLIP_SEQUENCE_LENGTH, 'tokens');
  const last = lastHiddenStateIndex(session);
  if (last < 1) {
    throw new ModelError(
      `${session.label}: SD3 needs the hidden_states.N outputs of ${role} (it conditions on the penultimate layer); the file declares [${session.outputs.map((o) => o.name).join(', ')}]. Export with output_hidden_states, as optimum does for SD3`,
    );
  }
  const states = `hidden_states.${last - 1}`;
  const out = session.output(states)!;
  checkType(session, out, FLOAT_TYPES);
  checkRank(session, out, [3]);
  const pooled = requireOutput(session, 'text_embeds', `SD3's ${role} is a CLIPTextModelWithProjection (pooled text_embeds)`);
  checkType(session, pooled, FLOAT_TYPES);
  return { session, tokenizer, ids, states, pooled: 'text_embeds' };
}

/** Flux's CLIP-L: pooler_output only. */
export function checkFluxClip(session: ModelSession, tokenizer: ClipTokenizer): ClipIO {
  const ids = checkInputIds(session);
  checkDim(session, ids, 1, CLIP_SEQUENCE_LENGTH, 'tokens');
  const pooled = requireOutput(session, 'pooler_output', 'Flux pools CLIP-L with pooler_output (a CLIPTextModel export)');
  checkType(session, pooled, FLOAT_TYPES);
  checkRank(session, pooled, [2]);
  return { session, tokenizer, ids, pooled: 'pooler_output' };
}

export function checkT5(session: ModelSession, tokenizer: T5Tokenizer): T5IO {
  const ids = checkInputIds(session);
  const out = requireOutput(session, 'last_hidden_state', 'A T5 encoder exported by optimum gives "last_hidden_state"');
  checkType(session, out, FLOAT_TYPES);
  checkRank(session, out, [3]);
  return { session, tokenizer, ids, width: fixedDim(out, 2) };
}

function idTensor(info: ValueInfo, ids: number[]): ort.Tensor {
  const shape = [1, ids.length];
  if (info.type === 'int64') return new ort.Tensor('int64', BigInt64Array.from(ids, (v) => BigInt(v)), shape);
  return new ort.Tensor('int32', Int32Array.from(ids), shape);
}

async function runClip(enc: ClipIO, text: string): Promise<{ ids: number[]; states?: { data: Float32Array; width: number }; pooled: Float32Array }> {
  const ids = enc.tokenizer.encode(text);
  const names = [...(enc.states ? [enc.states] : []), enc.pooled];
  const out = await enc.session.run({ input_ids: idTensor(enc.ids, ids) }, names);
  const pooled = Float32Array.from(readFloat(out[enc.pooled]!));
  if (!enc.states) return { ids, pooled };
  const s = out[enc.states]!;
  return { ids, states: { data: Float32Array.from(readFloat(s)), width: Number(s.dims[2]) }, pooled };
}

async function runT5(enc: T5IO, text: string, length: number): Promise<{ ids: number[]; data: Float32Array; width: number }> {
  const ids = enc.tokenizer.encode(text, length);
  const out = await enc.session.run({ input_ids: idTensor(enc.ids, ids) }, ['last_hidden_state']);
  const t = out.last_hidden_state!;
  if (Number(t.dims[1]) !== length) throw new ModelError(`${enc.session.label}: last_hidden_state has ${t.dims[1]} positions for ${length} tokens`);
  return { ids, data: Float32Array.from(readFloat(t)), width: Number(t.dims[2]) };
}

export interface TextConditioner {
  /** Width of the embeddings the transformer takes (T5's; SD3 without T5: joint_attention_dim). */
  readonly width: number | undefined;
  readonly pooledWidth: number | undefined;
  encode(text: string, maxSequenceLength: number): Promise<FlowTextEmbeddings>;
  /** Prompts encoded so far (cache size), and T5 runs so far. */
  readonly stats: { t5Runs: number; clipRuns: number };
}

/** Remember the last few prompts' conditioning (a T5-XXL pass on CPU takes seconds). */
function cached(encode: (text: string, len: number) => Promise<FlowTextEmbeddings>, limit = 8): (text: string, len: number) => Promise<FlowTextEmbeddings> {
  const cache = new Map<string, Promise<FlowTextEmbeddings>>();
  return (text, len) => {
    const key = `${len}\u0000${text}`;
    let hit = cache.get(key);
    if (hit) {
      cache.delete(key);
      cache.set(key, hit);
      return hit;
    }
    hit = encode(text, len);
    hit.catch(() => cache.delete(key));
    cache.set(key, hit);
    while (cache.size > limit) cache.delete(cache.keys().next().value!);
    return hit;
  };
}

/** The folder's tokenizers, loaded (and tried) before any session is opened. */
export interface FlowTokenizers {
  clip: ClipTokenizer;
  /** SD3: CLIG-G's tokenizer */
  clip2?: ClipTokenizer;
  t5?: T5Tokenizer;
}

export function loadFlowTokenizers(folder: FlowFolder): FlowTokenizers {
  if (folder.kind === 'sd3') {
    return {
      clip: loadClipTokenizer(folder.paths.tokenizer, 'tokenizer'),
      clip2: loadClipTokenizer(folder.paths.tokenizer2, 'tokenizer_2'),
      ...(folder.paths.tokenizer3 ? { t5: loadT5Tokenizer(folder.paths.tokenizer3, 'tokenizer_3') } : {}),
    };
  }
  return { clip: loadClipTokenizer(folder.paths.tokenizer, 'tokenizer'), t5: loadT5Tokenizer(folder.paths.tokenizer2, 'tokenizer_2') };
}

export interface Sd3TextParts {
  tokenizers: FlowTokenizers;
  clipL: ModelSession;
  clipG: ModelSession;
  t5?: ModelSession;
  /** transformer's joint_attention_dim when known (the width zeros take without T5) */
  jointDim: number | undefined;
}

export function sd3Conditioner(folder: FlowFolder, parts: Sd3TextParts): TextConditioner {
  const tok = parts.tokenizers;
  const clipL = checkSd3Clip(parts.clipL, tok.clip, 'CLIP-L (text_encoder)');
  const clipG = checkSd3Clip(parts.clipG, tok.clip2!, 'CLIP-G (text_encoder_2)');
  const t5 = parts.t5 ? checkT5(parts.t5, tok.t5!) : undefined;
  const dL = fixedDim(clipL.session.output(clipL.states!)!, 2);
  const dG = fixedDim(clipG.session.output(clipG.states!)!, 2);
  const width = t5 ? t5.width : parts.jointDim;
  if (dL !== undefined && dG !== undefined && width !== undefined && dL + dG > width) {
    throw new ModelError(`text encoders: CLIP-L (${dL}) + CLIP-G (${dG}) channels exceed the T5 width ${width}; SD3 pads CLIP up to T5's width`);
  }
  const pL = fixedDim(clipL.session.output('text_embeds')!, 1);
  const pG = fixedDim(clipG.session.output('text_embeds')!, 1);
  const stats = { t5Runs: 0, clipRuns: 0 };
  const encode = cached(async (text, len) => {
    const l = await runClip(clipL, text);
    const g = await runClip(clipG, text);
    stats.clipRuns += 2;
    let t5Out: { ids: number[]; data: Float32Array; width: number };
    if (t5) {
      t5Out = await runT5(t5, text, len);
      stats.t5Runs += 1;
    } else {
      if (width === undefined) throw new ModelError('transformer/model.onnx: encoder_hidden_states has no fixed width; without a T5 encoder ays cannot size the zero T5 embeddings');
      t5Out = { ids: [], data: new Float32Array(len * width), width };
    }
    const W = t5Out.width;
    const wl = l.states!.width;
    const wg = g.states!.width;
    if (wl + wg > W) throw new ModelError(`text encoders: CLIP-L (${wl}) + CLIP-G (${wg}) channels exceed the T5 width ${W}`);
    const seq = CLIP_SEQUENCE_LENGTH + len;
    const embeds = new Float32Array(seq * W);
    for (let r = 0; r < CLIP_SEQUENCE_LENGTH; r++) {
      embeds.set(l.states!.data.subarray(r * wl, (r + 1) * wl), r * W);
      embeds.set(g.states!.data.subarray(r * wg, (r + 1) * wg), r * W + wl);
    }
    embeds.set(t5Out.data, CLIP_SEQUENCE_LENGTH * W);
    const pooled = new Float32Array(l.pooled.length + g.pooled.length);
    pooled.set(l.pooled, 0);
    pooled.set(g.pooled, l.pooled.length);
    return {
      embeds,
      seq,
      width: W,
      pooled,
      pooledWidth: pooled.length,
      tokenIds: { text_encoder: l.ids, text_encoder_2: g.ids, ...(t5 ? { text_encoder_3: t5Out.ids } : {}) },
      clipTruncated: tok.clip.count(text) > CLIP_PROMPT_TOKENS,
      t5Truncated: t5 ? t5.tokenizer.count(text) > len - 1 : false,
    };
  });
  return { width, pooledWidth: pL !== undefined && pG !== undefined ? pL + pG : undefined, encode, stats };
}

export function fluxConditioner(parts: { tokenizers: FlowTokenizers; clip: ModelSession; t5: ModelSession }): TextConditioner {
  const clip = checkFluxClip(parts.clip, parts.tokenizers.clip);
  const t5 = checkT5(parts.t5, parts.tokenizers.t5!);
  const stats = { t5Runs: 0, clipRuns: 0 };
  const encode = cached(async (text, len) => {
    const c = await runClip(clip, text);
    stats.clipRuns += 1;
    const t = await runT5(t5, text, len);
    stats.t5Runs += 1;
    return {
      embeds: t.data,
      seq: len,
      width: t.width,
      pooled: c.pooled,
      pooledWidth: c.pooled.length,
      tokenIds: { text_encoder: c.ids, text_encoder_2: t.ids },
      clipTruncated: parts.tokenizers.clip.count(text) > CLIP_PROMPT_TOKENS,
      t5Truncated: t5.tokenizer.count(text) > len - 1,
    };
  });
  return { width: t5.width, pooledWidth: fixedDim(clip.session.output('pooler_output')!, 1), encode, stats };
}
