/** `ays optimize`: compute an AYS (or GITS) schedule for a testbed and write it as JSON. */
import type { Command } from 'commander';
import { existsSync, writeFileSync } from 'node:fs';
import cliProgress from 'cli-progress';
import { UsageError } from '../errors.js';
import { testbedNames } from '../../lab/testbeds.js';
import { samplerNames } from '../../samplers/registry.js';
import { optimizeForTestbed, type EarlyStopKind } from '../../lab/optimize-testbed.js';
import type { KlubVariant } from '../../optimizer/types.js';

interface OptimizeCliOptions {
  testbed: string;
  solver: string;
  steps: string;
  baseSteps: string;
  out: string;
  seed: string;
  samples: string;
  method: string;
  variant?: string;
  earlyStop: string;
  maxSweeps?: string;
  patience?: string;
  coeff?: string;
  final: string;
  init: string;
  window: string;
  overwrite?: boolean;
  json?: boolean;
}

function int(value: string, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < min || n > max) {
    throw new UsageError(`${name} must be an integer in [${min}, ${max}], got "${value}"`);
  }
  return n;
}

function fmt(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '-' : v.toPrecision(4);
}

export function register(program: Command): void {
  program
    .command('optimize')
    .description('optimize a sampling schedule (AYS: KLUB coordinate search 10 -> 20 -> 40; or GITS) on a testbed')
    .requiredOption('--testbed <name>', `testbed: ${testbedNames.join(', ')}`)
    .option('--solver <name>', 'sampler the schedule is for (sets the early-stop solver)', 'dpmpp_2m')
    .option('-n, --steps <n>', 'steps of the written schedule (AYS interpolates its 40-step master)', '10')
    .option('--base-steps <n>', 'AYS stage-1 steps (master = 4x)', '10')
    .requiredOption('-o, --out <file>', 'output JSON file')
    .option('--seed <n>', 'random seed', '0')
    .option('--samples <n>', 'Monte Carlo data samples for the KLUB estimator', '8192')
    .option('--method <name>', 'ays or gits', 'ays')
    .option('--variant <name>', 'KLUB variant: data (first-order, paper), eps, 2m (default data)')
    .option('--early-stop <kind>', 'stage-1 early stopping: distance (output MSE to an ODE reference), nll (testbed NLL), sw2 (sliced W2 to true samples), none', 'distance')
    .option('--max-sweeps <n>', 'stage-1 sweep cap (default 8; 25 with --early-stop nll or sw2)')
    .option('--patience <n>', 'sweeps without improvement before stopping (default 1; 4 with nll or sw2)')
    .option('--coeff <x>', 'GITS coefficient (default 1.20)')
    .option('--final <kind>', 'runs scored by --early-stop nll end at zero (deployed lists) or sigma-min (paper convention)', 'zero')
    .option('--init <kind>', 'stage-1 start: paper (EDM rho 7; time-uniform on discrete models) or edm', 'paper')
    .option('--window <x>', 'stage-1 candidate window as a fraction of each bracket (0 < x <= 1)', '1')
    .option('--overwrite', 'replace --out if it exists')
    .option('--json', 'print the result JSON on stdout (no progress bar)')
    .action(async (opts: OptimizeCliOptions) => {
      if (!testbedNames.includes(opts.testbed)) throw new UsageError(`unknown testbed "${opts.testbed}"; valid testbeds: ${testbedNames.join(', ')}`);
      if (!samplerNames.includes(opts.solver)) throw new UsageError(`unknown solver "${opts.solver}"; valid samplers: ${samplerNames.join(', ')}`);
      if (opts.method !== 'ays' && opts.method !== 'gits') throw new UsageError(`--method must be ays or gits, got "${opts.method}"`);
      if (opts.variant !== undefined && !['data', 'eps', '2m'].includes(opts.variant)) throw new UsageError(`--variant must be data, eps or 2m, got "${opts.variant}"`);
      if (!['distance', 'nll', 'sw2', 'none'].includes(opts.earlyStop)) throw new UsageError(`--early-stop must be distance, nll, sw2 or none, got "${opts.earlyStop}"`);
      if (opts.final !== 'zero' && opts.final !== 'sigma-min') throw new UsageError(`--final must be zero or sigma-min, got "${opts.final}"`);
      if (opts.init !== 'paper' && opts.init !== 'edm') throw new UsageError(`--init must be paper or edm, got "${opts.init}"`);
      const window = Number(opts.window);
      if (!(window > 0 && window <= 1)) throw new UsageError(`--window must be a number in (0, 1], got "${opts.window}"`);
      const steps = int(opts.steps, '--steps', 1, 1000);
      const baseSteps = int(opts.baseSteps, '--base-steps', 2, 250);
      const seed = int(opts.seed, '--seed', 0);
      const samples = int(opts.samples, '--samples', 2, 10_000_000);
      const maxSweeps = opts.maxSweeps === undefined ? undefined : int(opts.maxSweeps, '--max-sweeps', 1, 1000);
      const patience = opts.patience === undefined ? undefined : int(opts.patience, '--patience', 1, 1000);
      let coeff: number | undefined;
      if (opts.coeff !== undefined) {
        coeff = Number(opts.coeff);
        if (!Number.isFinite(coeff) || coeff <= 0) throw new UsageError(`--coeff must be a positive number, got "${opts.coeff}"`);
      }
      if (existsSync(opts.out) && !opts.overwrite) throw new UsageError(`${opts.out} exists; pass --overwrite to replace it`);
      const showBar = !opts.json && process.stderr.isTTY === true;
      const bar = showBar
        ? new cliProgress.SingleBar(
            { format: 'ays optimize |{bar}| {percentage}% | stage {stage} sweep {sweep} | KLUB {klub} | early-stop {metric}', hideCursor: true, clearOnComplete: true, stream: process.stderr },
            cliProgress.Presets.shades_classic,
          )
        : null;
      bar?.start(1000, 0, { stage: 1, sweep: 0, klub: '-', metric: '-' });
      let file;
      try {
        file = await optimizeForTestbed({
          testbed: opts.testbed,
          method: opts.method,
          solver: opts.solver,
          steps,
          baseSteps,
          seed,
          samples,
          variant: opts.variant as KlubVariant | undefined,
          earlyStop: opts.earlyStop as EarlyStopKind,
          maxSweeps,
          patience,
          coeff,
          finalStep: opts.final as 'zero' | 'sigma-min',
          init: opts.init as 'paper' | 'edm',
          window,
          onProgress: (p) => {
            if (!bar) return;
            if ('phase' in p) bar.update(Math.round((1000 * p.done) / p.total), { stage: p.phase, sweep: '-', klub: '-', metric: '-' });
            else bar.update(Math.round(1000 * p.fraction), { stage: p.stage, sweep: p.sweep, klub: fmt(p.klub), metric: fmt(p.earlyStop) });
          },
        });
      } finally {
        bar?.stop();
      }
      const text = `${JSON.stringify(file, null, 2)}\n`;
      try {
        writeFileSync(opts.out, text, { flag: opts.overwrite ? 'w' : 'wx' });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw new UsageError(`${opts.out} exists; pass --overwrite to replace it`);
        throw new UsageError(`cannot write ${opts.out}: ${code ?? (err as Error).message}`);
      }
      if (opts.json) process.stdout.write(text);
      else {
        const made = file.made_by;
        process.stderr.write(
          `wrote ${opts.out}: ${file.method} schedule, ${file.steps} steps, ${String(made.seconds ?? '')} s` +
            (made.stopped_by ? `, stage 1 stopped by ${String(made.stopped_by)}` : '') +
            `\nsigmas ${file.sigmas.map((s) => Number(s.toPrecision(5))).join(', ')}\n`,
        );
      }
    });
}
