// Brownian-tree noise speed: milliseconds per sampler step for brownianTreeNoise against one fresh normal
// tensor per step from the torch-compatible generator (ComfyUI's seed + 1 stream), at latent sizes.
// Two query patterns: one draw per step (dpmpp_2m_sde: sigma -> sigma_next) and two draws per step through a
// midpoint in log sigma (dpmpp_sde: sigma -> s -> sigma_next).
// Run: npx tsc -p tsconfig.json && node dist/bench/brownian-noise.js [steps]
import { brownianTreeNoise, torchGeneratorNoise } from '../src/noise/sources.js';
import type { NoiseSource } from '../src/samplers/types.js';
import type { Tensor } from '../src/tensor/tensor.js';

const SHAPES: number[][] = [[1, 4, 128, 128], [1, 4, 64, 64]];
const steps = Number(process.argv[2] ?? 11); // sigmas, so 10 steps
// Karras schedule (rho 7) between SDXL's sigma_min and sigma_max
const sigmaMin = 0.0292, sigmaMax = 14.6146;
const sigmas: number[] = [];
for (let i = 0; i < steps; i++) {
  const f = i / (steps - 1);
  sigmas.push((sigmaMax ** (1 / 7) + f * (sigmaMin ** (1 / 7) - sigmaMax ** (1 / 7))) ** 7);
}

/** [wall, process CPU] milliseconds per step (CPU time is steadier on a busy machine). */
function runOnce(noise: NoiseSource, like: Tensor, midpoints: boolean): [number, number] {
  const t0 = performance.now(), c0 = process.cpuUsage();
  let sink = 0;
  for (let i = 0; i < sigmas.length - 1; i++) {
    const s = sigmas[i]!, t = sigmas[i + 1]!;
    if (midpoints) {
      const m = Math.sqrt(s * t);
      sink += noise.next(like, s, m).data[0]!;
      sink += noise.next(like, m, t).data[0]!;
    } else {
      sink += noise.next(like, s, t).data[0]!;
    }
  }
  if (!Number.isFinite(sink)) throw new Error('non-finite noise');
  const cpu = process.cpuUsage(c0);
  return [(performance.now() - t0) / (sigmas.length - 1), (cpu.user + cpu.system) / 1000 / (sigmas.length - 1)];
}

const rows: string[] = [];
rows.push(`| shape | noise | draws/step | wall ms/step | CPU ms/step |`);
rows.push(`|---|---|---|---|---|`);
for (const shape of SHAPES) {
  const n = shape.reduce((a, b) => a * b, 1);
  const like: Tensor = { data: new Float32Array(n), shape };
  for (const midpoints of [false, true]) {
    const cases: [string, () => NoiseSource][] = [
      ['torch randn (seed + 1 stream)', () => torchGeneratorNoise(1)],
      ['brownianTreeNoise', () => brownianTreeNoise({ seed: 1, sigmaMin, sigmaMax })],
    ];
    for (const [label, make] of cases) {
      let wall = Infinity, cpu = Infinity;
      for (let rep = 0; rep < 5; rep++) {
        const [w, c] = runOnce(make(), like, midpoints);
        wall = Math.min(wall, w);
        cpu = Math.min(cpu, c);
      }
      rows.push(`| ${shape.join('x')} | ${label} | ${midpoints ? 2 : 1} | ${wall.toFixed(2)} | ${cpu.toFixed(2)} |`);
    }
  }
}
console.log(`${steps - 1} steps, Karras sigmas ${sigmaMax} -> ${sigmaMin}; best of 5 runs, float32 tensors\n`);
console.log(rows.join('\n'));
