/**
 * The denoising maths a model sampling owns, after ComfyUI's `comfy/model_sampling.py` prediction classes:
 *
 * | prediction | calculateInput (c_in x)     | calculateDenoised (x0)                                   | noiseScaling                         | inverseNoiseScaling |
 * | eps        | x / sqrt(s^2 + sd^2)        | x - s out                                                | latent + noise sqrt(1 + s^2) or s    | latent              |
 * | v          | same                        | x sd^2 / (s^2 + sd^2) - out s sd / sqrt(s^2 + sd^2)      | same                                 | latent              |
 * | edm        | same                        | x sd^2 / (s^2 + sd^2) + out s sd / sqrt(s^2 + sd^2)      | same                                 | latent              |
 * | flow       | x (CONST)                   | x - s out                                                | s noise + (1 - s) latent             | latent / (1 - s)    |
 *
 * (s = sigma, sd = sigma_data; "sqrt(1 + s^2)" when `maxDenoise`, i.e. the schedule starts at the model's
 * sigma_max, else "s".)
 *
 * Precision. `'float64'` (the default) computes each element in float64 from the stored values and returns
 * Float64Array, so a caller rounds once when it stores the result (into a float32 or float16 model input, or
 * a float32 latent). `'float32'` follows torch's float32 tensor arithmetic op by op (sigma rounded to float32,
 * every product, sum and quotient rounded) and returns Float32Array: what a float32 PyTorch reference computes.
 */
import type { Tensor, TensorData } from '../tensor/tensor.js';
import type { ModelSampling, Precision, Prediction } from './types.js';

const f32 = Math.fround;

/** The four methods every model sampling has. */
export type DenoisingMaths = Pick<ModelSampling, 'calculateInput' | 'calculateDenoised' | 'noiseScaling' | 'inverseNoiseScaling'>;

function checkSigma(what: string, sigma: number): void {
  if (!Number.isFinite(sigma) || sigma < 0) throw new RangeError(`${what}: sigma must be a finite non-negative number, got ${sigma}`);
}

function checkSame(what: string, a: Tensor, b: Tensor, an: string, bn: string): void {
  if (a.data.length !== b.data.length) {
    throw new RangeError(`${what}: ${an} has shape [${a.shape.join(', ')}] but ${bn} has shape [${b.shape.join(', ')}]`);
  }
}

function out(n: number, precision: Precision): Float64Array | Float32Array {
  return precision === 'float32' ? new Float32Array(n) : new Float64Array(n);
}

/** c_in * x: x / sqrt(sigma^2 + sigma_data^2) (eps, v, edm), or x itself (flow). */
function calculateInput(prediction: Prediction, sd: number, sigma: number, x: Tensor, precision: Precision = 'float64'): Tensor {
  checkSigma('calculateInput', sigma);
  const xd = x.data, n = xd.length, res = out(n, precision);
  if (prediction === 'flow') {
    res.set(xd);
  } else if (precision === 'float32') {
    const s = f32(sigma);
    const c = f32(Math.sqrt(f32(f32(s * s) + f32(sd * sd))));
    for (let i = 0; i < n; i++) res[i] = f32(f32(xd[i]!) / c);
  } else {
    const cIn = 1 / Math.sqrt(sigma * sigma + sd * sd);
    for (let i = 0; i < n; i++) res[i] = xd[i]! * cIn;
  }
  return { data: res, shape: [...x.shape] };
}

