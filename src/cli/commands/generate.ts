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
import { checkOutputFiles, parseCfg, parseInteger, parseNumber, parseSeed, parseSigmaList, parseSteps, seedJson, seedValue, warn } from '../options.js';
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

/** Output paths: OUT for one image (or a grid), OUT-0, OUT-1, ... for a batch; the sidecar is OUT with .json. */
function outputPaths(out: string, count: number, overwrite: boolean | undefined): { images: string[]; sidecar: string } {
  const ext = extname(out);
  if (ext.toLowerCase() !== '.png') throw new UsageError(`--out must be a .png file name, got "${out}"`);
  const stem = out.slice(0, -ext.length);
  const images = count === 1 ? [out] : Array.from({ length: count }, (_, i) => `${stem}-${i}${ext}`);
  checkOutputFiles([...images, `${stem}.json`], { overwrite });
  return { images, sidecar: `${stem}.json` };
}

/** Sampling settings that cannot give an image, refused before the model loads. */
function checkDegenerate(opts: GenerateCliOptions, sigmas: number[] | undefined): void {
  if (sigmas && (opts.sampler === 'dpm_adaptive' || opts.sampler === 'dpm_fast') && sigmas.filter((s) => s > 0).length < 2) {
    throw new UsageError(
      `--sampler ${opts.sampler} integrates from the largest to the smallest non-zero sigma; --sigmas ${opts.sigmas} has only one non-zero sigma, so it would return the noise unchanged: give at least two non-zero sigmas`,
    );
  }
}

/** Class labels from repeated or comma-separated --class options. */
function classLabels(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((c) => c.split(',')).map((c) => c.trim()).filter((c) => c !== '');
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
  // Every option is checked, and the output paths too, before the model loads.
  const device = opts.device as Device;
  if (device !== 'cpu' && device !== 'cuda') throw new UsageError(`--device must be cpu or cuda, got "${opts.device}"`);
  const threads = opts.threads !== undefined ? parseInteger('--threads', opts.threads, { min: 0 }) : undefined;
  const steps = parseSteps(opts.steps);
  const width = opts.width !== undefined ? parseInteger('--width', opts.width, { min: 1 }) : undefined;
  const height = opts.height !== undefined ? parseInteger('--height', opts.height, { min: 1 }) : undefined;
  let batch = opts.batch !== undefined ? parseInteger('--batch', opts.batch, { min: 1 }) : undefined;
  const cfgGiven = opts.cfg !== undefined ? parseCfg(opts.cfg) : undefined;
  const denoise = opts.denoise !== undefined ? parseNumber('--denoise', opts.denoise, { above: 0, max: 1 }) : undefined;
  if (denoise !== undefined && denoise < 1 && opts.init === undefined) throw new UsageError('--denoise below 1 needs --init IMAGE (image-to-image)');
  const coeff = opts.coeff !== undefined ? parseNumber('--coeff', opts.coeff) : undefined;
  const sigmas = opts.sigmas !== undefined ? parseSigmaList(opts.sigmas) : undefined;
  checkDegenerate(opts, sigmas);
  const seed = parseSeed(opts.seed);
  const labels = classLabels(opts.class);
  if (labels.length > 1 && batch === undefined) batch = labels.length;
  const paths = outputPaths(opts.out, opts.grid ? 1 : (batch ?? 1), opts.overwrite);
  const init = opts.init !== undefined ? readImageFile(resolve(opts.init)) : undefined;
  const guidance = opts.guidance !== undefined ? parseNumber('--guidance', opts.guidance, { min: 0 }) : undefined;
  const maxSequenceLength = opts.maxSequenceLength !== undefined ? parseInteger('--max-sequence-length', opts.maxSequenceLength, { min: 1, max: 512 }) : undefined;

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
      seed: seedValue(seed),
      scheduler,
      sampler: opts.sampler,
      steps,
      cfg: cfgGiven ?? folder.recommendedCfg,
      ...(denoise !== undefined ? { denoise } : {}),
      ...(init ? { init } : {}),
      ...(sigmas ? { sigmas } : {}),
      ...(guidance !== undefined ? { guidance } : {}),
      ...(maxSequenceLength !== undefined ? { maxSequenceLength } : {}),
    }, device);
  }
  const pipeline: Pipeline = await loadPipeline(modelDir, { device, ...(threads !== undefined ? { threads } : {}) });
  try {
    const caps = pipeline.capabilities;
    const classConditional = caps.conditioning === 'class';
    if (!classConditional && opts.class) throw new UsageError('--class is for class-conditional models (the bundled one); this model takes --prompt');
    if (classConditional && (opts.prompt !== undefined || opts.negative !== undefined)) {
      throw new UsageError('this model is class-conditional: use --class NAME instead of --prompt/--negative');
    }
    let classLabel: GenerateOptions['classLabel'];
    if (classConditional) {
      if (labels.length > 0) classLabel = labels.length === 1 ? labels[0] : labels;
      if (opts.grid && labels.length === 0 && batch === undefined) batch = caps.classNames.length;
    }
    const cfg = cfgGiven ?? caps.recommendedCfg;
    const count = batch ?? 1;

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
        seed: seedValue(seed),
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
    written.push(...writeImages(result, paths.images, opts));
    const sidecar = {
      model: pipeline.modelName,
      modelDir,
      kind: pipeline.kind,
      ...(classConditional ? { classLabel: classLabel ?? null } : { prompt: opts.prompt ?? '', negativePrompt: opts.negative ?? null }),
      scheduler: sigmas ? 'custom sigmas' : scheduler,
      sampler: opts.sampler,
      steps: result.steps,
      cfg,
      ...(flowKind ? { guidance: (result as GenerateResult & { guidance?: number }).guidance ?? null, maxSequenceLength: (result as GenerateResult & { maxSequenceLength?: number }).maxSequenceLength ?? null } : {}),
      seed: seedJson(seed),
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
    for (const w of result.warnings) warn(w);
    if (opts.json) process.stdout.write(`${JSON.stringify({ images: written, sidecar: paths.sidecar, seed: seedJson(seed), steps: result.steps, sigmas: result.sigmas, nfe: result.nfe })}\n`);
    else process.stdout.write(`wrote ${written.join(', ')} and ${paths.sidecar} (seed ${String(seed)}, ${result.steps} steps, ${result.nfe} model calls)\n`);
  } finally {
    await pipeline.dispose();
  }
}

/** The PNGs: one per image, or (--grid) one tiled image with the first image's parameters. Returns the paths. */
function writeImages(result: GenerateResult, images: string[], opts: GenerateCliOptions): string[] {
  if (!opts.grid) {
    result.pngs.forEach((png, i) => writeFileSafe(images[i]!, png, { overwrite: opts.overwrite }));
    return images.slice(0, result.pngs.length);
  }
  const first = parseParameters(result.parameters[0]!);
  delete first.settings['Batch pos'];
  writeFileSafe(images[0]!, encodePng(tile(result.images), { text: { parameters: formatParameters(first) } }), { overwrite: opts.overwrite });
  return [images[0]!];
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
