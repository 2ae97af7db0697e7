/**
 * The denoiser layer over a raw network: the model sampling scales the input and reads the output
 * (calculateInput / calculateDenoised, ComfyUI's model_sampling.py), and classifier-free guidance combines a
 * cond/uncond pair computed in one network call. Pipelines compose these instead of re-deriving c_in and x0.
 */
import type { Tensor, TensorData } from '../tensor/tensor.js';
import type { Denoiser, GuidedDenoiser } from '../core/types.js';
import type { ModelSampling, Precision } from '../model-sampling/types.js';
import { isMaxDenoise, predictionMaths } from '../model-sampling/prediction.js';
import { sameShape } from '../tensor/ops.js';
import { combineGuidance } from './cfg.js';

/**
 * A raw network: the input already scaled for the model (calculateInput), and the model's own time
 * (ms.timestep(sigma)). Batched over the first axis. With `rowTimesteps` (a `rows()` call) every batch row
 * has its own time: use rowTimesteps[r] for row r (t is then rowTimesteps[0]).
 */
export type RawModel = (xIn: Tensor, t: number, rowTimesteps?: readonly number[]) => Promise<Tensor>;

/**
 * A raw network that runs the conditional and unconditional inputs in one call (a batch of 2B rows, say)
 * and returns both outputs, each with xIn's shape; `uncond` is null when it runs without guidance.
 * `rowTimesteps` as for RawModel.
 */
export type PairedRawModel = (xIn: Tensor, t: number, rowTimesteps?: readonly number[]) => Promise<{ cond: Tensor; uncond: Tensor | null }>;

export interface ModelDenoiserOptions {
  /**
   * 'float64' (default): c_in, x0 and the guidance combination in float64; the model gets a Float64Array input
   * (round it into your feed once), the result has x's dtype. 'float32': torch's float32 arithmetic op by op,
   * sigma rounded to float32 first (what a float32 PyTorch pipeline computes); the model gets a Float32Array.
   */
  precision?: Precision;
}

/** A model denoiser; `rows` runs each batch row at its own sigma (Monte Carlo estimators, the optimizer). */
export interface ModelDenoiser extends Denoiser {
  rows(x: Tensor, sigmas: ArrayLike<number>): Promise<Tensor>;
  /** Network calls so far. */
  readonly calls: number;
}

/** A guided model denoiser: lastUncond after each call (null when the model ran without an uncond half). */
export interface GuidedModelDenoiser extends GuidedDenoiser {
  rows(x: Tensor, sigmas: ArrayLike<number>): Promise<Tensor>;
  /** Network calls so far (a cond/uncond pair counts once). */
  readonly calls: number;
}

/** A denoiser function whose fields this module updates (readonly to callers). */
type Mutable<T> = ((x: Tensor, sigma: number) => Promise<Tensor>) & { -readonly [K in keyof T]: T[K] };

type Maths = Pick<ModelSampling, 'calculateInput' | 'calculateDenoised' | 'timestep'>;

function rowsOf(x: Tensor): number {
  return x.shape.length === 0 ? 1 : x.shape[0]!;
}

/** The per-row sigmas of a call, checked; one sigma for all rows when `sigma` is a number. */
function rowSigmas(what: string, x: Tensor, sigmas: number | ArrayLike<number>): number[] {
  const b = rowsOf(x);
  const list = typeof sigmas === 'number' ? new Array<number>(b).fill(sigmas) : Array.from(sigmas);
  if (list.length !== b) throw new RangeError(`${what}: ${list.length} sigmas for ${b} batch rows`);
  for (const s of list) {
    if (!Number.isFinite(s) || s < 0) throw new RangeError(`${what}: sigma must be a finite non-negative number, got ${s}`);
  }
  return list;
}

function rowSlice(t: Tensor, r: number, per: number): Tensor {
  return { data: t.data.subarray(r * per, (r + 1) * per), shape: [1, ...t.shape.slice(1)] };
}

