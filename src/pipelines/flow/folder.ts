/**
 * The optimum ONNX folder of a flow-matching model (Stable Diffusion 3 / 3.5, Flux dev and schnell): what
 * model_index.json, scheduler/scheduler_config.json, transformer/config.json and vae_decoder/config.json say,
 * and where each component lives. Reading a folder opens no ONNX file (so `ays sigmas --model DIR` stays light);
 * every missing file or unsupported setting is one ModelError naming it, raised before any session is created.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ModelError } from '../../runtime/errors.js';
import { flowModelSampling, fluxModelSampling, type FlowModelSampling } from '../../model-sampling/flow.js';

export type FlowKind = 'sd3' | 'flux';

/** diffusers' FlowMatchEulerDiscreteScheduler settings that decide the schedule. */
export interface FlowSchedulerConfig {
  trainTimesteps: number;
  /** Fixed shift (SD3: 3.0; Flux schnell: 1.0). Unused when `useDynamicShifting`. */
  shift: number;
  /** Flux dev: mu from the image's packed sequence length, linear between (baseSeqLen, baseShift) and (maxSeqLen, maxShift). */
  useDynamicShifting: boolean;
  baseShift: number;
  maxShift: number;
  baseSeqLen: number;
  maxSeqLen: number;
}

export interface FlowFolder {
  dir: string;
  /** Folder name, recorded as the PNG's Model. */
  name: string;
  kind: FlowKind;
  /** e.g. 'Stable Diffusion 3', 'Flux (guidance-distilled, dev style)', 'Flux (schnell style)'. */
  description: string;
  scheduler: FlowSchedulerConfig;
  /** Latent channels (16). */
  latentChannels: number;
  /** VAE downsampling (2^(levels-1) = 8). */
  vaeScaleFactor: number;
  vaeScalingFactor: number;
  vaeShiftFactor: number;
  /** SD3: patch size of the transformer (2); Flux: 2 (the 2x2 latent packing). Sizes are multiples of vaeScaleFactor * this. */
  patchSize: number;
  /** SD3: pos_embed_max_size, the largest patch grid side the transformer takes. */
  posEmbedMaxSize?: number;
  /** Flux: the transformer has a guidance embedding (dev) and takes `guidance`. */
  guidanceEmbeds: boolean;
  /** Transformer attention heads and head width (memory estimate: attention scores on the CPU). */
  attentionHeads: number;
  attentionHeadDim: number;
  /** The VAE's widest (first) feature channels: the decoder's last feature map is this x H x W. */
  vaeFirstChannels: number;
  /** T5 sequence length the pipeline uses by default (diffusers: 256 for SD3, 512 for Flux). */
  defaultMaxSequenceLength: number;
  /** Native image side: transformer sample_size * vaeScaleFactor (1024 for SD3-medium and Flux). */
  defaultSize: number;
  /** Recommended CFG scale for `generate` when none is given (SD3: diffusers' 7; Flux: 1, no CFG). */
  recommendedCfg: number;
  /** Flux dev: diffusers' default embedded guidance (3.5). */
  defaultGuidance?: number;
  paths: {
    /** CLIP-L */
    textEncoder: string;
    tokenizer: string;
    /** SD3: CLIP-G; Flux: T5 */
    textEncoder2: string;
    tokenizer2: string;
    /** SD3: T5 (absent when model_index.json sets text_encoder_3 to null: zeros stand in, as in diffusers) */
    textEncoder3?: string;
    tokenizer3?: string;
    transformer: string;
    vaeDecoder: string;
    vaeEncoder?: string;
  };
}

interface ModelIndexJson {
  _class_name?: string;
  text_encoder_3?: unknown;
  transformer?: unknown;
}

function readJson<T>(path: string, label: string): T {
  if (!existsSync(path)) throw new ModelError(`${label}: file not found (${path})`);
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as T;
  } catch (err) {
    throw new ModelError(`${label}: not valid JSON (${(err instanceof Error ? err.message : String(err)).split('\n')[0]})`);
  }
}

