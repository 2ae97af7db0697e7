import type { Tensor } from '../tensor/tensor.js';
import { validateSigmas } from '../core/validate.js';
import { allFinite, cloneTensor, sameShape, zerosLike } from '../tensor/ops.js';
import type { Denoiser, GuidedDenoiser, NoiseSource, SamplerOptions } from './types.js';

/** Rejection reason for an aborted run (a DOMException named AbortError, like fetch's). */
export function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error && reason.name === 'AbortError') return reason;
  return new DOMException('sampling was aborted', 'AbortError');
}

/** A sampler's sigma check: validateSigmas with the sampler's name in front. Returns a float64 copy. */
export function checkSigmas(name: string, sigmas: ArrayLike<number>): Float64Array {
  try {
    return Float64Array.from(validateSigmas(sigmas));
  } catch (err) {
    throw err instanceof RangeError ? new RangeError(`${name}: ${err.message}`) : err;
  }
}

/** Per-run state shared by a sampler's helpers: the denoiser call counter, options and abort handling. */
export class Run {
  nfe = 0;
  /** The step index the sampler is working on (for error messages). */
  step = 0;
  readonly noise: NoiseSource | undefined;

  constructor(
    readonly name: string,
    readonly denoiser: Denoiser,
    readonly options: SamplerOptions,
    readonly shape: readonly number[],
  ) {
    this.noise = options.noise;
    this.checkAbort();
  }

  checkAbort(): void {
    const signal = this.options.signal;
    if (signal?.aborted) throw abortError(signal);
  }

  /** Call the denoiser, then check the abort signal, the output shape and that every value is finite. */
  async denoise(x: Tensor, sigma: number): Promise<Tensor> {
    this.checkAbort();
    const out = await this.denoiser(x, sigma);
    this.nfe++;
    this.checkAbort();
    if (!out || !out.data || !Array.isArray(out.shape)) {
      throw new TypeError(`${this.name}: the denoiser did not return a tensor at step ${this.step} (sigma ${sigma})`);
    }
    if (!sameShape(out.shape, this.shape) || out.data.length !== x.data.length) {
      throw new RangeError(
        `${this.name}: the denoiser returned shape [${out.shape.join(', ')}] but x has shape [${this.shape.join(', ')}] (step ${this.step}, sigma ${sigma})`,
      );
    }
    if (!allFinite(out)) {
      throw new RangeError(`${this.name}: the denoiser returned NaN or Infinity at step ${this.step} (sigma ${sigma})`);
    }
    return out;
  }

  /** The unconditional prediction of the last denoiser call (cfg_pp samplers). */
  uncond(): Tensor {
    const u = (this.denoiser as Partial<GuidedDenoiser>).lastUncond;
    if (!u) {
      throw new TypeError(
        `${this.name} needs a guided denoiser that exposes the unconditional prediction: build it with cfg(cond, uncond, scale)`,
      );
    }
    return u;
  }

  /** Noise for the step sigma -> sigmaNext, checked against x's shape. */
  draw(like: Tensor, sigma: number, sigmaNext: number): Tensor {
    if (!this.noise) {
      throw new TypeError(`${this.name} is stochastic and needs options.noise (e.g. comfyDefaultNoise(seed) or brownianTreeNoise(...))`);
    }
    return this.checkNoise(this.noise.next(like, sigma, sigmaNext), like);
  }

  /** torch.randn_like inside a sampler (heunpp2 and the churn samplers). */
  randnLike(like: Tensor): Tensor {
    if (!this.noise) {
      throw new TypeError(`${this.name} needs options.noise for its randn_like draws`);
    }
    const n = this.noise.randnLike ? this.noise.randnLike(like) : this.noise.next(like, NaN, NaN);
    return this.checkNoise(n, like);
  }

  private checkNoise(n: Tensor, like: Tensor): Tensor {
    if (n.data.length !== like.data.length) {
      throw new RangeError(`${this.name}: the noise source returned ${n.data.length} values for a tensor of shape [${like.shape.join(', ')}]`);
    }
    return n;
  }

  callback(i: number, sigma: number, sigmaHat: number, x: Tensor, denoised: Tensor): void {
    this.options.onStep?.({ i, sigma, sigmaHat, x, denoised });
  }

  /** A numeric hyperparameter with a default. */
  num(key: string, fallback: number): number {
    const v = this.options[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'number' || Number.isNaN(v)) throw new TypeError(`${this.name}: option ${key} must be a number, got ${String(v)}`);
    return v;
  }

  str<T extends string>(key: string, fallback: T, allowed: readonly T[]): T {
    const v = this.options[key];
    if (v === undefined || v === null) return fallback;
    if (typeof v !== 'string' || !allowed.includes(v as T)) {
      throw new TypeError(`${this.name}: option ${key} must be one of ${allowed.join(', ')}, got ${String(v)}`);
    }
    return v as T;
  }
}

/** Start a run: validate, and make a working copy of x that the sampler may overwrite. */
export function begin(name: string, denoiser: Denoiser, x: Tensor, sigmas: ArrayLike<number>, options: SamplerOptions | undefined) {
  if (typeof denoiser !== 'function') throw new TypeError(`${name}: denoiser must be a function (x, sigma) => Promise<Tensor>`);
  if (!x || !(x.data instanceof Float32Array || x.data instanceof Float64Array)) {
    throw new TypeError(`${name}: x must be a tensor with Float32Array or Float64Array data`);
  }
  const s = checkSigmas(name, sigmas);
  const run = new Run(name, denoiser, options ?? {}, x.shape);
  return { run, sigmas: s, x: cloneTensor(x) };
}

export { zerosLike };

/** Noise levels of an ancestral step: where the deterministic step lands (down) and the noise added (up). */
export function ancestralStep(sigmaFrom: number, sigmaTo: number, eta: number): [number, number] {
  if (!eta) return [sigmaTo, 0];
  const up = Math.min(sigmaTo, eta * Math.sqrt((sigmaTo ** 2 * (sigmaFrom ** 2 - sigmaTo ** 2)) / sigmaFrom ** 2));
  const down = Math.sqrt(sigmaTo ** 2 - up ** 2);
  return [down, up];
}

/** x += c * n */
export function addNoise(x: Tensor, c: number, n: Tensor): void {
  const xd = x.data, nd = n.data, len = xd.length;
  for (let i = 0; i < len; i++) xd[i] = xd[i]! + c * nd[i]!;
}

/** h * phi_1(h) = expm1(h) (exponential-integrator coefficient). */
export function eiPhi1(h: number): number {
  return Math.expm1(h);
}

/** h * phi_2(h) = (expm1(h) - h) / h. */
export function eiPhi2(h: number): number {
  return (Math.expm1(h) - h) / h;
}

/** lambda = -log(sigma) (half log-SNR in the VE convention). */
export const lambdaOf = (sigma: number): number => -Math.log(sigma);
export const sigmaOfLambda = (lambda: number): number => Math.exp(-lambda);