/** Apply `f(sigma, rowTensors...)` per row (or once when all rows share the sigma) and gather the results. */
function perRow(sigmas: number[], tensors: Tensor[], precision: Precision, f: (sigma: number, ...ts: Tensor[]) => Tensor): Tensor {
  const first = tensors[0]!;
  if (sigmas.every((s) => s === sigmas[0])) return f(sigmas[0]!, ...tensors);
  const n = first.data.length, per = n / sigmas.length;
  const data = precision === 'float32' ? new Float32Array(n) : new Float64Array(n);
  sigmas.forEach((s, r) => data.set(f(s, ...tensors.map((t) => rowSlice(t, r, per))).data, r * per));
  return { data, shape: [...first.shape] };
}

function sigmaFor(sigma: number, precision: Precision): number {
  return precision === 'float32' ? Math.fround(sigma) : sigma;
}

function timesteps(ms: Maths, sigmas: number[], precision: Precision): { t: number; rowT: number[] | undefined } {
  const ts = sigmas.map((s) => ms.timestep(sigmaFor(s, precision)));
  return { t: ts[0]!, rowT: sigmas.every((s) => s === sigmas[0]) ? undefined : ts };
}

function checkOutput(what: string, out: Tensor | null | undefined, x: Tensor): Tensor {
  if (!out || !out.data || !Array.isArray(out.shape)) throw new TypeError(`${what}: the model did not return a tensor`);
  if (!sameShape(out.shape, x.shape) || out.data.length !== x.data.length) {
    throw new RangeError(`${what}: the model returned shape [${out.shape.join(', ')}] for input shape [${x.shape.join(', ')}]`);
  }
  return out;
}

function like(x: Tensor, n: number): TensorData {
  return x.data instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
}

/**
 * One network call for x at its row sigmas: the model gets calculateInput's scaled x and the timesteps; returns
 * its output and a reader that turns an output tensor into x0 with calculateDenoised.
 */
async function callModel<R>(
  what: string,
  m: Maths,
  precision: Precision,
  x: Tensor,
  sigmaList: ArrayLike<number> | number,
  model: (xIn: Tensor, t: number, rowTimesteps?: readonly number[]) => Promise<R>,
): Promise<{ output: R; denoised: (o: Tensor) => Tensor }> {
  const sigmas = rowSigmas(what, x, sigmaList);
  const xIn = perRow(sigmas, [x], precision, (s, xr) => m.calculateInput(sigmaFor(s, precision), xr!, precision));
  const { t, rowT } = timesteps(m, sigmas, precision);
  const output = await (rowT ? model(xIn, t, rowT) : model(xIn, t));
  const denoised = (o: Tensor): Tensor => perRow(sigmas, [o, x], precision, (s, or, xr) => m.calculateDenoised(sigmaFor(s, precision), or!, xr!, precision));
  return { output, denoised };
}

/** The model sampling's own maths, or (for a bare object with kind/prediction/sigmaData) the prediction's. */
function mathsOf(ms: ModelSampling): Maths {
  if (typeof ms.calculateInput === 'function' && typeof ms.calculateDenoised === 'function') return ms;
  return { ...predictionMaths(ms.prediction, ms.sigmaData), timestep: (s) => ms.timestep(s) };
}

/**
 * Turn a raw model into a k-diffusion denoiser D(x; sigma) -> x0 for a model sampling: the model sees
 * ms.calculateInput(sigma, x) at ms.timestep(sigma), and its output is read by ms.calculateDenoised
 * (eps, v, edm or flow; see model-sampling/prediction.ts). The result has x's dtype.
 *
 * @example const d = modelDenoiser(modelSampling('sd15'), async (xIn, t) => unet(xIn, t));
 */
export function modelDenoiser(ms: ModelSampling, model: RawModel, options: ModelDenoiserOptions = {}): ModelDenoiser {
  if (typeof model !== 'function') throw new TypeError('modelDenoiser: model must be a function (xIn, t) => Promise<Tensor>');
  const precision = options.precision ?? 'float64';
  const m = mathsOf(ms);
  const rows = async (x: Tensor, sigmaList: ArrayLike<number> | number): Promise<Tensor> => {
    const call = await callModel('modelDenoiser', m, precision, x, sigmaList, model);
    self.calls++;
    const x0 = call.denoised(checkOutput('modelDenoiser', call.output, x));
    const res = like(x, x0.data.length);
    res.set(x0.data);
    return { data: res, shape: [...x.shape] };
  };
  const self: Mutable<ModelDenoiser> = Object.assign((x: Tensor, sigma: number) => rows(x, sigma), { rows, calls: 0 });
  return self;
}

