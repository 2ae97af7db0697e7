/**
 * Stable Diffusion text conditioning: the CLIP text encoder(s) of an optimum export, checked at load, and the
 * [uncond, cond] context rows the UNet takes (SDXL: both encoders' penultimate states side by side, pooled
 * text_embeds from the second).
 */
import { CLIP_PROMPT_TOKENS, CLIP_SEQUENCE_LENGTH, type ClipTokenizer } from './tokenizer.js';
import { ModelError, checkDim, checkRank, checkType, fixedDim, ort, readFloat, requireInputs, requireOutput, type ModelSession, type ValueInfo } from '../runtime/session.js';

export const FLOAT_TYPES = ['float32', 'float16'];
const ID_TYPES = ['int32', 'int64'];

export interface TextEncoderIO {
  session: ModelSession;
  tokenizer: ClipTokenizer;
  ids: ValueInfo;
  /** Output giving the per-token states fed to the UNet. */
  statesOutput: string;
  /** Output giving the pooled embedding (SDXL's text_embeds), if used. */
  pooledOutput: string | undefined;
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

export function checkTextEncoder(session: ModelSession, tokenizer: ClipTokenizer, role: 'sd' | 'xl1' | 'xl2'): TextEncoderIO {
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

/** Repeat row 0 (uncond) B times then row 1 (cond) B times: the [2B, ...] CFG batch layout (cond only without CFG). */
export function cfgBatch(rows: Float32Array, rowSize: number, batch: number, withUncond: boolean): Float32Array {
  const copies = withUncond ? 2 : 1;
  const out = new Float32Array(copies * batch * rowSize);
  for (let c = 0; c < copies; c++) {
    const src = rows.subarray((withUncond ? c : 1) * rowSize, ((withUncond ? c : 1) + 1) * rowSize);
    for (let i = 0; i < batch; i++) out.set(src, (c * batch + i) * rowSize);
  }
  return out;
}

/** Row 0 = negative (uncond), row 1 = prompt (cond). */
export interface TextConditioning {
  context: Float32Array;
  contextWidth: number;
  pooled: Float32Array | undefined;
  pooledWidth: number;
  /** Prompts longer than one CLIP window: what was cut. */
  warnings: string[];
}

/**
 * Encode the prompt and negative prompt. Longer than 75 tokens: the rest is dropped (as diffusers does) and a
 * warning says how many tokens were; see docs/stable-diffusion.md ("Long prompts").
 * `zeroUncond`: SDXL's force_zeros_for_empty_prompt when no negative prompt was given.
 */
export async function encodePrompts(te1: TextEncoderIO, te2: TextEncoderIO | undefined, prompt: string, negative: string, zeroUncond: boolean): Promise<TextConditioning> {
  const warnings: string[] = [];
  for (const [what, text] of [['prompt', prompt], ['negative prompt', negative]] as const) {
    const n = te1.tokenizer.count(text);
    if (n > CLIP_PROMPT_TOKENS) {
      warnings.push(`the ${what} has ${n} tokens; CLIP reads the first ${CLIP_PROMPT_TOKENS}, the last ${n - CLIP_PROMPT_TOKENS} are ignored`);
    }
  }
  const e1 = await encodeText(te1, [negative, prompt]);
  if (!te2) return { context: e1.states, contextWidth: e1.width, pooled: undefined, pooledWidth: 0, warnings };
  const e2 = await encodeText(te2, [negative, prompt]);
  const contextWidth = e1.width + e2.width;
  const context = concatLastAxis(e1.states, e1.width, e2.states, e2.width, 2);
  const pooled = e2.pooled!;
  const pooledWidth = e2.pooledWidth!;
  if (zeroUncond) {
    // diffusers' SDXL rule: without a negative prompt the unconditional embeddings are zeros
    context.fill(0, 0, CLIP_SEQUENCE_LENGTH * contextWidth);
    pooled.fill(0, 0, pooledWidth);
  }
  return { context, contextWidth, pooled, pooledWidth, warnings };
}
