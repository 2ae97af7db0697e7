import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser } from '../samplers/types.js';
import type { ModelSampling, Prediction } from '../model-sampling/types.js';
import type { RowDenoiser } from '../optimizer/types.js';

/**
 * An exact x0-predictor in EDM sigma (x = x0 + sigma n), one sigma per row. The lab's testbeds are these.
 */
export type ExactRows = (x: Tensor, sigmas: ArrayLike<number>) => Tensor;

export interface PresentedModel {
  /** The denoiser in the model's own sigma convention (VE sigma for discrete/EDM, flow sigma in [0, 1] for flow). */
  denoiser: Denoiser;
  rowDenoiser: RowDenoiser;
  description: string;
}

/**
 * Present an exact denoiser as a network of the given model sampling and prediction type, wrapped back into a
 * k-diffusion denoiser the way ComfyUI wraps a real model:
 * - discrete: the network sees x / sqrt(1 + sigma^2) at timestep t = ms.timestep(sigma) (an integer) and answers for
 *   that table sigma; the wrapper then uses the requested sigma. Off-table sigmas therefore see the same
 *   quantisation a real SD1.5 model does; on-table sigmas give the exact posterior mean.
 * - edm: continuous, exact for every sigma.
 * - flow: x = (1 - s) x0 + s n with s in [0, 1]; EDM sigma = s / (1 - s); the network predicts n - x0.
 */
export function presentAsModel(exact: ExactRows, ms: ModelSampling, prediction: Prediction = ms.prediction): PresentedModel {
  const rows = (x: Tensor, sigmas: ArrayLike<number>): Tensor => {
    const n = x.shape[0] ?? 1;
    const dim = x.data.length / n;
    const out = new Float64Array(x.data.length);
    if (ms.kind === 'flow') {
      const xe = new Float64Array(x.data.length);
      const se = new Float64Array(n);
      for (let r = 0; r < n; r++) {
        const s = Math.min(sigmas[r]!, 1 - 1e-12);
        se[r] = s / (1 - s);
        for (let j = r * dim; j < (r + 1) * dim; j++) xe[j] = x.data[j]! / (1 - s);
      }
      const d = exact({ data: xe, shape: x.shape }, se);
      if (prediction === 'flow') {
        // network output v = n - x0 = (x - x0)/s; the wrapper's denoised = x - s v
        for (let r = 0; r < n; r++) {
          const s = sigmas[r]!;
          for (let j = r * dim; j < (r + 1) * dim; j++) {
            const v = s > 0 ? (x.data[j]! - d.data[j]!) / s : 0;
            out[j] = x.data[j]! - s * v;
          }
        }
      } else {
        out.set(d.data);
      }
      return { data: out, shape: [...x.shape] };
    }
    // network noise level per row: the table sigma at the integer timestep for discrete models
    const netSigma = new Float64Array(n);
    for (let r = 0; r < n; r++) netSigma[r] = ms.kind === 'discrete' ? ms.sigma(ms.timestep(sigmas[r]!)) : sigmas[r]!;
    const xNet = new Float64Array(x.data.length);
    for (let r = 0; r < n; r++) {
      const s = sigmas[r]!;
      const sn = netSigma[r]!;
      // the model input x / sqrt(1 + sigma^2), read back by the network as x_vp at its own timestep
      const scale = Math.sqrt(1 + sn * sn) / Math.sqrt(1 + s * s);
      for (let j = r * dim; j < (r + 1) * dim; j++) xNet[j] = x.data[j]! * scale;
    }
    const d = exact({ data: xNet, shape: x.shape }, netSigma);
    const sd = ms.sigmaData;
    for (let r = 0; r < n; r++) {
      const s = sigmas[r]!;
      const sn = netSigma[r]!;
      for (let j = r * dim; j < (r + 1) * dim; j++) {
        const eps = (xNet[j]! - d.data[j]!) / sn;
        if (prediction === 'v') {
          // v = alpha eps - sigma_vp x0 at the network's level; ComfyUI's v wrapper (sigma_data sd) inverts it
          const alpha = 1 / Math.sqrt(1 + sn * sn);
          const sigVp = sn / Math.sqrt(1 + sn * sn);
          const v = alpha * eps - sigVp * d.data[j]!;
          out[j] = (x.data[j]! * sd * sd) / (s * s + sd * sd) - (v * s * sd) / Math.sqrt(s * s + sd * sd);
        } else {
          out[j] = x.data[j]! - s * eps;
        }
      }
    }
    return { data: out, shape: [...x.shape] };
  };
  return {
    denoiser: async (x, sigma) => rows(x, new Float64Array(x.shape[0] ?? 1).fill(sigma)),
    rowDenoiser: async (x, sigmas) => rows(x, sigmas),
    description: `${ms.name} ${ms.kind} ${prediction}-prediction`,
  };
}
