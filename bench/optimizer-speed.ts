/**
 * Speed of the AYS optimizer on a 2D testbed: 10-step schedule, 8192 Monte Carlo samples, through stage 3.
 *
 *   node dist/bench/optimizer-speed.js [--testbed gmm2d-8x8] [--runs 3]
 *
 * Prints one row per configuration: wall and CPU seconds (min and median over runs), denoiser rows evaluated and
 * rows per CPU second. "default" is `ays optimize --testbed T --solver dpmpp_2m` (output-distance early stop);
 * "fixed 5 sweeps" disables early stopping and runs 5 stage-1 sweeps, a fixed amount of work.
 */
import { cpus } from 'node:os';
import { testbed } from '../src/lab/testbeds.js';
import { optimizeAys, type AysOptions } from '../src/optimizer/ays.js';
import { outputDistanceEarlyStop, solverForVariant } from '../src/optimizer/early-stop.js';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] !== undefined ? process.argv[i + 1]! : fallback;
}
const tb = testbed(arg('testbed', 'gmm2d-8x8'));
const runs = Number(arg('runs', '3'));
const cpu = (): number => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
};
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)]!;

console.log(`AYS optimizer speed on ${tb.name}: ${cpus().length} x ${cpus()[0]?.model}, node ${process.version}`);
console.log('| configuration | wall s (min / median) | CPU s (min / median) | rows evaluated | rows per CPU s | stage 1 ended by |');
console.log('|---|---|---|---|---|---|');
for (const config of ['default', 'fixed 5 sweeps'] as const) {
  const walls: number[] = [];
  const cpus_: number[] = [];
  let evals = 0;
  let stopped = '';
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const c0 = cpu();
    const base: AysOptions = {
      denoiser: tb.denoiser, rowDenoiser: tb.rowDenoiser, data: (n, rng) => tb.sampleData(n, rng),
      sigmaMin: tb.sigmaMin, sigmaMax: tb.sigmaMax, steps: 10, samples: 8192, seed: r,
    };
    const res = config === 'default'
      ? await optimizeAys({ ...base, earlyStop: await outputDistanceEarlyStop({ denoiser: tb.denoiser, sigmaMax: tb.sigmaMax, sampleShape: [tb.mixture.dim], seed: r, solver: solverForVariant('2m') }) })
      : await optimizeAys({ ...base, earlyStop: false, maxSweeps: 5 });
    walls.push((performance.now() - t0) / 1000);
    cpus_.push(cpu() - c0);
    evals = res.evaluations;
    stopped = res.stoppedBy;
  }
  console.log(`| ${config} | ${Math.min(...walls).toFixed(1)} / ${median(walls).toFixed(1)} | ${Math.min(...cpus_).toFixed(1)} / ${median(cpus_).toFixed(1)} | ${evals} | ${(evals / median(cpus_)).toFixed(0)} | ${stopped} |`);
}