/** The flow kind a model folder holds, or null when it is not an SD3/Flux folder (e.g. SD1.5, SDXL). */
export function detectFlowKind(dir: string): FlowKind | null {
  const indexPath = join(dir, 'model_index.json');
  if (!existsSync(indexPath)) return null;
  const index = readJson<ModelIndexJson>(indexPath, 'model_index.json');
  const cls = index._class_name ?? '';
  if (/StableDiffusion3/.test(cls)) return 'sd3';
  if (/Flux/.test(cls)) return 'flux';
  const t = Array.isArray(index.transformer) ? String(index.transformer[1] ?? '') : '';
  if (/SD3Transformer/.test(t)) return 'sd3';
  if (/FluxTransformer/.test(t)) return 'flux';
  return null;
}

function num(obj: Record<string, unknown>, key: string, fallback: number, label: string): number {
  const v = obj[key];
  if (v === undefined || v === null) return fallback;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelError(`${label}: ${key} must be a number, got ${JSON.stringify(v)}`);
  return v;
}

export function readFlowSchedulerConfig(path: string, label = 'scheduler/scheduler_config.json'): FlowSchedulerConfig {
  const raw = readJson<Record<string, unknown>>(path, label);
  const cls = raw._class_name;
  if (cls !== undefined && cls !== 'FlowMatchEulerDiscreteScheduler') {
    throw new ModelError(`${label}: _class_name "${String(cls)}" is not a flow-matching scheduler; expected FlowMatchEulerDiscreteScheduler`);
  }
  for (const flag of ['use_karras_sigmas', 'use_exponential_sigmas', 'use_beta_sigmas', 'invert_sigmas', 'stochastic_sampling']) {
    if (raw[flag] === true) throw new ModelError(`${label}: ${flag} true is not supported (ays chooses the schedule with --scheduler)`);
  }
  if (raw.shift_terminal !== undefined && raw.shift_terminal !== null) throw new ModelError(`${label}: shift_terminal is not supported`);
  if (raw.time_shift_type !== undefined && raw.time_shift_type !== 'exponential') {
    throw new ModelError(`${label}: time_shift_type "${String(raw.time_shift_type)}" is not supported; expected exponential`);
  }
  const cfg: FlowSchedulerConfig = {
    trainTimesteps: num(raw, 'num_train_timesteps', 1000, label),
    shift: num(raw, 'shift', 1, label),
    useDynamicShifting: raw.use_dynamic_shifting === true,
    baseShift: num(raw, 'base_shift', 0.5, label),
    maxShift: num(raw, 'max_shift', 1.15, label),
    baseSeqLen: num(raw, 'base_image_seq_len', 256, label),
    maxSeqLen: num(raw, 'max_image_seq_len', 4096, label),
  };
  if (!(cfg.shift > 0)) throw new ModelError(`${label}: shift must be positive, got ${cfg.shift}`);
  if (cfg.useDynamicShifting && !(cfg.maxSeqLen > cfg.baseSeqLen)) {
    throw new ModelError(`${label}: max_image_seq_len (${cfg.maxSeqLen}) must exceed base_image_seq_len (${cfg.baseSeqLen})`);
  }
  return cfg;
}