/** The x0 prediction from the network output and the (unscaled) x it was given. */
function calculateDenoised(prediction: Prediction, sd: number, sigma: number, modelOutput: Tensor, x: Tensor, precision: Precision = 'float64'): Tensor {
  checkSigma('calculateDenoised', sigma);
  checkSame('calculateDenoised', modelOutput, x, 'the model output', 'x');
  const o = modelOutput.data, xd = x.data, n = xd.length, res = out(n, precision);
  if (prediction === 'eps' || prediction === 'flow') {
    if (precision === 'float32') {
      const s = f32(sigma);
      for (let i = 0; i < n; i++) res[i] = f32(f32(xd[i]!) - f32(f32(o[i]!) * s));
    } else {
      for (let i = 0; i < n; i++) res[i] = xd[i]! - sigma * o[i]!;
    }
  } else {
    const sign = prediction === 'edm' ? 1 : -1;
    if (precision === 'float32') {
      // torch order: x * sd^2 / (s^2 + sd^2) -/+ out * s * sd / (s^2 + sd^2) ** 0.5
      const s = f32(sigma), sd2 = f32(sd * sd), v = f32(f32(s * s) + sd2), root = f32(Math.sqrt(v)), sdf = f32(sd);
      for (let i = 0; i < n; i++) {
        const skip = f32(f32(f32(xd[i]!) * sd2) / v);
        const scaled = f32(f32(f32(f32(o[i]!) * s) * sdf) / root);
        res[i] = f32(skip + sign * scaled);
      }
    } else {
      const cIn = 1 / Math.sqrt(sigma * sigma + sd * sd);
      const cSkip = (sd * sd) / (sigma * sigma + sd * sd), cOut = sign * sigma * sd * cIn;
      for (let i = 0; i < n; i++) res[i] = cSkip * xd[i]! + cOut * o[i]!;
    }
  }
  return { data: res, shape: [...x.shape] };
}

/** The starting latent: latent + noise * (sqrt(1 + s^2) at max denoise, else s); flow: s noise + (1 - s) latent. Float64. */
function noiseScaling(prediction: Prediction, sigma: number, noise: Tensor, latent: Tensor | null, maxDenoise: boolean): Tensor {
  checkSigma('noiseScaling', sigma);
  if (latent) checkSame('noiseScaling', latent, noise, 'the latent', 'the noise');
  const nd = noise.data, l = latent?.data, n = nd.length, res = new Float64Array(n);
  if (prediction === 'flow') {
    for (let i = 0; i < n; i++) res[i] = sigma * nd[i]! + (1 - sigma) * (l ? l[i]! : 0);
  } else {
    const k = maxDenoise ? Math.sqrt(1 + sigma * sigma) : sigma;
    for (let i = 0; i < n; i++) res[i] = k * nd[i]! + (l ? l[i]! : 0);
  }
  return { data: res, shape: [...noise.shape] };
}

/** The latent the sampler ends with, back in the model's latent scale: flow divides by 1 - s; the rest keep it. */
function inverseNoiseScaling(prediction: Prediction, sigma: number, latent: Tensor): Tensor {
  checkSigma('inverseNoiseScaling', sigma);
  const ld = latent.data, n = ld.length;
  const res: TensorData = new Float64Array(n);
  if (prediction === 'flow') {
    if (!(sigma < 1)) throw new RangeError(`inverseNoiseScaling: a flow latent at sigma ${sigma} has no data part to recover`);
    const k = 1 - sigma;
    for (let i = 0; i < n; i++) res[i] = ld[i]! / k;
  } else {
    res.set(ld);
  }
  return { data: res, shape: [...latent.shape] };
}

/** The denoising methods for a prediction type and sigma_data (what the model-sampling factories attach). */
export function predictionMaths(prediction: Prediction, sigmaData = 1): DenoisingMaths {
  if (!['eps', 'v', 'edm', 'flow'].includes(prediction)) {
    throw new RangeError(`unknown prediction "${String(prediction)}"; valid: eps, v, edm, flow`);
  }
  if (!(Number.isFinite(sigmaData) && sigmaData > 0)) throw new RangeError(`sigmaData must be positive, got ${sigmaData}`);
  return {
    calculateInput: (sigma, x, precision) => calculateInput(prediction, sigmaData, sigma, x, precision),
    calculateDenoised: (sigma, modelOutput, x, precision) => calculateDenoised(prediction, sigmaData, sigma, modelOutput, x, precision),
    noiseScaling: (sigma, noise, latent, maxDenoise) => noiseScaling(prediction, sigma, noise, latent, maxDenoise),
    inverseNoiseScaling: (sigma, latent) => inverseNoiseScaling(prediction, sigma, latent),
  };
}

/** ComfyUI's max_denoise test: the schedule starts at the model's sigma_max (relative 1e-5) or above it. */
export function isMaxDenoise(ms: Pick<ModelSampling, 'sigmaMax'>, sigma0: number): boolean {
  const max = ms.sigmaMax;
  return Math.abs(sigma0 - max) <= 1e-5 * Math.max(Math.abs(sigma0), Math.abs(max)) || sigma0 > max;
}
