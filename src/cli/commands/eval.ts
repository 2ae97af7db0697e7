import { resolve } from 'node:path';
import type { Command } from 'commander';
import cliProgress from 'cli-progress';
import { UsageError } from '../errors.js';
import { defaultThreads } from '../../bundled/threads.js';
import { configJson, fmtFid, fmtPct } from '../../bundled/report.js';

function positiveInt(name: string, value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer, got "${value}"`);
  return n;
}

interface EvalOpts {
  model?: string;
  scheduler: string;
  sampler: string;
  steps: string;
  samples: string;
  cfg?: string;
  seed: string;
  batch: string;
  json?: boolean;
  threads?: string;
}

export function register(program: Command): void {
  program
    .command('eval')
    .description('Score one sampling configuration on the bundled model: FID on classifier features and class accuracy')
    .option('--model <dir>', 'class-conditional model folder (default: the bundled Fashion-MNIST model)')
    .option('--scheduler <name>', 'schedule (ays, karras, ..., or optimized for the schedule the model carries)', 'ays')
    .option('--sampler <name>', 'sampler', 'dpmpp_2m')
    .option('--steps <n>', 'sampling steps', '10')
    .option('--samples <n>', 'images to generate (classes balanced)', '1000')
    .option('--cfg <scale>', "classifier-free guidance scale (default: the model card's recommendation)")
    .option('--seed <n>', 'seed of the first batch (batch k uses seed + k)', '0')
    .option('--batch <n>', 'images per batch', '250')
    .option('--json', 'print JSON (no progress bar)')
    .option('--threads <n>', 'onnxruntime intra-op threads (default: all cores, or 1 when the machine is already busy)')
    .action(async (opts: EvalOpts) => {
      // loaded on use: onnxruntime-node is heavy and other commands do not need it
      const { loadClassConditionalPipeline } = await import('../../pipelines/class-conditional.js');
      const { defaultModelDir } = await import('../../bundled/model-files.js');
      const { loadEvaluator } = await import('../../bundled/evaluator.js');
      const { evaluateConfig, samplerStepsFor } = await import('../../bundled/run.js');
      const steps = positiveInt('--steps', opts.steps);
      const samples = positiveInt('--samples', opts.samples);
      if (samples < 2) throw new UsageError('--samples must be at least 2 (the metrics need a covariance)');
      const batch = positiveInt('--batch', opts.batch);
      const seed = Number(opts.seed);
      if (!/^\d+$/.test(opts.seed) || !Number.isSafeInteger(seed)) throw new UsageError(`--seed must be a non-negative integer, got "${opts.seed}"`);
      const threads = opts.threads === undefined ? defaultThreads() : positiveInt('--threads', opts.threads);
      const dir = opts.model ? resolve(opts.model) : defaultModelDir();
      const pipeline = await loadClassConditionalPipeline(dir, { threads });
      const evaluator = await loadEvaluator(dir, { threads });
      try {
        const cfg = opts.cfg === undefined ? pipeline.card.recommendedCfg : Number(opts.cfg);
        if (!Number.isFinite(cfg) || cfg < 0) throw new UsageError(`--cfg must be a non-negative number, got "${opts.cfg}"`);
        const config = { scheduler: opts.scheduler, sampler: opts.sampler, steps, cfg };
        const total = samplerStepsFor(pipeline, config, samples, batch);
        const bar =
          !opts.json && process.stderr.isTTY === true
            ? new cliProgress.SingleBar({ format: 'ays eval |{bar}| {percentage}% | {value}/{total} sampler steps | ETA {eta_formatted}', hideCursor: true, clearOnComplete: true }, cliProgress.Presets.shades_classic)
            : null;
        bar?.start(total, 0);
        const r = await evaluateConfig(pipeline, evaluator, config, { samples, seed, batch, onSamplerStep: () => bar?.increment() });
        bar?.stop();
        const ref = evaluator.reference;
        if (opts.json) {
          process.stdout.write(JSON.stringify({ model: pipeline.modelName, seed, ...configJson(r), real_vs_real: ref.realVsReal ?? null }, null, 1) + '\n');
          return;
        }
        const lines = [
          `model        ${pipeline.modelName}`,
          `config       ${r.scheduler} / ${r.sampler}, ${r.steps} steps (${r.nfe} network evaluations per image), cfg ${cfg}, seed ${seed}`,
          `samples      ${r.count} (classes balanced)`,
          `FID          ${fmtFid(r.fid)}  (classifier features vs ${ref.count || 'the'} real test images; lower is better` +
            (ref.realVsReal !== undefined ? `; real vs real ${ref.realVsRealCount ?? '?'}/${ref.realVsRealCount ?? '?'}: ${fmtFid(ref.realVsReal)}` : '') +
            ')',
          `class acc.   ${fmtPct(r.classAccuracy)}`,
          `time         ${r.seconds.toFixed(1)} s`,
        ];
        process.stdout.write(lines.join('\n') + '\n');
      } finally {
        await pipeline.dispose();
        await evaluator.release();
      }
    });
}
