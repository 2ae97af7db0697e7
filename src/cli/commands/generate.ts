/**
 * `ays generate`: images from a model folder (a diffusers/optimum ONNX export of SD1.5/SDXL, or the bundled
 * Fashion-MNIST model when --model is left out) with any schedule and sampler. Writes PNGs carrying A1111
 * `parameters` and a sidecar JSON with the exact sigmas; never replaces a file without --overwrite.
 */
import { existsSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Command } from 'commander';
import { SingleBar, Presets } from 'cli-progress';
import { UsageError } from '../errors.js';
import type { GenerateOptions, GenerateResult, Pipeline } from '../../pipelines/types.js';
import { GenerateOptionsError } from '../../pipelines/errors.js';
import { ModelError } from '../../runtime/errors.js';
import type { Device } from '../../runtime/session.js';
import { encodePng, formatParameters, ImageError, OverwriteError, parseParameters, readImageFile, writeFileSafe } from '../../image/png.js';
import type { Tensor } from '../../tensor/tensor.js';

/** The bundled model folder at the package root, wherever the package is installed (not the cwd). */
export function bundledModelDir(): string {
  return fileURLToPath(new URL('../../../../models/fashion-mnist', import.meta.url));
}

interface GenerateCliOptions {
  model?: string;
  prompt?: string;
  negative?: string;
  class?: string[];
  grid?: boolean;
  width?: string;
  height?: string;
  batch?: string;
  seed?: string;
  scheduler?: string;
  sampler: string;
  steps: string;
  cfg?: string;
  sigmas?: string;
  coeff?: string;
  init?: string;
  denoise?: string;
  out: string;
  overwrite?: boolean;
  device: string;
  threads?: string;
  json?: boolean;
  guidance?: string;
  maxSequenceLength?: string;
}

function intOption(name: string, value: string | undefined, min: number): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!/^-?\d+$/.test(value.trim()) || n < min) throw new UsageError(`--${name} must be an integer >= ${min}, got "${value}"`);
  return n;
}

