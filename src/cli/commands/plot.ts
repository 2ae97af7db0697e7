/** `ays plot`: one chart of sigma (log scale) against step for several schedules, as PNG or SVG. */
import type { Command } from 'commander';
import { extname } from 'node:path';
import { UsageError } from '../errors.js';
import { lineChartSvg, svgToPng } from '../../plot/line-chart.js';
import { modelSamplingNames } from '../../model-sampling/presets.js';
import { computeSigmas, type SigmasOptions } from './sigmas.js';
import { checkOutputFiles, parseList, writeOutputFile } from '../options.js';

interface PlotOptions extends Omit<SigmasOptions, 'scheduler' | 'json'> {
  scheduler: string;
  out: string;
  overwrite?: boolean;
  title?: string;
}

export function register(program: Command): void {
  program
    .command('plot')
    .description('plot sigma (log scale) against step for one or more schedules, to .png or .svg')
    .option('-m, --model <name>', `model sampling preset: ${modelSamplingNames.join(', ')}`, 'sdxl')
    .requiredOption('-s, --scheduler <names>', 'comma-separated schedule names, e.g. ays,karras,normal,sgm_uniform')
    .option('-n, --steps <n>', 'number of steps', '10')
    .option('-d, --denoise <x>', 'denoise in [0, 1]', '1')
    .option('--coeff <x>', 'GITS coefficient 0.80..1.50')
    .option('--sampler <name>', 'KSampler sampler name (penultimate-sigma rule)')
    .option('--sigmas <list>', 'sigmas for the "custom" entry')
    .option('--from <file>', 'JSON file with sigmas for the "custom" entry')
    .requiredOption('-o, --out <file>', 'output file, .png or .svg')
    .option('--overwrite', 'replace the output file if it exists')
    .option('--force', 'plot a --from schedule even when it was made for another sigma range')
    .option('--title <text>', 'chart title')
    .action(async (opts: PlotOptions) => {
      const ext = extname(opts.out).toLowerCase();
      if (ext !== '.png' && ext !== '.svg') throw new UsageError(`--out must end in .png or .svg, got "${opts.out}"`);
      checkOutputFiles([opts.out], { overwrite: opts.overwrite });
      const names = parseList('--scheduler', opts.scheduler);
      const hasCustomList = opts.sigmas !== undefined || opts.from !== undefined;
      if (hasCustomList && !names.includes('custom')) throw new UsageError('--sigmas/--from are plotted as "custom": add custom to --scheduler');
      const series = names.map((name) => {
        const isCustom = name === 'custom';
        const r = computeSigmas(
          {
            ...opts,
            coeff: name === 'gits' ? opts.coeff : undefined,
            steps: isCustom ? undefined : opts.steps,
            sigmas: isCustom ? opts.sigmas : undefined,
            from: isCustom ? opts.from : undefined,
          },
          name,
        );
        const label = name === 'gits' ? `gits (coeff ${r.coeff?.toFixed(2)})` : name;
        return { label, points: r.sigmas.map((s, i) => [i, s] as [number, number]) };
      });
      const svg = lineChartSvg({
        title: opts.title ?? `Noise schedules for ${opts.model}, ${opts.steps ?? 10} steps`,
        xLabel: 'step',
        yLabel: 'sigma',
        logY: true,
        series,
      });
      const data = ext === '.svg' ? Buffer.from(svg, 'utf8') : await svgToPng(svg);
      writeOutputFile(opts.out, data, opts.overwrite);
      process.stderr.write(`wrote ${opts.out}\n`);
    });
}
