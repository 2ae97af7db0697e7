/** `ays bench quality`: run samplers x schedules x step counts on a testbed and score them with exact metrics. */
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { extname } from 'node:path';
import cliProgress from 'cli-progress';
import { UsageError } from '../errors.js';
import { testbedNames } from '../../lab/testbeds.js';
import { samplerNames } from '../../samplers/registry.js';
import { schedulerNames } from '../../schedules/registry.js';
import { qualityTable, runQuality, qualityPlotSvg, type FinalStep, type QualityMetric } from '../../lab/quality.js';
import { svgToPng } from '../../plot/line-chart.js';
import { checkOutputFiles, parseInteger, parseList, parseSeed, parseSteps, safeSeed, writeOutputFile } from '../options.js';

interface BenchQualityOptions {
  testbed: string;
  samplers: string;
  schedulers: string;
  steps: string;
  count: string;
  seed: string;
  final: string;
  metric?: string;
  plot?: string | false;
  overwrite?: boolean;
  json?: boolean;
}

const COMFY_NINE = ['simple', 'sgm_uniform', 'karras', 'exponential', 'ddim_uniform', 'beta', 'normal', 'linear_quadratic', 'kl_optimal'];

const list = (value: string, name: string): string[] => parseList(name, value);

export function register(program: Command): void {
  const bench = program.command('bench').description('benchmarks');
  bench
    .command('quality')
    .description('score schedules on a testbed with exact metrics (NLL, RMSE to an ODE reference, sliced W2, Gaussian KL)')
    .option('--testbed <name>', `testbed: ${testbedNames.join(', ')}`, 'gmm2d-8x8')
    .option('--samplers <list>', 'comma-separated sampler names', 'euler,dpmpp_2m,dpmpp_2m_sde')
    .option('--schedulers <list>', 'comma-separated scheduler names, or custom:FILE for an `ays optimize` result', COMFY_NINE.join(','))
    .option('--steps <list>', 'comma-separated step counts', '4,6,8,10,15,20')
    .option('--count <n>', 'samples per run', '8192')
    .option('--seed <n>', 'seed of the starting noise and sampler noise', '0')
    .option('--final <kind>', 'zero (lists as deployed, ending in 0) or sigma-min (paper convention: n+1 values ending at sigma_min)', 'zero')
    .option('--metric <name>', 'metric of the table and plot: nll, rmse, sw2, kl (default kl on gaussian, else nll)')
    .option('--plot <file>', 'error-vs-steps plot, .svg or .png (default quality-<testbed>.svg)')
    .option('--no-plot', 'do not write a plot')
    .option('--overwrite', 'replace the plot file if it exists')
    .option('--json', 'print {results: [...]} on stdout instead of the table')
    .action(async (opts: BenchQualityOptions) => {
      if (!testbedNames.includes(opts.testbed)) throw new UsageError(`unknown testbed "${opts.testbed}"; valid testbeds: ${testbedNames.join(', ')}`);
      const samplers = list(opts.samplers, '--samplers');
      for (const s of samplers) if (!samplerNames.includes(s)) throw new UsageError(`unknown sampler "${s}"; valid samplers: ${samplerNames.join(', ')}`);
      const schedulers = list(opts.schedulers, '--schedulers');
      for (const s of schedulers) {
        if (s.startsWith('custom:')) {
          if (!existsSync(s.slice(7))) throw new UsageError(`schedule file "${s.slice(7)}" does not exist`);
        } else if (!schedulerNames.includes(s) || s === 'custom') {
          throw new UsageError(`unknown scheduler "${s}"; valid: ${schedulerNames.filter((n) => n !== 'custom').join(', ')}, or custom:FILE`);
        }
      }
      const steps = list(opts.steps, '--steps').map((v) => parseSteps(v));
      const count = parseInteger('--count', opts.count, { min: 16, max: 1_000_000 });
      const seed = safeSeed(parseSeed(opts.seed));
      if (opts.final !== 'zero' && opts.final !== 'sigma-min') throw new UsageError(`--final must be zero or sigma-min, got "${opts.final}"`);
      const metric = (opts.metric ?? (opts.testbed === 'gaussian' ? 'kl' : 'nll')) as QualityMetric;
      if (!['nll', 'rmse', 'sw2', 'kl'].includes(metric)) throw new UsageError(`--metric must be nll, rmse, sw2 or kl, got "${opts.metric}"`);
      if (metric === 'kl' && opts.testbed !== 'gaussian') throw new UsageError('--metric kl is only exact on the gaussian testbed');
      const plotFile = opts.plot === false ? null : (opts.plot ?? `quality-${opts.testbed}.svg`);
      if (plotFile) {
        const ext = extname(plotFile).toLowerCase();
        if (ext !== '.svg' && ext !== '.png') throw new UsageError(`--plot must end in .svg or .png, got "${plotFile}"`);
        checkOutputFiles([plotFile], { overwrite: opts.overwrite, option: '--plot' });
      }
      const total = samplers.length * schedulers.length * steps.length;
      const bar = !opts.json && process.stderr.isTTY === true
        ? new cliProgress.SingleBar({ format: 'ays bench quality |{bar}| {value}/{total} runs | {sampler} {scheduler} {steps}', hideCursor: true, clearOnComplete: true, stream: process.stderr }, cliProgress.Presets.shades_classic)
        : null;
      bar?.start(total, 0, { sampler: '', scheduler: '', steps: '' });
      let done = 0;
      let rows;
      try {
        rows = await runQuality({
          testbed: opts.testbed, samplers, schedulers, steps, count, seed, finalStep: opts.final as FinalStep,
          onRow: (r) => {
            if (r.metric === 'nll') bar?.update(++done, { sampler: r.sampler, scheduler: r.scheduler, steps: r.steps });
          },
        });
      } finally {
        bar?.stop();
      }
      if (opts.json) {
        process.stdout.write(`${JSON.stringify({ results: rows.map(({ sampler, scheduler, steps: n, metric: m, value }) => ({ sampler, scheduler, steps: n, metric: m, value })) }, null, 2)}\n`);
      } else {
        process.stdout.write(qualityTable(rows, metric));
      }
      if (plotFile) {
        const svg = qualityPlotSvg(rows, opts.testbed, metric);
        const data = plotFile.toLowerCase().endsWith('.png') ? await svgToPng(svg) : Buffer.from(svg, 'utf8');
        writeOutputFile(plotFile, data, opts.overwrite);
        if (!opts.json) process.stderr.write(`wrote ${plotFile}\n`);
      }
    });
}
