/**
 * The diffusers/optimum ONNX model folder: model_index.json, scheduler/scheduler_config.json, one folder per
 * component with model.onnx (+ model.onnx_data for weights over 2 GB) and config.json, tokenizer folders.
 * Reads what the folder says; opening and checking the ONNX files is the pipeline's job.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import { ModelError, readJsonFile } from '../runtime/session.js';
import type { BetaSchedule } from '../model-sampling/betas.js';
import type { Prediction } from '../model-sampling/types.js';

export interface SchedulerConfig {
  betaSchedule: BetaSchedule;
  betaStart: number;
  betaEnd: number;
  trainTimesteps: number;
  prediction: Extract<Prediction, 'eps' | 'v'>;
  /** diffusers' timestep_spacing; ComfyUI-style schedules do not use it, recorded for information. */
  timestepSpacing: string;
  zeroTerminalSnr: boolean;
}

export interface ModelFolder {
  dir: string;
  /** Folder name, recorded as the PNG's Model. */
  name: string;
  kind: 'stable-diffusion' | 'stable-diffusion-xl';
  scheduler: SchedulerConfig;
  /** VAE scaling factor from vae_decoder/config.json (0.18215 SD1.x, 0.13025 SDXL). */
  vaeScalingFactor: number;
  /** VAE shift factor (0 for SD1.x/SDXL). */
  vaeShiftFactor: number;
  /** vae_decoder/config.json force_upcast (diffusers' default true): the VAE overflows in float16 (SDXL's does). */
  vaeForceUpcast: boolean;
  /** SDXL: zero the unconditional embeddings when no negative prompt is given (diffusers' rule). */
  forceZerosForEmptyPrompt: boolean;
  /** UNet config sample_size * 8: the native resolution. */
  defaultSize: number;
  /** The UNet's architecture as unet/config.json gives it (SD1.x/SDXL defaults where it is silent). */
  unet: UnetArchitecture;
  paths: {
    textEncoder: string;
    textEncoder2?: string;
    tokenizer: string;
    tokenizer2?: string;
    unet: string;
    vaeDecoder: string;
    /** vae_decoder_fp32/model.onnx: a float32 VAE decoder next to a float16 export (SDXL, see docs/stable-diffusion.md). */
    vaeDecoderFp32?: string;
    vaeEncoder?: string;
  };
}

export interface UnetArchitecture {
  /** Downsampling stages (diffusers: one per down block but the last). */
  downsamplers: number;
  /** Width and height must be multiples of 8 x 2^downsamplers, or a skip connection's Concat fails. */
  sizeMultiple: number;
  blockOutChannels: number[];
  /** Level (0 = full latent resolution) of the first block with attention. */
  firstAttentionLevel: number;
  /** Attention heads at that level. */
  heads: number;
}

interface UnetConfigJson {
  sample_size?: number;
  down_block_types?: unknown;
  block_out_channels?: unknown;
  attention_head_dim?: unknown;
  num_attention_heads?: unknown;
}

const SD1_BLOCKS = ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'];
const SDXL_BLOCKS = ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'];

/** Read the architecture facts the pipeline checks sizes and memory with; SD1.5's or SDXL's where the config is silent. */
export function unetArchitecture(config: UnetConfigJson, xl: boolean, label = 'unet/config.json'): UnetArchitecture {
  const blocks = config.down_block_types ?? (xl ? SDXL_BLOCKS : SD1_BLOCKS);
  if (!Array.isArray(blocks) || blocks.length === 0 || !blocks.every((b) => typeof b === 'string')) {
    throw new ModelError(`${label}: down_block_types must be a list of block names`);
  }
  const channels = config.block_out_channels ?? (xl ? [320, 640, 1280] : [320, 640, 1280, 1280]);
  if (!Array.isArray(channels) || !channels.every((c) => typeof c === 'number' && c > 0)) {
    throw new ModelError(`${label}: block_out_channels must be a list of positive numbers`);
  }
  const downsamplers = blocks.length - 1;
  const level = Math.max(0, (blocks as string[]).findIndex((b) => /Attn/.test(b)));
  const headsValue = config.num_attention_heads ?? config.attention_head_dim ?? (xl ? [5, 10, 20] : 8);
  const headsAt = Array.isArray(headsValue) ? headsValue[Math.min(level, headsValue.length - 1)] : headsValue;
  return {
    downsamplers,
    sizeMultiple: 8 * 2 ** downsamplers,
    blockOutChannels: channels as number[],
    firstAttentionLevel: level,
    heads: typeof headsAt === 'number' && headsAt > 0 ? headsAt : 8,
  };
}

interface ModelIndexJson {
  _class_name?: string;
  text_encoder_2?: unknown;
  force_zeros_for_empty_prompt?: boolean;
}

