// Sampler overhead benchmark: each sampler's own time per step with a denoiser that costs nothing (it hands
// back a fixed prediction), against the memory-bandwidth floor of a plain typed-array copy of the same size.
// Run: npm run build && node dist/bench/samplers.js
import { SAMPLERS } from '../src/samplers/registry.js';
import { cfg } from '../src/denoisers/cfg.js';
import { comfyDefaultNoise } from '../src/noise/sources.js';
import type { Tensor } from '../src/tensor/tensor.js';
import type { Denoiser, NoiseSource } from '../src/samplers/types.js';

const SHAPES: number[][] = [[1, 4, 128, 128], [1, 4, 64, 64]];
const STEPS = 10;
const SIGMAS = [14.6146, 6.4746, 3.8637, 2.6946, 1.8842, 1.3944, 0.9643, 0.6524, 0.3977, 0.1515, 0];

// Tensors read (r) and written (w) per step by each sampler's own arithmetic, in units of one latent:
// a lower bound of the traffic a fused implementation must move (denoised counts as one read).
const TRAFFIC: Record<string, number> = {
  euler: 3, ddim: 3, euler_cfg_pp: 4, euler_ancestral: 4, euler_ancestral_cfg_pp: 5, lcm: 3, ddpm: 4,
  dpmpp_2m: 4, dpmpp_2m_cfg_pp: 5, lms: 7, ipndm: 7, ipndm_v: 7, deis: 6, res_multistep: 5, res_multistep_cfg_pp: 6,
  gradient_estimation: 5, gradient_estimation_cfg_pp: 6, dpmpp_2m_sde: 5, dpmpp_2m_sde_gpu: 5, dpmpp_2m_sde_heun: 5,
  dpmpp_2m_sde_heun_gpu: 5, dpmpp_3m_sde: 6, dpmpp_3m_sde_gpu: 6, res_multistep_ancestral: 6, res_multistep_ancestral_cfg_pp: 7,
  er_sde: 6,
};
const MULTI_OR_FIRST = new Set(Object.keys(TRAFFIC));

function copyFloor(n: number): number {
  const a = new Float32Array(n).fill(1), b = new Float32Array(n);
  const copy = (): void => {
    for (let i = 0; i < n; i++) b[i] = a[i]!;
  };
  for (let i = 0; i < 20; i++) copy();
  const reps = 200;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < reps; i++) copy();
  const dt = Number(process.hrtime.bigint() - t0) / 1e9 / reps;
  return (2 * n * 4) / dt; // bytes per second (read + write)
}

/** A noise source that hands out one prepared tensor (noise generation is not the sampler's own cost). */
function fixedNoise(like: Tensor): NoiseSource {
  const n = comfyDefaultNoise(0).next(like, 1, 0.5);
  return { next: () => n, randnLike: () => n };
}

async function timeSampler(name: string, shape: number[]): Promise<{ perStep: number; nfe: number }> {
  const info = SAMPLERS.find((s) => s.name === name)!;
  const n = shape.reduce((a, b) => a * b, 1);
  const x: Tensor = { data: new Float32Array(n).fill(0.5), shape };
  const pred: Tensor = { data: new Float32Array(n).fill(0.1), shape };
  const free: Denoiser = async () => pred;
  const denoiser = info.needsUncond ? cfg(free, free, 1) : free;
  let nfe = 0;
  const counted: Denoiser = info.needsUncond ? denoiser : async (t, s) => { nfe++; return free(t, s); };
  const opts = { noise: fixedNoise(x) };
  await info.sampler(counted, x, SIGMAS, opts); // warm-up
  const reps = shape[2]! >= 128 ? 3 : 6;
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < reps; r++) await info.sampler(counted, x, SIGMAS, opts);
  const dt = Number(process.hrtime.bigint() - t0) / 1e9;
  return { perStep: dt / reps / STEPS, nfe: nfe / (reps + 1) };
}

async function main(): Promise<void> {
  for (const shape of SHAPES) {
    const n = shape.reduce((a, b) => a * b, 1);
    const bw = copyFloor(n);
    const latentBytes = n * 4;
    console.log(`\nshape ${shape.join('x')} float32 (${(latentBytes / 1024).toFixed(0)} KiB per latent); copy floor ${(bw / 1e9).toFixed(2)} GB/s (read+write)`);
    console.log(`${'sampler'.padEnd(31)} ${'ms/step'.padStart(8)} ${'bytes/step'.padStart(11)} ${'floor ms'.padStart(9)} ${'x floor'.padStart(8)}`);
    for (const info of SAMPLERS) {
      const { perStep } = await timeSampler(info.name, shape);
      const traffic = TRAFFIC[info.name];
      const bytes = traffic ? traffic * latentBytes : NaN;
      const floorMs = (bytes / bw) * 1e3;
      const ratio = perStep * 1e3 / floorMs;
      const tag = MULTI_OR_FIRST.has(info.name) ? '' : ' (multi-stage, not in the 2x target)';
      console.log(
        `${info.name.padEnd(31)} ${(perStep * 1e3).toFixed(3).padStart(8)} ${Number.isNaN(bytes) ? '-'.padStart(11) : String(bytes).padStart(11)} ${Number.isNaN(floorMs) ? '-'.padStart(9) : floorMs.toFixed(3).padStart(9)} ${Number.isNaN(ratio) ? '-'.padStart(8) : ratio.toFixed(2).padStart(8)}${tag}`,
      );
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