/** Read an SD3/Flux optimum folder. Throws a ModelError naming the first missing or malformed part. */
export function readFlowFolder(dirIn: string): FlowFolder {
  const dir = resolve(dirIn);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelError(`model folder not found: ${dirIn}`);
  const kind = detectFlowKind(dir);
  if (!kind) throw new ModelError(`${dirIn}: model_index.json does not describe a Stable Diffusion 3 or Flux pipeline`);
  const index = readJson<ModelIndexJson>(join(dir, 'model_index.json'), 'model_index.json');
  const label = kind === 'sd3' ? 'Stable Diffusion 3' : 'Flux';

  const need = (rel: string, what: string): string => {
    const p = join(dir, rel);
    if (!existsSync(p)) throw new ModelError(`${dirIn} is missing ${rel} (${what}); a ${label} optimum export has it (see docs/flow-models.md)`);
    return p;
  };
  const tokenizerDir = (rel: string, what: string): string => {
    const p = need(rel, what);
    if (!existsSync(join(p, 'tokenizer.json')) && !(existsSync(join(p, 'vocab.json')) && existsSync(join(p, 'merges.txt')))) {
      throw new ModelError(`${dirIn}/${rel} has no tokenizer.json (${what}); save the tokenizer with save_pretrained (a fast tokenizer writes tokenizer.json)`);
    }
    return p;
  };

  const scheduler = readFlowSchedulerConfig(need('scheduler/scheduler_config.json', 'the scheduler config'));
  const tConfig = readJson<Record<string, unknown>>(need('transformer/config.json', 'the transformer config'), 'transformer/config.json');
  const vConfig = readJson<Record<string, unknown>>(need('vae_decoder/config.json', 'the VAE config'), 'vae_decoder/config.json');
  const blocks = Array.isArray(vConfig.block_out_channels) ? vConfig.block_out_channels.length : 4;
  const vaeScaleFactor = 2 ** (blocks - 1);
  const vaeFirstChannels = Array.isArray(vConfig.block_out_channels) && typeof vConfig.block_out_channels[0] === 'number' ? vConfig.block_out_channels[0] : 128;
  const latentChannels = num(vConfig, 'latent_channels', 16, 'vae_decoder/config.json');
  const vaeScalingFactor = num(vConfig, 'scaling_factor', kind === 'sd3' ? 1.5305 : 0.3611, 'vae_decoder/config.json');
  const vaeShiftFactor = num(vConfig, 'shift_factor', kind === 'sd3' ? 0.0609 : 0.1159, 'vae_decoder/config.json');
  if (!(vaeScalingFactor > 0)) throw new ModelError(`vae_decoder/config.json: scaling_factor must be positive, got ${vaeScalingFactor}`);

  const tcfg = (key: string, fallback: number) => num(tConfig, key, fallback, 'transformer/config.json');
  const sampleSize = tcfg('sample_size', 128);
  const vaeEncoder = join(dir, 'vae_encoder', 'model.onnx');
  const common = {
    dir,
    name: basename(dir),
    kind,
    scheduler,
    latentChannels,
    vaeScaleFactor,
    vaeScalingFactor,
    vaeShiftFactor,
    defaultSize: sampleSize * vaeScaleFactor,
    vaeFirstChannels,
    attentionHeads: tcfg('num_attention_heads', 24),
    attentionHeadDim: tcfg('attention_head_dim', kind === 'sd3' ? 64 : 128),
  };
  if (kind === 'sd3') {
    const inChannels = tcfg('in_channels', 16);
    if (inChannels !== latentChannels) {
      throw new ModelError(`transformer/config.json: in_channels ${inChannels} differs from the VAE's latent_channels ${latentChannels}; the transformer and VAE do not belong together`);
    }
    const t5Null = Array.isArray(index.text_encoder_3) && index.text_encoder_3[0] === null;
    return {
      ...common,
      description: 'Stable Diffusion 3',
      patchSize: tcfg('patch_size', 2),
      posEmbedMaxSize: tcfg('pos_embed_max_size', 192),
      guidanceEmbeds: false,
      defaultMaxSequenceLength: 256,
      recommendedCfg: 7,
      paths: {
        textEncoder: need('text_encoder/model.onnx', 'CLIP-L text encoder'),
        tokenizer: tokenizerDir('tokenizer', 'CLIP-L tokenizer'),
        textEncoder2: need('text_encoder_2/model.onnx', 'CLIP-G text encoder'),
        tokenizer2: tokenizerDir('tokenizer_2', 'CLIP-G tokenizer'),
        ...(t5Null ? {} : { textEncoder3: need('text_encoder_3/model.onnx', 'T5 text encoder'), tokenizer3: tokenizerDir('tokenizer_3', 'T5 tokenizer') }),
        transformer: need('transformer/model.onnx', 'the transformer'),
        vaeDecoder: need('vae_decoder/model.onnx', 'the VAE decoder'),
        ...(existsSync(vaeEncoder) ? { vaeEncoder } : {}),
      },
    };
  }
  const inChannels = tcfg('in_channels', 64);
  if (inChannels !== latentChannels * 4) {
    throw new ModelError(
      `transformer/config.json: in_channels ${inChannels}, expected ${latentChannels * 4} (${latentChannels} latent channels packed 2x2); Flux Fill/Depth/Kontext variants are not supported`,
    );
  }
  if (tcfg('patch_size', 1) !== 1) throw new ModelError('transformer/config.json: a Flux transformer with patch_size other than 1 is not supported');
  const guidanceEmbeds = tConfig.guidance_embeds === true;
  return {
    ...common,
    description: guidanceEmbeds ? 'Flux (guidance-distilled, dev style)' : 'Flux (schnell style, no guidance embedding)',
    patchSize: 2,
    guidanceEmbeds,
    defaultMaxSequenceLength: 512,
    recommendedCfg: 1,
    ...(guidanceEmbeds ? { defaultGuidance: 3.5 } : {}),
    paths: {
      textEncoder: need('text_encoder/model.onnx', 'CLIP-L text encoder'),
      tokenizer: tokenizerDir('tokenizer', 'CLIP-L tokenizer'),
      textEncoder2: need('text_encoder_2/model.onnx', 'T5 text encoder'),
      tokenizer2: tokenizerDir('tokenizer_2', 'T5 tokenizer'),
      transformer: need('transformer/model.onnx', 'the transformer'),
      vaeDecoder: need('vae_decoder/model.onnx', 'the VAE decoder'),
      ...(existsSync(vaeEncoder) ? { vaeEncoder } : {}),
    },
  };
}