function numberOption(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${name} must be a number, got "${value}"`);
  return n;
}

function parseSeed(value: string | undefined): number | bigint {
  if (value === undefined) return Math.floor(Math.random() * 2 ** 32);
  if (!/^\d+$/.test(value.trim())) throw new UsageError(`--seed must be a non-negative integer, got "${value}"`);
  const big = BigInt(value.trim());
  if (big >= 2n ** 64n) throw new UsageError(`--seed must be below 2^64, got ${value}`);
  return big <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(big) : big;
}

function parseSigmaList(value: string): number[] {
  const parts = value.split(/[\s,]+/).filter((s) => s !== '');
  const sigmas = parts.map(Number);
  if (sigmas.length < 2 || sigmas.some((s) => !Number.isFinite(s) || s < 0)) {
    throw new UsageError(`--sigmas must be at least two non-negative numbers separated by commas, got "${value}"`);
  }
  return sigmas;
}

/** Output paths: OUT for one image (or a grid), OUT-0, OUT-1, ... for a batch; the sidecar is OUT with .json. */
function outputPaths(out: string, count: number): { images: string[]; sidecar: string } {
  const ext = extname(out);
  if (ext.toLowerCase() !== '.png') throw new UsageError(`--out must be a .png file name, got "${out}"`);
  const stem = out.slice(0, -ext.length);
  const images = count === 1 ? [out] : Array.from({ length: count }, (_, i) => `${stem}-${i}${ext}`);
  return { images, sidecar: `${stem}.json` };
}

/** Tile [B, C, H, W] images into one [C, rows*H, cols*W] image, row-major, black where the grid is not full. */
function tile(images: Tensor): Tensor {
  const [b, c, h, w] = images.shape as [number, number, number, number];
  const cols = Math.ceil(Math.sqrt(b));
  const rows = Math.ceil(b / cols);
  const W = cols * w;
  const H = rows * h;
  const data = new Float32Array(c * H * W);
  for (let k = 0; k < b; k++) {
    const ox = (k % cols) * w;
    const oy = Math.floor(k / cols) * h;
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < h; y++) {
        const src = ((k * c + ch) * h + y) * w;
        data.set(images.data.subarray(src, src + w), (ch * H + oy + y) * W + ox);
      }
    }
  }
  return { data, shape: [c, H, W] };
}

async function run(opts: GenerateCliOptions): Promise<void> {
  const device = opts.device as Device;
  if (device !== 'cpu' && device !== 'cuda') throw new UsageError(`--device must be cpu or cuda, got "${opts.device}"`);
  const threads = intOption('threads', opts.threads, 0);
  const steps = intOption('steps', opts.steps, 1)!;
  const width = intOption('width', opts.width, 1);
  const height = intOption('height', opts.height, 1);
  let batch = intOption('batch', opts.batch, 1);
  const cfgGiven = numberOption('cfg', opts.cfg);
  const denoise = numberOption('denoise', opts.denoise);
  if (denoise !== undefined && (denoise < 0 || denoise > 1)) throw new UsageError(`--denoise must be in [0, 1], got ${denoise}`);
  if (denoise !== undefined && denoise < 1 && opts.init === undefined) throw new UsageError('--denoise below 1 needs --init IMAGE (image-to-image)');
  const coeff = numberOption('coeff', opts.coeff);
  const sigmas = opts.sigmas !== undefined ? parseSigmaList(opts.sigmas) : undefined;
  const seed = parseSeed(opts.seed);
  const init = opts.init !== undefined ? readImageFile(resolve(opts.init)) : undefined;
  const guidance = numberOption('guidance', opts.guidance);
  const maxSequenceLength = intOption('max-sequence-length', opts.maxSequenceLength, 1);

  const modelDir = opts.model !== undefined ? resolve(opts.model) : bundledModelDir();
  if (opts.model === undefined && !existsSync(modelDir)) throw new UsageError(`the bundled model is missing from this install (${modelDir}); pass --model DIR`);
  // loaded on use: onnxruntime-node is heavy and other commands do not need it
  const { loadPipeline } = await import('../../pipelines/load.js');
  // SD3/Flux: check the request against the folder before loading the (large) sessions
  const { detectFlowKind, readFlowFolder } = await import('../../pipelines/flow/folder.js');
  const flowKind = existsSync(modelDir) ? detectFlowKind(modelDir) : null;
  if (!flowKind && (guidance !== undefined || maxSequenceLength !== undefined)) {
    throw new UsageError(`${guidance !== undefined ? '--guidance' : '--max-sequence-length'} is for Stable Diffusion 3 and Flux models (docs/flow-models.md)`);
  }
  const scheduler = opts.scheduler ?? (flowKind ? 'simple' : 'ays');
  if (flowKind) {
    const { checkFlowOptions } = await import('../../pipelines/flow/pipeline.js');
    const folder = readFlowFolder(modelDir);
    checkFlowOptions(folder, {
      prompt: opts.prompt ?? '',
      ...(opts.negative !== undefined ? { negativePrompt: opts.negative } : {}),
      ...(width !== undefined ? { width } : {}),
      ...(height !== undefined ? { height } : {}),
      batchSize: batch ?? 1,
      seed,
      scheduler,
      sampler: opts.sampler,
      steps,
      cfg: cfgGiven ?? folder.recommendedCfg,
      ...(denoise !== undefined ? { denoise } : {}),
      ...(init ? { init } : {}),
      ...(sigmas ? { sigmas } : {}),
      ...(guidance !== undefined ? { guidance } : {}),
      ...(maxSequenceLength !== undefined ? { maxSequenceLength } : {}),
    });
  }
  const pipeline: Pipeline = await loadPipeline(modelDir, { device, ...(threads !== undefined ? { threads } : {}) });
  try {
    const classConditional = pipeline.kind === 'class-conditional';
    if (!classConditional && opts.class) throw new UsageError('--class is for class-conditional models (the bundled one); this model takes --prompt');
    if (classConditional && (opts.prompt !== undefined || opts.negative !== undefined)) {
      throw new UsageError('this model is class-conditional: use --class NAME instead of --prompt/--negative');
    }
    let classLabel: GenerateOptions['classLabel'];
    if (classConditional) {
      const names = (pipeline as Pipeline & { classNames?: readonly string[] }).classNames ?? [];
      const labels = (opts.class ?? []).flatMap((c) => c.split(',')).map((c) => c.trim()).filter((c) => c !== '');
      if (labels.length > 0) classLabel = labels.length === 1 ? labels[0] : labels;
      if (labels.length > 1 && batch === undefined) batch = labels.length;
      if (opts.grid && labels.length === 0 && batch === undefined) batch = names.length;
    }
    const card = (pipeline as Pipeline & { card?: { recommendedCfg?: number } }).card;
    const cfg = cfgGiven ?? (classConditional ? (card?.recommendedCfg ?? 3) : pipeline.capabilities.recommendedCfg);
    const count = batch ?? 1;
    const paths = outputPaths(opts.out, opts.grid ? 1 : count);
    if (!opts.overwrite) {
      for (const p of [...paths.images, paths.sidecar]) if (existsSync(p)) throw new OverwriteError(p);
    }

    const showBar = !opts.json && process.stderr.isTTY === true;
    const bar = showBar ? new SingleBar({ format: 'generate |{bar}| {value}/{total} steps  sigma {sigma}', hideCursor: true }, Presets.shades_classic) : null;
    let started = false;
    const controller = new AbortController();
    const onSigint = () => controller.abort();
    process.once('SIGINT', onSigint);
    let result: GenerateResult;
    try {
      result = await pipeline.generate({
        prompt: opts.prompt ?? '',
        ...(opts.negative !== undefined ? { negativePrompt: opts.negative } : {}),
        ...(classLabel !== undefined ? { classLabel } : {}),
        ...(width !== undefined ? { width } : {}),
        ...(height !== undefined ? { height } : {}),
        batchSize: count,
        seed,
        scheduler,
        sampler: opts.sampler,
        steps,
        cfg,
        ...(guidance !== undefined ? { guidance } : {}),
        ...(maxSequenceLength !== undefined ? { maxSequenceLength } : {}),
        ...(denoise !== undefined ? { denoise } : {}),
        ...(init ? { init } : {}),
        ...(sigmas ? { sigmas } : {}),
        ...(coeff !== undefined ? { coeff } : {}),
        signal: controller.signal,
        onStep: (step, total, sigma) => {
          if (!bar) return;
          if (!started) {
            bar.start(total, 0, { sigma: '' });
            started = true;
          }
          bar.update(step, { sigma: sigma.toPrecision(4) });
        },
      });
    } finally {
      process.off('SIGINT', onSigint);
      if (started) bar?.stop();
    }

    const written: string[] = [];
    if (opts.grid) {
      const first = parseParameters(result.parameters[0]!);
      delete first.settings['Batch pos'];
      const text = formatParameters(first);
      writeFileSafe(paths.images[0]!, encodePng(tile(result.images), { text: { parameters: text } }), { overwrite: opts.overwrite });
      written.push(paths.images[0]!);
    } else {
      result.pngs.forEach((png, i) => {
        writeFileSafe(paths.images[i]!, png, { overwrite: opts.overwrite });
        written.push(paths.images[i]!);
      });
    }
    const sidecar = {
      model: pipeline.modelName,
      modelDir,
      kind: pipeline.kind,
      ...(classConditional ? { classLabel: classLabel ?? null } : { prompt: opts.prompt ?? '', negativePrompt: opts.negative ?? null }),
      scheduler: sigmas ? 'custom sigmas' : scheduler,
      sampler: opts.sampler,
      steps: result.sigmas.length - 1,
      cfg,
      ...(flowKind ? { guidance: (result as GenerateResult & { guidance?: number }).guidance ?? null, maxSequenceLength: (result as GenerateResult & { maxSequenceLength?: number }).maxSequenceLength ?? null } : {}),
      seed: String(seed),
      denoise: denoise ?? 1,
      init: opts.init ?? null,
      size: { width: result.images.shape[3], height: result.images.shape[2] },
      batchSize: count,
      nfe: result.nfe,
      sigmas: result.sigmas,
      images: written,
      parameters: result.parameters,
    };
    writeFileSafe(paths.sidecar, `${JSON.stringify(sidecar, null, 2)}\n`, { overwrite: opts.overwrite });
    if (opts.json) process.stdout.write(`${JSON.stringify({ images: written, sidecar: paths.sidecar, sigmas: result.sigmas, nfe: result.nfe })}\n`);
    else process.stdout.write(`wrote ${written.join(', ')} and ${paths.sidecar} (seed ${String(seed)}, ${result.sigmas.length - 1} steps, ${result.nfe} model calls)\n`);
  } finally {
    await pipeline.dispose();
  }
}

function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

export function register(program: Command): void {
  program
    .command('generate')
    .description('Generate images from an ONNX model folder (SD1.5/SDXL/SD3/Flux optimum export, or the bundled model) with any schedule and sampler')
    .option('--model <dir>', 'model folder: a diffusers/optimum ONNX export, or a bundled-model folder (default: the bundled Fashion-MNIST model)')
    .option('--prompt <text>', 'prompt (text models)')
    .option('--negative <text>', 'negative prompt (text models)')
    .option('--class <name>', 'class name or index for class-conditional models; repeat or comma-separate for several', collect)
    .option('--grid', 'write the whole batch as one grid image (bundled model without --class: one of each class)')
    .option('--width <px>', 'width, a multiple of 8 (default: the model\'s native size)')
    .option('--height <px>', 'height, a multiple of 8')
    .option('--batch <n>', 'images per run (one noise tensor for the batch, as ComfyUI)')
    .option('--seed <n>', 'seed of the starting noise (same as ComfyUI\'s); random when left out')
    .option('--scheduler <name>', 'schedule name (ays, karras, normal, simple, gits, ...; default ays, simple for SD3/Flux)')
    .option('--sampler <name>', 'sampler name (euler, dpmpp_2m, ...)', 'dpmpp_2m')
    .option('--steps <n>', 'sampling steps', '10')
    .option('--cfg <scale>', 'classifier-free guidance scale (default 7; SD3 7, Flux 1 = no CFG; the bundled model\'s recommended value for it)')
    .option('--guidance <g>', 'Flux dev: embedded guidance (default 3.5); an error on models without a guidance embedding')
    .option('--max-sequence-length <n>', 'SD3/Flux: T5 tokens (default 256 for SD3, 512 for Flux)')
    .option('--sigmas <list>', 'explicit comma-separated sigmas instead of --scheduler/--steps')
    .option('--coeff <c>', 'GITS coefficient')
    .option('--init <image>', 'init image (PNG or JPEG) for image-to-image')
    .option('--denoise <d>', 'image-to-image strength in [0, 1] (needs --init)')
    .option('--out <file.png>', 'output PNG (a batch writes FILE-0.png, FILE-1.png, ...; the sidecar is FILE.json)', 'ays-output.png')
    .option('--overwrite', 'replace existing output files')
    .option('--device <device>', 'cpu or cuda', 'cpu')
    .option('--threads <n>', 'CPU threads per operator (default: onnxruntime\'s choice)')
    .option('--json', 'print a JSON summary; no progress bar')
    .action(async (opts: GenerateCliOptions) => {
      try {
        await run(opts);
      } catch (err) {
        // the user's inputs and files: say what is wrong without a stack trace
        if (err instanceof ModelError || err instanceof GenerateOptionsError || err instanceof ImageError || err instanceof OverwriteError) {
          throw new UsageError(err.message);
        }
        if (err instanceof Error && err.name === 'AbortError') throw new UsageError('cancelled');
        throw err;
      }
    });
}
