/**
 * A thin wrapper over onnxruntime-node sessions, shared by every pipeline: open a model file on CPU or CUDA,
 * describe its inputs and outputs as the file declares them, and check them with messages that say what is wrong.
 */
import { existsSync, statSync, readFileSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import * as ort from 'onnxruntime-node';

const require = createRequire(import.meta.url);
import { ModelError } from './errors.js';
export { ModelError };
import { toHalfBits as toHalf, float16ToFloat32, useHalfBits } from './float16.js';

export type Device = 'cpu' | 'cuda';

export interface SessionOptions {
  /** Execution provider: 'cpu' (default) or 'cuda'. */
  device?: Device;
  /** CPU threads for one operator (intra-op); onnxruntime's default (all cores) when absent. */
  threads?: number;
  /** CUDA device index. */
  deviceId?: number;
}

/** The element types onnxruntime reports for tensors (float32, float16, int64, ...). */
export type ElementType = ort.Tensor.Type;

/** One declared input or output: name, element type and shape (numbers, or strings for symbolic dimensions). */
export interface ValueInfo {
  name: string;
  type: ElementType | 'non-tensor';
  shape: ReadonlyArray<number | string>;
}

export type Feeds = Record<string, ort.Tensor>;

export interface ModelSession {
  /** The model file this session was created from. */
  readonly path: string;
  /** A short name for messages, e.g. "unet/model.onnx". */
  readonly label: string;
  readonly inputs: readonly ValueInfo[];
  readonly outputs: readonly ValueInfo[];
  readonly device: Device;
  input(name: string): ValueInfo | undefined;
  output(name: string): ValueInfo | undefined;
  /** Run; `fetches` names the outputs, or maps them to preallocated tensors that onnxruntime writes into. */
  run(feeds: Feeds, fetches?: readonly string[] | Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>>;
  release(): Promise<void>;
}

/**
 * True when this onnxruntime-node install has the CUDA provider library. (listSupportedBackends() lists 'cuda'
 * even when the library was never downloaded, and a failed load only logs, so look for the file.)
 */
export function cudaAvailable(): boolean {
  if (process.platform !== 'linux' && process.platform !== 'win32') return false;
  try {
    const binRoot = join(dirname(require.resolve('onnxruntime-node')), '..', 'bin');
    const lib = process.platform === 'win32' ? 'onnxruntime_providers_cuda.dll' : 'libonnxruntime_providers_cuda.so';
    return readdirSync(binRoot).some((napi) => existsSync(join(binRoot, napi, process.platform, process.arch, lib)));
  } catch {
    return false;
  }
}

const CUDA_HELP =
  'the CUDA execution provider is not installed in this onnxruntime-node (its CUDA libraries are downloaded by its ' +
  'install script, which ONNXRUNTIME_NODE_INSTALL=skip turns off). On Linux x64 with an NVIDIA GPU, CUDA 12 and cuDNN 9, ' +
  'run `(cd node_modules/onnxruntime-node && ONNXRUNTIME_NODE_INSTALL=cuda12 node ./script/install)` once (npm itself skips that script: package.json denies it in allowScripts to keep installs offline), or use --device cpu'

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n').find((l) => l.trim() !== '')?.trim() ?? text;
}

function describe(meta: ort.InferenceSession.ValueMetadata): ValueInfo {
  if (meta.isTensor) return { name: meta.name, type: meta.type, shape: [...meta.shape] };
  return { name: meta.name, type: 'non-tensor', shape: [] };
}

/** Format a declared shape for messages: [batch, 4, height, width]. */
export function formatShape(shape: ReadonlyArray<number | string>): string {
  return `[${shape.map((d) => (typeof d === 'string' && d === '' ? '?' : String(d))).join(', ')}]`;
}

/**
 * Open an ONNX model file. Throws a ModelError naming the file when it is missing, empty, not an ONNX model,
 * or when the requested execution provider is not available.
 */
export async function openSession(path: string, options: SessionOptions = {}, label = path): Promise<ModelSession> {
  if (!existsSync(path)) throw new ModelError(`${label}: file not found (${path})`);
  const st = statSync(path);
  if (!st.isFile()) throw new ModelError(`${label}: not a file (${path})`);
  if (st.size === 0) throw new ModelError(`${label}: the file is empty (${path}); re-export or re-download it`);
  const device = options.device ?? 'cpu';
  if (device !== 'cpu' && device !== 'cuda') throw new ModelError(`unknown device "${String(device)}": use cpu or cuda`);
  if (options.threads !== undefined && (!Number.isInteger(options.threads) || options.threads < 0)) {
    throw new ModelError(`threads must be a non-negative integer, got ${options.threads}`);
  }
  if (device === 'cuda' && !cudaAvailable()) throw new ModelError(`--device cuda: ${CUDA_HELP}`);

  const sessionOptions: ort.InferenceSession.SessionOptions = {
    executionProviders: device === 'cuda' ? [{ name: 'cuda', deviceId: options.deviceId ?? 0 }, 'cpu'] : ['cpu'],
    graphOptimizationLevel: 'all',
  };
  if (options.threads !== undefined && options.threads > 0) sessionOptions.intraOpNumThreads = options.threads;

  let session: ort.InferenceSession;
  try {
    session = await ort.InferenceSession.create(path, sessionOptions);
  } catch (err) {
    const why = firstLine(err);
    if (device === 'cuda' && /cuda|provider/i.test(why)) throw new ModelError(`${label}: could not start CUDA (${why}); ${CUDA_HELP}`);
    if (/external data|onnx_data|\.data/i.test(why)) {
      throw new ModelError(`${label}: the external weights file next to ${path} is missing or unreadable (${why})`);
    }
    throw new ModelError(`${label}: not a loadable ONNX model (${why})`);
  }

  const inputs = session.inputMetadata.map(describe);
  const outputs = session.outputMetadata.map(describe);
  let released: Promise<void> | undefined;
  return {
    path,
    label,
    inputs,
    outputs,
    device,
    input: (name) => inputs.find((v) => v.name === name),
    output: (name) => outputs.find((v) => v.name === name),
    async run(feeds, fetches) {
      try {
        if (!fetches) return await session.run(feeds);
        return Array.isArray(fetches) ? await session.run(feeds, fetches as string[]) : await session.run(feeds, fetches as Record<string, ort.Tensor>);
      } catch (err) {
        throw new ModelError(`${label}: inference failed (${firstLine(err)})`);
      }
    },
    // once: a pipeline may release a session it replaced early and again on dispose
    release: () => (released ??= session.release()),
  };
}

/** Throw unless the session declares every named input; the message lists what the file does declare. */
export function requireInputs(session: ModelSession, names: readonly string[], hint = ''): void {
  const missing = names.filter((n) => !session.input(n));
  if (missing.length > 0) {
    const have = session.inputs.map((v) => v.name).join(', ') || 'none';
    throw new ModelError(
      `${session.label}: missing input${missing.length > 1 ? 's' : ''} ${missing.map((m) => `"${m}"`).join(', ')}; ` +
        `the file declares [${have}]${hint ? `. ${hint}` : ''}`,
    );
  }
}

/** Throw unless the session declares the named output. */
export function requireOutput(session: ModelSession, name: string, hint = ''): ValueInfo {
  const out = session.output(name);
  if (!out) {
    const have = session.outputs.map((v) => v.name).join(', ') || 'none';
    throw new ModelError(`${session.label}: missing output "${name}"; the file declares [${have}]${hint ? `. ${hint}` : ''}`);
  }
  return out;
}

/** Throw unless a declared value has one of the given ranks (symbolic dims count). */
export function checkRank(session: ModelSession, value: ValueInfo, ranks: readonly number[]): void {
  if (value.type === 'non-tensor') throw new ModelError(`${session.label}: "${value.name}" is not a tensor`);
  // onnxruntime reports an empty shape when the file declares none; nothing to check then.
  if (value.shape.length === 0 && !ranks.includes(0)) return;
  if (!ranks.includes(value.shape.length)) {
    throw new ModelError(
      `${session.label}: "${value.name}" has rank ${value.shape.length} ${formatShape(value.shape)}, expected rank ${ranks.join(' or ')}`,
    );
  }
}

/** The fixed size of a dimension, or undefined when it is symbolic (dynamic) or undeclared. */
export function fixedDim(value: ValueInfo, axis: number): number | undefined {
  const d = value.shape[axis];
  return typeof d === 'number' && d > 0 ? d : undefined;
}

/** Throw unless a fixed dimension equals `expected` (a dynamic dimension passes). */
export function checkDim(session: ModelSession, value: ValueInfo, axis: number, expected: number, what: string): void {
  const d = fixedDim(value, axis);
  if (d !== undefined && d !== expected) {
    throw new ModelError(`${session.label}: "${value.name}" has ${d} ${what} (axis ${axis} of ${formatShape(value.shape)}), expected ${expected}`);
  }
}

/** Throw unless a value has one of the allowed element types. */
export function checkType(session: ModelSession, value: ValueInfo, types: readonly string[]): void {
  if (!types.includes(value.type)) {
    throw new ModelError(`${session.label}: "${value.name}" has element type ${value.type}, expected ${types.join(' or ')}`);
  }
}

/** A float tensor for a float32 or float16 input, converting from float32/float64 data. */
export function floatTensor(type: string, data: ArrayLike<number>, shape: readonly number[]): ort.Tensor {
  if (type === 'float16') {
    const bits = new Uint16Array(data.length);
    for (let i = 0; i < data.length; i++) bits[i] = toHalf(data[i]!);
    return useHalfBits(new ort.Tensor('float16', bits, shape), bits);
  }
  if (type === 'float32') return new ort.Tensor('float32', data instanceof Float32Array ? data : Float32Array.from(data), shape);
  if (type === 'float64') return new ort.Tensor('float64', Float64Array.from(data), shape);
  throw new ModelError(`cannot feed float data to a tensor of type ${type}`);
}

/** Read any float tensor output (float32, float16 or float64) as float32. */
export function readFloat(t: ort.Tensor, out?: Float32Array): Float32Array {
  if (t.type === 'float32') {
    const d = t.data as Float32Array;
    if (!out) return d;
    out.set(d);
    return out;
  }
  if (t.type === 'float16') return float16ToFloat32(t.data as Uint16Array, out); // a Float16Array on Node 24: read as bits
  if (t.type === 'float64') {
    const d = t.data as Float64Array;
    const o = out ?? new Float32Array(d.length);
    for (let i = 0; i < d.length; i++) o[i] = d[i]!;
    return o;
  }
  throw new ModelError(`expected a float output, got ${t.type}`);
}

/** Read a small file as JSON with a clear message on failure. */
export function readJsonFile<T>(path: string, label = path): T {
  if (!existsSync(path)) throw new ModelError(`${label}: file not found (${path})`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (err) {
    throw new ModelError(`${label}: not valid JSON (${firstLine(err)})`);
  }
}

export { ort };