/**
 * diffusers' calculate_shift: mu linear in the packed image sequence length (H/16)(W/16), float64 as in Python.
 * 0.5 at 256 tokens (256x256) and 1.15 at 4096 (1024x1024) with FLUX.1-dev's config; extrapolated outside.
 */
export function fluxMu(cfg: FlowSchedulerConfig, width: number, height: number, vaeScaleFactor = 8): number {
  const seq = Math.floor(height / (vaeScaleFactor * 2)) * Math.floor(width / (vaeScaleFactor * 2));
  const m = (cfg.maxShift - cfg.baseShift) / (cfg.maxSeqLen - cfg.baseSeqLen);
  const b = cfg.baseShift - m * cfg.baseSeqLen;
  return seq * m + b;
}

/**
 * The model sampling of a flow folder at an image size: SD3 (and any fixed-shift config) uses the config's shift
 * with the model's time scale (SD3: timestep = 1000 sigma; Flux: timestep = sigma); Flux with dynamic shifting
 * uses mu from the image size (ComfyUI's ModelSamplingFlux with that shift). Schedules computed on it follow the
 * folder's own shift.
 */
export function flowFolderModelSampling(folder: Pick<FlowFolder, 'kind' | 'scheduler' | 'name' | 'vaeScaleFactor'>, width: number, height: number): FlowModelSampling {
  const s = folder.scheduler;
  if (folder.kind === 'flux' && s.useDynamicShifting) {
    const mu = fluxMu(s, width, height, folder.vaeScaleFactor);
    return fluxModelSampling({ shift: mu, name: `${folder.name} (flux, mu ${+mu.toFixed(6)} at ${width}x${height})` });
  }
  if (folder.kind === 'flux') {
    // fixed shift (schnell: 1), Flux's time scale (the transformer takes sigma)
    return flowModelSampling({ shift: s.shift, multiplier: 1, timesteps: 10000, name: `${folder.name} (flux, shift ${s.shift})` });
  }
  return flowModelSampling({ shift: s.shift, multiplier: s.trainTimesteps, timesteps: s.trainTimesteps, name: `${folder.name} (sd3, shift ${s.shift})` });
}
