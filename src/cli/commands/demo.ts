import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { defaultThreads } from '../../bundled/threads.js';
import { configJson, demoSummary, fmtFidCi, fmtPct, formatDemoTables } from '../../bundled/report.js';
import { checkOutputFiles, commandWithOptions, type OptionRow, parseCfg, parseInteger, parseList, parseSeed, parseSteps, seedJson, writeOutputFile } from '../options.js';

export const DEMO_SCHEDULERS = ['ays', 'karras', 'normal', 'exponential', 'sgm_uniform', 'simple', 'beta', 'gits', 'optimized'];
export const DEMO_STEPS = [4, 6, 8, 10, 20];

/** ays-demo.png, or ays-demo-2.png, ... : the first name that does not exist (the default never overwrites). */
function freshName(base: string): string {
  if (!existsSync(base)) return base;
  const stem = base.replace(/\.png$/i, '');
  for (let i = 2; ; i++) {
    const p = `${stem}-${i}.png`;
    if (!existsSync(p)) return p;
  }
}

interface DemoOpts {
  model?: string;
  sampler: string;
  cfg?: string;
  samples: string;
  seed: string;
  schedulers: string;
  steps: string;
  refSteps: string;
  refScheduler: string;
  out?: string;
  overwrite?: boolean;
  json?: boolean;
  threads?: string;
}

/** The options of `ays demo`: flags, help, default. */
const DEMO_OPTIONS: readonly OptionRow[] = [
  ['--model <dir>', 'class-conditional model folder (default: the bundled Fashion-MNIST model)'],
  ['--sampler <name>', 'sampler for every cell', 'dpmpp_2m'],
  ['--cfg <scale>', "classifier-free guidance scale (default: the model card's recommendation)"],
  ['--samples <n>', 'images per cell for the metrics (classes balanced; the grid shows the first 10)', '40'],
  ['--seed <n>', 'seed of the initial noise (the same in every cell)', '0'],
  ['--schedulers <list>', 'rows, comma-separated', DEMO_SCHEDULERS.join(',')],
  ['--steps <list>', 'columns, comma-separated step counts', DEMO_STEPS.join(',')],
  ['--ref-steps <n>', 'steps of the reference column', '100'],
  ['--ref-scheduler <name>', 'schedule of the reference column', 'karras'],
  ['--out <file>', 'grid PNG to write (default: ays-demo.png, or ays-demo-2.png ... when that exists)'],
  ['--overwrite', 'replace --out when it exists'],
  ['--json', 'print the results as JSON (no table, no progress bar)'],
  ['--threads <n>', 'onnxruntime intra-op threads (default: all cores, or 1 when the machine is already busy)'],
];

