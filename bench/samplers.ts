// Sampler overhead benchmark: each sampler's own time per step with a denoiser that costs nothing (it hands
// back a fixed prediction), against the memory-bandwidth floor of a plain typed-array copy of the same size.
// Run: npm run build && node dist/bench/samplers.js
import { SAMPLERS } from '../src/samplers/registry.js';
import { comfyDefaultNoise } from '../src/noise/sources.js';
import type { Tensor } from '../src/tensor/tensor.js';
import type { Denoiser, NoiseSource } from '../src/samplers/types.js';

const SHAPES: number[][] = [[1, 4, 128, 128], [1, 4, 64, 64]];
const STEPS = 10;
const SIGMAS = [14.6146, 6.4746, 3.8637, 2.6946, 1.8842, 1.3944, 0.9643, 0.6524, 0.3977, 0.1515, 0];

// Latent-sized arrays a step must read plus write in a fully fused implementation (x, the prediction, the
// history it keeps, the noise it adds), not counting the denoiser. The floor for a step is that many
// latents moved at the copy bandwidth. Multi-stage samplers call the denoiser more than once per step;
// their count covers all stages.
const TRAFFIC: Record<string, number> = {
  euler: 3, ddim: 3, euler_cfg_pp: 4, euler_ancestral: 4, euler_ancestral_cfg_pp: 5, lcm: 3, ddpm: 4,
  dpmpp_2m: 5, dpmpp_2m_cfg_pp: 6, lms: 7, ipndm: 7, ipndm_v: 7, deis: 6, res_multistep: 6, res_multistep_cfg_pp: 7,
  res_multistep_ancestral: 6, res_multistep_ancestral_cfg_pp: 7, gradient_estimation: 5, gradient_estimation_cfg_pp: 6,
  dpmpp_2m_sde: 6, dpmpp_2m_sde_gpu: 6, dpmpp_2m_sde_heun: 6, dpmpp_2m_sde_heun_gpu: 6, dpmpp_3m_sde: 7, dpmpp_3m_sde_gpu: 7,
  er_sde: 8, sa_solver: 8, sa_solver_pece: 10,
  heun: 6, heunpp2: 9, dpm_2: 5, dpm_2_ancestral: 6, exp_heun_2_x0: 5, exp_heun_2_x0_sde: 8, dpmpp_2s_ancestral: 6,
  dpmpp_2s_ancestral_cfg_pp: 8, dpmpp_sde: 8, dpmpp_sde_gpu: 8, seeds_2: 8, seeds_3: 12, dpm_fast: 8, dpm_adaptive: 12,
  uni_pc: 9, uni_pc_bh2: 9,
};
/** First-order and multistep samplers: the ones with the 2x-of-floor target. */
const TARGET = new Set(['euler', 'ddim', 'euler_cfg_pp', 'euler_ancestral', 'euler_ancestral_cfg_pp', 'lcm', 'ddpm', 'dpmpp_2m',
  'dpmpp_2m_cfg_pp', 'lms', 'ipndm', 'ipndm_v', 'deis', 'res_multistep', 'res_multistep_cfg_pp', 'res_multistep_ancestral',
  'res_multistep_ancestral_cfg_pp', 'gradient_estimation', 'gradient_estimation_cfg_pp', 'dpmpp_2m_sde', 'dpmpp_2m_sde_gpu',
  'dpmpp_2m_sde_heun', 'dpmpp_2m_sde_heun_gpu', 'dpmpp_3m_sde', 'dpmpp_3m_sde_gpu', 'er_sde', 'sa_solver', 'uni_pc', 'uni_pc_bh2']);

/** A plain element-by-element typed-array copy, written like the samplers' loops (arrays as parameters). */
function copyLoop(dst: Float32Array, src: Float32Array): void {
  const n = dst.length;
  for (let i = 0; i < n; i++) dst[i] = src[i]!;
}

/** Best-of-many-batches time of f(dst, src), in seconds per call. One call site for every size, so V8
 * cannot fold a particular pair of arrays into the compiled loop (which it does for a closure over
 * constant arrays, making such a copy about 3x faster than any loop over arrays it receives). */
function bestTime(f: (dst: Float32Array, src: Float32Array) => void, dst: Float32Array, src: Float32Array, perBatch: number, batches: number): number {
  for (let i = 0; i < 20; i++) f(dst, src);
  let best = Infinity;
  for (let batch = 0; batch < batches; batch++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < perBatch; i++) f(dst, src);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9 / perBatch);
  }
  return best;
}

