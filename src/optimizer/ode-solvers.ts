import type { Tensor } from '../tensor/tensor.js';
import type { Denoiser } from '../samplers/types.js';

/**
 * Two deterministic few-step solvers the optimizer uses for its own early-stopping metric, so that it needs
 * nothing but a Denoiser. Written from the papers (DDIM/Euler: Karras et al. 2022; DPM-Solver++(2M): Lu et al.
 * 2022, data prediction, linear in log-SNR). The lab runs the full sampler registry instead.
 * `sigmas` is descending; a final 0 makes the last step return the denoised value.
 */
export type FewStepSolver = (denoiser: Denoiser, x: Tensor, sigmas: ArrayLike<number>) => Promise<Tensor>;

export const eulerSolver: FewStepSolver = async (denoiser, x, sigmas) => {
  const cur = Float64Array.from(x.data);
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const s = sigmas[i]!;
    const next = sigmas[i + 1]!;
    const d = await denoiser({ data: cur, shape: x.shape }, s);
    for (let j = 0; j < cur.length; j++) cur[j] = d.data[j]! + (next / s) * (cur[j]! - d.data[j]!);
  }
  return { data: cur, shape: [...x.shape] };
};

export const dpmpp2mSolver: FewStepSolver = async (denoiser, x, sigmas) => {
  const cur = Float64Array.from(x.data);
  let prev: Float64Array | null = null;
  let hPrev = 0;
  for (let i = 0; i + 1 < sigmas.length; i++) {
    const s = sigmas[i]!;
    const next = sigmas[i + 1]!;
    const d = Float64Array.from((await denoiser({ data: cur, shape: x.shape }, s)).data);
    if (next === 0) {
      cur.set(d);
      break;
    }
    const h = Math.log(s) - Math.log(next);
    const ratio = next / s;
    const e = -Math.expm1(-h);
    for (let j = 0; j < cur.length; j++) {
      let dd = d[j]!;
      if (prev) dd = (1 + h / (2 * hPrev)) * d[j]! - (h / (2 * hPrev)) * prev[j]!;
      cur[j] = ratio * cur[j]! + e * dd;
    }
    prev = d;
    hPrev = h;
  }
  return { data: cur, shape: [...x.shape] };
};
