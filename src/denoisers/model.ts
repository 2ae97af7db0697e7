import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser } from '../core/types.js';
import type { ModelSampling } from '../model-sampling/types.js';
import { sameShape } from '../tensor/ops.js';

/** A raw network: input already scaled for the model, and the model's own time/timestep. Batched. */
export type RawModel = (xIn: Tensor, t: number) => Promise<Tensor>;

/**
 * Turn a raw model into a k-diffusion denoiser D(x; sigma) -> x0 for a model sampling:
 * - discrete (SD1.x/SDXL, VP): the model sees x / sqrt(1 + sigma^2) at timestep(sigma);
 * - edm: EDM preconditioning with sigma_data: c_in = 1 / sqrt(sigma^2 + sd^2), t = timestep(sigma);
 * - flow (SD3/Flux, ComfyUI CONST): the model sees x itself (x = (1 - s) x0 + s n) at timestep(sigma).
 * The output is read by `prediction`: eps -> x - sigma * eps; v -> c_skip x - sigma sd / sqrt(sigma^2 + sd^2) v
 * with c_skip = sd^2 / (sigma^2 + sd^2); flow -> x - sigma * v.
 */
export function modelDenoiser(ms: ModelSampling, model: RawModel): Denoiser {
  const sd = ms.sigmaData;
  return async (x: Tensor, sigma: number): Promise<Tensor> => {
    const cIn = ms.kind === 'discrete' ? 1 / Math.sqrt(1 + sigma * sigma) : ms.kind === 'edm' ? 1 / Math.sqrt(sigma * sigma + sd * sd) : 1;
    const n = x.data.length;
    const xIn = x.data instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
    for (let i = 0; i < n; i++) xIn[i] = x.data[i]! * cIn;
    const out = await model({ data: xIn, shape: [...x.shape] }, ms.timestep(sigma));
    if (!sameShape(out.shape, x.shape)) {
      throw new RangeError(`model returned shape [${out.shape.join(', ')}] for input shape [${x.shape.join(', ')}]`);
    }
    const res = x.data instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
    const o = out.data, xd = x.data;
    if (ms.prediction === 'v') {
      const cSkip = (sd * sd) / (sigma * sigma + sd * sd), cOut = (sigma * sd) / Math.sqrt(sigma * sigma + sd * sd);
      for (let i = 0; i < n; i++) res[i] = cSkip * xd[i]! - cOut * o[i]!;
    } else {
      // eps and flow velocity both give x0 = x - sigma * output in their own x convention
      for (let i = 0; i < n; i++) res[i] = xd[i]! - sigma * o[i]!;
    }
    return { data: res, shape: [...x.shape] };
  };
}

/**
 * ComfyUI's starting latent from unit noise (KSampler noise scaling). For eps/v models it is
 * noise * sqrt(1 + sigma0^2) + latent when sigma0 is the model's sigma_max (within rel 1e-5, or above it),
 * else noise * sigma0 + latent. For flow models (CONST) it is sigma0 * noise + (1 - sigma0) * latent.
 */
export function initialLatent(noise: Tensor, sigma0: number, ms: Pick<ModelSampling, 'kind' | 'sigmaMax'>, latent?: Tensor): Tensor {
  const n = noise.data.length;
  if (latent && latent.data.length !== n) throw new RangeError('initialLatent: latent and noise need the same shape');
  const out = noise.data instanceof Float32Array ? new Float32Array(n) : new Float64Array(n);
  const l = latent?.data;
  if (ms.kind === 'flow') {
    for (let i = 0; i < n; i++) out[i] = sigma0 * noise.data[i]! + (1 - sigma0) * (l ? l[i]! : 0);
  } else {
    const maxDenoise = Math.abs(sigma0 - ms.sigmaMax) <= 1e-5 * Math.max(Math.abs(sigma0), Math.abs(ms.sigmaMax)) || sigma0 > ms.sigmaMax;
    const k = maxDenoise ? Math.sqrt(1 + sigma0 * sigma0) : sigma0;
    for (let i = 0; i < n; i++) out[i] = k * noise.data[i]! + (l ? l[i]! : 0);
  }
  return { data: out, shape: [...noise.shape] };
}