/**
 * Classifier-free guidance over a model that computes cond and uncond in one call: x0 = uncond + (cond - uncond)
 * * scale on the two x0 predictions (ComfyUI's cfg_function), with `lastUncond` set after each call for the
 * *_cfg_pp samplers. When the model returns uncond null (no guidance), the result is the cond prediction and
 * lastUncond is null. Precision as in modelDenoiser: 'float64' combines the unrounded float64 predictions;
 * 'float32' rounds each op like torch.
 *
 * @example
 * const d = guidedModelDenoiser(ms, async (xIn, t) => {
 *   const out = await unet(batchTwice(xIn), t);             // one session call for [uncond; cond]
 *   return { uncond: firstHalf(out), cond: secondHalf(out) };
 * }, 7);
 */
export function guidedModelDenoiser(ms: ModelSampling, model: PairedRawModel, scale: number, options: ModelDenoiserOptions = {}): GuidedModelDenoiser {
  if (typeof model !== 'function') throw new TypeError('guidedModelDenoiser: model must be a function (xIn, t) => Promise<{ cond, uncond }>');
  if (!Number.isFinite(scale)) throw new RangeError(`guidedModelDenoiser: scale must be a finite number, got ${scale}`);
  const precision = options.precision ?? 'float64';
  const m = mathsOf(ms);
  const rows = async (x: Tensor, sigmaList: ArrayLike<number> | number): Promise<Tensor> => {
    const call = await callModel('guidedModelDenoiser', m, precision, x, sigmaList, model);
    const pair = call.output;
    if (!pair || typeof pair !== 'object') throw new TypeError('guidedModelDenoiser: the model must return { cond, uncond }');
    self.calls++;
    const denoised = (o: Tensor): Tensor => call.denoised(checkOutput('guidedModelDenoiser', o, x));
    const cond = denoised(pair.cond);
    const n = x.data.length;
    const res = like(x, n);
    if (pair.uncond === null || pair.uncond === undefined) {
      res.set(cond.data);
      self.lastUncond = null;
    } else {
      const uncond = denoised(pair.uncond);
      const u = like(x, n);
      combineGuidance(cond.data, uncond.data, scale, precision, res, u);
      self.lastUncond = { data: u, shape: [...x.shape] };
    }
    return { data: res, shape: [...x.shape] };
  };
  const self: Mutable<GuidedModelDenoiser> = Object.assign((x: Tensor, sigma: number) => rows(x, sigma), { rows, calls: 0, lastUncond: null });
  return self;
}

/**
 * ComfyUI's starting latent from unit noise (KSampler): ms.noiseScaling(sigma0, noise, latent, maxDenoise) with
 * maxDenoise when sigma0 is the model's sigma_max (within rel 1e-5) or above it. eps/v/edm:
 * noise * (sqrt(1 + sigma0^2) or sigma0) + latent; flow: sigma0 * noise + (1 - sigma0) * latent. The result has
 * the noise's dtype. A model sampling without noiseScaling gets the rule of its kind.
 */
export function initialLatent(
  noise: Tensor,
  sigma0: number,
  ms: Pick<ModelSampling, 'kind' | 'sigmaMax'> & Partial<Pick<ModelSampling, 'noiseScaling'>>,
  latent?: Tensor,
): Tensor {
  if (latent && latent.data.length !== noise.data.length) throw new RangeError('initialLatent: latent and noise need the same shape');
  const scale = ms.noiseScaling ?? predictionMaths(ms.kind === 'flow' ? 'flow' : 'eps').noiseScaling;
  const x = scale(sigma0, noise, latent ?? null, isMaxDenoise(ms, sigma0));
  const out = like(noise, x.data.length);
  out.set(x.data);
  return { data: out, shape: [...noise.shape] };
}