interface SchedulerConfigJson {
  beta_schedule?: string;
  beta_start?: number;
  beta_end?: number;
  num_train_timesteps?: number;
  prediction_type?: string;
  timestep_spacing?: string;
  rescale_betas_zero_snr?: boolean;
  trained_betas?: unknown;
}

const BETA_SCHEDULES: readonly string[] = ['scaled_linear', 'linear', 'squaredcos_cap_v2'];

export function readSchedulerConfig(path: string, label = 'scheduler/scheduler_config.json'): SchedulerConfig {
  const raw = readJsonFile<SchedulerConfigJson>(path, label);
  const betaSchedule = raw.beta_schedule ?? 'scaled_linear';
  if (!BETA_SCHEDULES.includes(betaSchedule)) {
    throw new ModelError(`${label}: beta_schedule "${betaSchedule}" is not supported; supported: ${BETA_SCHEDULES.join(', ')}`);
  }
  if (raw.trained_betas != null) throw new ModelError(`${label}: trained_betas is not supported`);
  const predictionType = raw.prediction_type ?? 'epsilon';
  let prediction: 'eps' | 'v';
  if (predictionType === 'epsilon') prediction = 'eps';
  else if (predictionType === 'v_prediction') prediction = 'v';
  else throw new ModelError(`${label}: prediction_type "${predictionType}" is not supported; use epsilon or v_prediction`);
  const num = (v: unknown, fallback: number, what: string): number => {
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new ModelError(`${label}: ${what} must be a number, got ${JSON.stringify(v)}`);
    return v;
  };
  return {
    betaSchedule: betaSchedule as BetaSchedule,
    betaStart: num(raw.beta_start, 0.00085, 'beta_start'),
    betaEnd: num(raw.beta_end, 0.012, 'beta_end'),
    trainTimesteps: num(raw.num_train_timesteps, 1000, 'num_train_timesteps'),
    prediction,
    timestepSpacing: raw.timestep_spacing ?? 'leading',
    zeroTerminalSnr: raw.rescale_betas_zero_snr === true,
  };
}

/** Read a model folder's description. Throws a ModelError naming the missing or malformed file. */
export function readModelFolder(dirIn: string): ModelFolder {
  const dir = resolve(dirIn);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ModelError(`model folder not found: ${dirIn}`);
  const indexPath = join(dir, 'model_index.json');
  if (!existsSync(indexPath)) {
    throw new ModelError(`${dirIn} is not a diffusers/optimum model folder: model_index.json is missing`);
  }
  const index = readJsonFile<ModelIndexJson>(indexPath, 'model_index.json');
  const xl = index.text_encoder_2 != null || /XL/.test(index._class_name ?? '');
  const component = (name: string) => join(dir, name, 'model.onnx');
  const schedulerPath = join(dir, 'scheduler', 'scheduler_config.json');
  const scheduler = readSchedulerConfig(schedulerPath);

  const vaeConfigPath = join(dir, 'vae_decoder', 'config.json');
  const vaeConfig = existsSync(vaeConfigPath)
    ? readJsonFile<{ scaling_factor?: number; shift_factor?: number | null; force_upcast?: boolean }>(vaeConfigPath, 'vae_decoder/config.json')
    : {};
  const unetConfigPath = join(dir, 'unet', 'config.json');
  const unetConfig = existsSync(unetConfigPath) ? readJsonFile<UnetConfigJson>(unetConfigPath, 'unet/config.json') : {};
  const scaling = vaeConfig.scaling_factor ?? (xl ? 0.13025 : 0.18215);
  if (!(scaling > 0)) throw new ModelError(`vae_decoder/config.json: scaling_factor must be positive, got ${scaling}`);

  const vaeEncoder = component('vae_encoder');
  return {
    dir,
    name: basename(dir),
    kind: xl ? 'stable-diffusion-xl' : 'stable-diffusion',
    scheduler,
    vaeScalingFactor: scaling,
    vaeShiftFactor: vaeConfig.shift_factor ?? 0,
    vaeForceUpcast: vaeConfig.force_upcast !== false,
    forceZerosForEmptyPrompt: xl && index.force_zeros_for_empty_prompt !== false,
    defaultSize: (unetConfig.sample_size ?? (xl ? 128 : 64)) * 8,
    unet: unetArchitecture(unetConfig, xl),
    paths: {
      textEncoder: component('text_encoder'),
      tokenizer: join(dir, 'tokenizer'),
      ...(xl ? { textEncoder2: component('text_encoder_2'), tokenizer2: join(dir, 'tokenizer_2') } : {}),
      unet: component('unet'),
      vaeDecoder: component('vae_decoder'),
      ...(existsSync(component('vae_decoder_fp32')) ? { vaeDecoderFp32: component('vae_decoder_fp32') } : {}),
      ...(existsSync(vaeEncoder) ? { vaeEncoder } : {}),
    },
  };
}