const memcpy = (dst: Float32Array, src: Float32Array): void => dst.set(src);

/**
 * Copy bandwidths (bytes read + written per second) for a latent of n float32 values: the loop copy over
 * arrays passed as arguments (the floor we compare against: the same kind of loop the samplers run) and
 * TypedArray.set (memcpy, the machine's raw bandwidth, shown for reference).
 */
function copyFloors(n: number): { loop: number; memcpy: number } {
  const a = new Float32Array(n).fill(1), b = new Float32Array(n);
  // warm the loop on both sizes first so each size runs the same generic compiled code
  for (const m of [SHAPES[0]!, SHAPES[1]!].map((sh) => sh.reduce((x, y) => x * y, 1))) {
    const x = new Float32Array(m), y = new Float32Array(m);
    for (let i = 0; i < 30; i++) copyLoop(x, y);
  }
  const loop = bestTime(copyLoop, b, a, 20, 300);
  const mem = bestTime(memcpy, b, a, 20, 300);
  return { loop: (2 * n * 4) / loop, memcpy: (2 * n * 4) / mem };
}

/** A noise source that hands out one prepared tensor (noise generation is not the sampler's own cost). */
function fixedNoise(like: Tensor): NoiseSource {
  const n = comfyDefaultNoise(0).next(like, 1, 0.5);
  return { next: () => n, randnLike: () => n };
}

/** Best time per step over several runs (the minimum is the least disturbed by other load). */
async function timeSampler(name: string, shape: number[]): Promise<number> {
  const info = SAMPLERS.find((s) => s.name === name)!;
  const n = shape.reduce((a, b) => a * b, 1);
  const x: Tensor = { data: new Float32Array(n).fill(0.5), shape };
  const pred: Tensor = { data: new Float32Array(n).fill(0.1), shape };
  const free: Denoiser = async () => pred;
  const denoiser = info.needsUncond ? cfgFree(pred) : free;
  const opts = { noise: fixedNoise(x) };
  // warm-up: let V8 see every branch (first, middle and last steps) before timing
  for (let w = 0; w < 15; w++) await info.sampler(denoiser, x, SIGMAS, opts);
  let best = Infinity;
  const runs = shape[2]! >= 128 ? 60 : 80;
  for (let r = 0; r < runs; r++) {
    const t0 = process.hrtime.bigint();
    await info.sampler(denoiser, x, SIGMAS, opts);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / 1e9);
  }
  return best / STEPS;
}

/** A free guided denoiser: fixed prediction and unconditional prediction (no CFG arithmetic timed). */
function cfgFree(pred: Tensor): Denoiser {
  const d = (async () => pred) as unknown as Denoiser & { lastUncond: Tensor };
  d.lastUncond = pred;
  return d;
}

async function main(): Promise<void> {
  console.log('Sampler overhead per step (denoiser costs nothing), float32, best of several runs; 10-step AYS-like schedule.');
  for (const shape of SHAPES) {
    const n = shape.reduce((a, b) => a * b, 1);
    const floors = copyFloors(n);
    const bw = floors.loop;
    const latentBytes = n * 4;
    console.log(
      `\nshape ${shape.join('x')} (${(latentBytes / 1024).toFixed(0)} KiB per latent); floor = loop copy ${(bw / 1e9).toFixed(2)} GB/s read+write (memcpy via TypedArray.set: ${(floors.memcpy / 1e9).toFixed(2)} GB/s)`,
    );
    console.log(`${'sampler'.padEnd(31)} ${'ms/step'.padStart(8)} ${'MB/step'.padStart(8)} ${'floor ms'.padStart(9)} ${'x floor'.padStart(8)}  target`);
    for (const info of SAMPLERS) {
      const perStep = await timeSampler(info.name, shape);
      const bytes = (TRAFFIC[info.name] ?? NaN) * latentBytes;
      const floorMs = (bytes / bw) * 1e3;
      const ratio = (perStep * 1e3) / floorMs;
      const target = TARGET.has(info.name) ? (ratio <= 2 ? 'ok (<= 2x)' : 'MISSED') : '-';
      console.log(
        `${info.name.padEnd(31)} ${(perStep * 1e3).toFixed(3).padStart(8)} ${(bytes / 1e6).toFixed(2).padStart(8)} ${floorMs.toFixed(3).padStart(9)} ${ratio.toFixed(2).padStart(8)}  ${target}`,
      );
    }
  }
}

main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
