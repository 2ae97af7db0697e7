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

/** Highest index N of `hidden_states.N` outputs, or -1 (also the flow pipelines' CLIPs). */
export function lastHiddenStateIndex(session: ModelSession): number {
  let last = -1;
  for (const o of session.outputs) {
    const m = /^hidden_states\.(\d+)$/.exec(o.name);
    if (m) last = Math.max(last, Number(m[1]));
  }
  return last;
}

/** A text encoder's `input_ids`: present, integer, rank 2 (also the flow pipelines' CLIPs and T5). */
export function checkInputIds(session: ModelSession): ValueInfo {
  requireInputs(session, ['input_ids'], 'A text encoder exported by optimum takes "input_ids"');
  const ids = session.input('input_ids')!;
  checkType(session, ids, ID_TYPES);
  checkRank(session, ids, [2]);
  return ids;
}

export function checkTextEncoder(session: ModelSession, tokenizer: ClipTokenizer, role: 'sd' | 'xl1' | 'xl2'): TextEncoderIO {
  const ids = checkInputIds(session);
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
  /** [n, 77, D] float32, one row per token window */
  states: Float32Array;
  width: number;
  pooled?: Float32Array;
  pooledWidth?: number;
}

async function encodeIds(enc: TextEncoderIO, rows: number[][]): Promise<Encoded> {
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

async function encodeText(enc: TextEncoderIO, prompts: string[]): Promise<Encoded> {
  return encodeIds(enc, prompts.map((p) => enc.tokenizer.encode(p)));
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

/** Row 0 = negative (uncond), row 1 = prompt (cond), each `seqLen` tokens long (77, or 77 x windows). */
export interface TextConditioning {
  context: Float32Array;
  contextWidth: number;
  /** Tokens per context row: 77, or a multiple for long prompts. */
  seqLen: number;
  pooled: Float32Array | undefined;
  pooledWidth: number;
  /** Prompts longer than the export can take: what was cut. */
  warnings: string[];
}

function gcd(a: number, b: number): number {
  return b === 0 ? a : gcd(b, a % b);
}

/** Rows of [k, 77, D] states -> one [k*77, D] sequence repeated to `windows` windows (ComfyUI's lcm repeat). */
function repeatWindows(states: Float32Array, first: number, k: number, windows: number, d: number): Float32Array {
  const per = CLIP_SEQUENCE_LENGTH * d;
  const one = states.subarray(first * per, (first + k) * per);
  const out = new Float32Array(windows * per);
  for (let r = 0; r < windows / k; r++) out.set(one, r * k * per);
  return out;
}

/**
 * Long prompts as ComfyUI encodes them: each prompt in 77-token windows (tokenizer.chunks), every window through
 * the encoder, the windows' states one after another along the sequence; SDXL cuts both encoders to the shorter;
 * the pooled embedding is the first window's; cond and uncond are repeated to the least common multiple of their
 * window counts so that they batch together.
 */
async function encodeWindows(te1: TextEncoderIO, te2: TextEncoderIO | undefined, prompt: string, negative: string, zeroUncond: boolean): Promise<TextConditioning> {
  const encoders = te2 ? [te1, te2] : [te1];
  const parts = await Promise.all(
    encoders.map(async (enc) => {
      const neg = enc.tokenizer.chunks(negative);
      const pos = enc.tokenizer.chunks(prompt);
      return { neg: neg.length, pos: pos.length, out: await encodeIds(enc, [...neg, ...pos]) };
    }),
  );
  const kn = Math.min(...parts.map((p) => p.neg));
  const kp = Math.min(...parts.map((p) => p.pos));
  const windows = (kn * kp) / gcd(kn, kp);
  const seqLen = windows * CLIP_SEQUENCE_LENGTH;
  const contextWidth = parts.reduce((w, p) => w + p.out.width, 0);
  const context = new Float32Array(2 * seqLen * contextWidth);
  let offset = 0;
  for (const p of parts) {
    const d = p.out.width;
    const rows = [repeatWindows(p.out.states, 0, kn, windows, d), repeatWindows(p.out.states, p.neg, kp, windows, d)];
    rows.forEach((row, r) => {
      for (let t = 0; t < seqLen; t++) context.set(row.subarray(t * d, (t + 1) * d), (r * seqLen + t) * contextWidth + offset);
    });
    offset += d;
  }
  const last = parts[parts.length - 1]!;
  let pooled: Float32Array | undefined;
  let pooledWidth = 0;
  if (last.out.pooled) {
    pooledWidth = last.out.pooledWidth!;
    pooled = new Float32Array(2 * pooledWidth);
    pooled.set(last.out.pooled.subarray(0, pooledWidth), 0);
    pooled.set(last.out.pooled.subarray(last.neg * pooledWidth, (last.neg + 1) * pooledWidth), pooledWidth);
  }
  if (zeroUncond) {
    context.fill(0, 0, seqLen * contextWidth);
    pooled?.fill(0, 0, pooledWidth);
  }
  return { context, contextWidth, seqLen, pooled, pooledWidth, warnings: [] };
}

/**
 * Encode the prompt and negative prompt. Up to 75 tokens: one CLIP window, as diffusers does. Longer: in 77-token
 * windows as ComfyUI does (encodeWindows) when the UNet takes a longer sequence (`longPrompts`); with an export
 * fixed at 77 tokens the rest is dropped and a warning says how many tokens were (docs/stable-diffusion.md).
 * `zeroUncond`: SDXL's force_zeros_for_empty_prompt when no negative prompt was given.
 */
export async function encodePrompts(
  te1: TextEncoderIO,
  te2: TextEncoderIO | undefined,
  prompt: string,
  negative: string,
  zeroUncond: boolean,
  longPrompts: boolean,
): Promise<TextConditioning> {
  const warnings: string[] = [];
  let long = false;
  for (const [what, text] of [['prompt', prompt], ['negative prompt', negative]] as const) {
    const n = Math.max(...[te1, ...(te2 ? [te2] : [])].map((e) => e.tokenizer.count(text)));
    if (n <= CLIP_PROMPT_TOKENS) continue;
    long = true;
    if (!longPrompts) {
      warnings.push(`the ${what} has ${n} tokens; this UNet export takes ${CLIP_SEQUENCE_LENGTH}-token text only, so CLIP reads the first ${CLIP_PROMPT_TOKENS} and the last ${n - CLIP_PROMPT_TOKENS} are ignored`);
    }
  }
  if (long && longPrompts) return encodeWindows(te1, te2, prompt, negative, zeroUncond);
  const e1 = await encodeText(te1, [negative, prompt]);
  if (!te2) return { context: e1.states, contextWidth: e1.width, seqLen: CLIP_SEQUENCE_LENGTH, pooled: undefined, pooledWidth: 0, warnings };
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
  return { context, contextWidth, seqLen: CLIP_SEQUENCE_LENGTH, pooled, pooledWidth, warnings };
}