export function register(program: Command): void {
  const command = commandWithOptions(program, 'demo', 'Compare schedules at few steps on the bundled Fashion-MNIST model: a labelled grid PNG and a table of FID-on-features and class accuracy', DEMO_OPTIONS);
  command.action(async (opts: DemoOpts) => {
    // loaded on use: onnxruntime-node and sharp are heavy and other commands do not need them
    const { loadClassConditionalPipeline } = await import('../../pipelines/class-conditional.js');
    const { defaultModelDir } = await import('../../bundled/model-files.js');
    const { loadEvaluator } = await import('../../bundled/evaluator.js');
    const { runDemo, samplerStepsFor } = await import('../../bundled/run.js');
    const { renderGrid } = await import('../../bundled/grid.js');
    // every option, and --out by the shared output policy, before the models load
    const samples = parseInteger('--samples', opts.samples, { min: 2 }); // the metrics need a covariance
    const seed = parseSeed(opts.seed);
    const schedulers = parseList('--schedulers', opts.schedulers);
    const stepCounts = parseList('--steps', opts.steps).map((s) => parseSteps(s));
    const refSteps = parseSteps(opts.refSteps, '--ref-steps');
    const threads = opts.threads === undefined ? defaultThreads() : parseInteger('--threads', opts.threads, { min: 1 });
    const cfgOption = opts.cfg === undefined ? undefined : parseCfg(opts.cfg);
    const out = opts.out ? checkOutputFiles([opts.out], { overwrite: opts.overwrite === true })[0]! : freshName(resolve('ays-demo.png'));

    const dir = opts.model ? resolve(opts.model) : defaultModelDir();
    const pipeline = await loadClassConditionalPipeline(dir, { threads });
    const evaluator = await loadEvaluator(dir, { threads });
    try {
      const cfg = cfgOption ?? pipeline.card.recommendedCfg;
      // Check every name before spending minutes: an unknown scheduler or sampler is a usage error.
      for (const s of schedulers) {
        if (s === 'optimized') continue;
        pipeline.sigmasFor(s, stepCounts[0]!, { sampler: opts.sampler });
      }
      const showBar = !opts.json && process.stderr.isTTY === true;
      let total = samplerStepsFor(pipeline, { scheduler: opts.refScheduler, sampler: opts.sampler, steps: refSteps, cfg }, samples, samples);
      for (const s of schedulers) {
        for (const steps of stepCounts) {
          try {
            total += samplerStepsFor(pipeline, { scheduler: s, sampler: opts.sampler, steps, cfg }, samples, samples);
          } catch {
            // a row that cannot run (no optimized schedule) is skipped and reported
          }
        }
      }
      const bar = showBar
        ? new cliProgress.SingleBar(
            { format: 'ays demo |{bar}| {percentage}% | {value}/{total} sampler steps | {cell} | ETA {eta_formatted}', hideCursor: true, clearOnComplete: true },
            cliProgress.Presets.shades_classic,
          )
        : null;
      bar?.start(total, 0, { cell: '' });
      // not a terminal (a log, CI): one plain line per cell on stderr instead of the bar; nothing with --json
      const plain = !opts.json && !showBar;
      const t0 = performance.now();
      let cellsDone = 0;
      const cellsTotal = 1 + schedulers.length * stepCounts.length;
      const result = await runDemo(pipeline, evaluator, {
        schedulers,
        stepCounts,
        referenceSteps: refSteps,
        referenceScheduler: opts.refScheduler,
        sampler: opts.sampler,
        cfg,
        samples,
        seed,
        batch: samples,
        onSamplerStep: () => bar?.increment(),
        onCellStart: (scheduler, steps) => bar?.update({ cell: `${scheduler}, ${steps} steps` }),
        onCell: (_r, scheduler, steps) => {
          cellsDone++;
          if (plain) process.stderr.write(`ays demo: ${cellsDone}/${cellsTotal} cells (${scheduler}, ${steps} steps) ${Math.round((performance.now() - t0) / 1000)} s\n`);
        },
      });
      bar?.stop();

      const refCaption = `FID ${fmtFidCi(result.reference)} · ${fmtPct(result.reference.classAccuracy)}`;
      const png = await renderGrid({
        title: `ays demo: ${pipeline.modelName}, sampler ${opts.sampler}, cfg ${cfg}, seed ${seed}; rows = schedules, columns = steps`,
        subtitle: `under each cell: FID on classifier features (${samples} images, lower is better) [bootstrap 95% interval] · class accuracy · RMS pixel difference to the ${refSteps}-step reference from the same noise; the first 10 images (one per class) are shown`,
        rowLabels: schedulers,
        colLabels: [...stepCounts.map((s) => `${s} steps`), `${refSteps} steps (${opts.refScheduler}, ref)`],
        cells: result.cells.map((row, r) => [...row.map((c) => c?.shown ?? null), schedulers[r]! in result.skipped ? null : result.reference.shown]),
        captions: result.cells.map((row, r) => [...row.map((c) => (c ? `FID ${fmtFidCi(c)} · ${fmtPct(c.classAccuracy)} · rms ${c.rmseToReference!.toFixed(3)}` : 'n/a')), schedulers[r]! in result.skipped ? 'n/a' : refCaption]),
        tilesPerRow: 5,
        scale: 2,
      });
      writeOutputFile(out, png, opts.overwrite);

      if (opts.json) {
        process.stdout.write(
          JSON.stringify(
            {
              model: pipeline.modelName,
              sampler: opts.sampler,
              cfg,
              seed: seedJson(seed),
              samples_per_cell: samples,
              grid: out,
              seconds: +result.seconds.toFixed(2),
              real_vs_real: evaluator.reference.realVsReal ?? null,
              reference: configJson(result.reference),
              cells: result.cells.flat().filter((c) => c !== null).map((c) => configJson(c!)),
              skipped: result.skipped,
              summary: demoSummary(result, stepCounts),
            },
            null,
            1,
          ) + '\n',
        );
      } else {
        process.stdout.write(`${formatDemoTables(result, schedulers, stepCounts, evaluator.reference)}\n`);
        process.stdout.write(`grid: ${out}  (${result.seconds.toFixed(1)} s, sampler ${opts.sampler}, cfg ${cfg}, ${samples} images per cell)\n`);
      }
    } finally {
      await pipeline.dispose();
      await evaluator.release();
    }
  });
}
