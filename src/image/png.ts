/**
 * PNG (and JPEG input) for pipelines: encode image tensors with text chunks, decode them back, read and write
 * the A1111 `parameters` text, and write files without ever replacing one unless asked.
 */
import { writeFileSync, readFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { inflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import type { Tensor } from '../tensor/tensor.js';

/** A problem with an image file or image data, worded for the user. */
export class ImageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageError';
  }
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

let crcTable: Uint32Array | null = null;
function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  Buffer.from(data.buffer, data.byteOffset, data.byteLength).copy(out, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)), 8 + data.length);
  return out;
}

function isLatin1(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0xff) return false;
  return true;
}

/** A tEXt chunk when the text is Latin-1 (what A1111 writes), an uncompressed iTXt (UTF-8) otherwise. */
function textChunk(keyword: string, text: string): Buffer {
  if (!/^[\x20-\x7e\xa1-\xff]{1,79}$/.test(keyword)) throw new ImageError(`PNG text keyword "${keyword}" is not valid (1-79 Latin-1 characters)`);
  if (isLatin1(text)) return chunk('tEXt', Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0]), Buffer.from(text, 'latin1')]));
  return chunk(
    'iTXt',
    Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(text, 'utf8')]),
  );
}

interface RawChunk {
  type: string;
  data: Buffer;
}

function* chunks(png: Uint8Array): Generator<RawChunk> {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  if (buf.length < 8 || !buf.subarray(0, 8).equals(PNG_SIGNATURE)) throw new ImageError('not a PNG file (bad signature)');
  let pos = 8;
  while (pos + 12 <= buf.length) {
    const len = buf.readUInt32BE(pos);
    const type = buf.toString('latin1', pos + 4, pos + 8);
    if (pos + 12 + len > buf.length) throw new ImageError(`PNG chunk ${type} is truncated`);
    yield { type, data: buf.subarray(pos + 8, pos + 8 + len) };
    pos += 12 + len;
    if (type === 'IEND') return;
  }
}

/** All text chunks (tEXt, zTXt, iTXt) of a PNG, keyword -> text. */
export function readPngText(png: Uint8Array): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { type, data } of chunks(png)) {
    const nul = data.indexOf(0);
    if (nul < 0 || !['tEXt', 'zTXt', 'iTXt'].includes(type)) continue;
    const keyword = data.toString('latin1', 0, nul);
    if (type === 'tEXt') out[keyword] = data.toString('latin1', nul + 1);
    else if (type === 'zTXt') out[keyword] = inflateSync(data.subarray(nul + 2)).toString('latin1');
    else {
      const compressed = data[nul + 1] === 1;
      let p = nul + 3;
      const langEnd = data.indexOf(0, p);
      const transEnd = data.indexOf(0, langEnd + 1);
      p = transEnd + 1;
      const body = data.subarray(p);
      out[keyword] = (compressed ? inflateSync(body) : body).toString('utf8');
    }
  }
  return out;
}

export interface EncodePngOptions {
  /** Text chunks to embed, keyword -> text (e.g. { parameters: '...' }). */
  text?: Record<string, string>;
}

/**
 * Encode one image as an 8-bit RGB(A)/gray PNG. `image` is [C, H, W] or [1, C, H, W] float in [0, 1]
 * (values outside are clamped, NaN is an error), C = 1, 3 or 4.
 */
export function encodePng(image: Tensor, options: EncodePngOptions = {}): Uint8Array {
  const shape = image.shape.length === 4 && image.shape[0] === 1 ? image.shape.slice(1) : image.shape;
  if (shape.length !== 3) throw new ImageError(`encodePng: expected an image [C, H, W], got shape [${image.shape.join(', ')}]`);
  const [c, h, w] = shape as [number, number, number];
  if (c !== 1 && c !== 3 && c !== 4) throw new ImageError(`encodePng: expected 1, 3 or 4 channels, got ${c}`);
  if (h < 1 || w < 1) throw new ImageError(`encodePng: empty image ${w}x${h}`);
  const png = new PNG({ width: w, height: h, colorType: 6, inputColorType: 6, inputHasAlpha: true });
  const plane = h * w;
  const src = image.data;
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < 4; k++) {
      let v: number;
      if (k === 3) v = c === 4 ? src[3 * plane + i]! : 1;
      else v = src[(c === 1 ? 0 : k) * plane + i]!;
      if (Number.isNaN(v)) throw new ImageError('encodePng: the image contains NaN (the model produced invalid values)');
      png.data[i * 4 + k] = Math.round(Math.min(1, Math.max(0, v)) * 255);
    }
  }
  // pngjs writes no text chunks; encode with it, then splice ours in before IEND (order within the file is free).
  const base = PNG.sync.write(png, { colorType: c === 4 ? 6 : c === 1 ? 0 : 2, inputColorType: 6, inputHasAlpha: true });
  const text = Object.entries(options.text ?? {}).map(([k, v]) => textChunk(k, v));
  if (text.length === 0) return new Uint8Array(base);
  const iendAt = base.length - 12;
  return new Uint8Array(Buffer.concat([base.subarray(0, iendAt), ...text, base.subarray(iendAt)]));
}

/** Decode a PNG or JPEG (by signature) to [1, 3, H, W] float32 in [0, 1]; alpha is dropped. */
export function decodeImage(bytes: Uint8Array, label = 'image'): Tensor {
  let width: number;
  let height: number;
  let rgba: Uint8Array;
  if (bytes.length >= 8 && Buffer.from(bytes.subarray(0, 8)).equals(PNG_SIGNATURE)) {
    try {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      ({ width, height } = png);
      rgba = png.data;
    } catch (err) {
      throw new ImageError(`${label}: PNG could not be decoded (${err instanceof Error ? err.message : String(err)})`);
    }
  } else if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    try {
      const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024 });
      ({ width, height } = img);
      rgba = img.data;
    } catch (err) {
      throw new ImageError(`${label}: JPEG could not be decoded (${err instanceof Error ? err.message : String(err)})`);
    }
  } else {
    throw new ImageError(`${label}: not a PNG or JPEG file`);
  }
  const plane = width * height;
  const data = new Float32Array(3 * plane);
  for (let i = 0; i < plane; i++) {
    for (let k = 0; k < 3; k++) data[k * plane + i] = rgba[i * 4 + k]! / 255;
  }
  return { data, shape: [1, 3, height, width] };
}

/** Read and decode an image file (PNG or JPEG). */
export function readImageFile(path: string): Tensor {
  if (!existsSync(path)) throw new ImageError(`image file not found: ${path}`);
  if (statSync(path).isDirectory()) throw new ImageError(`${path} is a folder, not an image file (PNG or JPEG)`);
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new ImageError(`cannot read image ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return decodeImage(bytes, path);
}

/** The file exists and `overwrite` was not given. */
export class OverwriteError extends Error {
  constructor(readonly path: string) {
    super(`${path} already exists; refusing to overwrite it (pass --overwrite to replace it)`);
    this.name = 'OverwriteError';
  }
}

/**
 * Write bytes to a file, creating parent folders. Never replaces an existing file unless `overwrite` is true;
 * the check and the create are one atomic open (O_EXCL), so a file appearing meanwhile is not clobbered either.
 */
export function writeFileSafe(path: string, bytes: Uint8Array | string, options: { overwrite?: boolean } = {}): void {
  mkdirSync(dirname(path), { recursive: true });
  try {
    writeFileSync(path, bytes, { flag: options.overwrite ? 'w' : 'wx' });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new OverwriteError(path);
    throw err;
  }
}

// ---- A1111 "parameters" text ----

export interface GenerationParameters {
  prompt: string;
  negativePrompt: string;
  /** The settings line, in order: Steps, Sampler, Schedule type, CFG scale, Seed, Size, Model, ... */
  settings: Record<string, string>;
}

function quoteIfNeeded(value: string): string {
  return /[,:\n"]/.test(value) ? JSON.stringify(value) : value;
}

/** Format parameters as A1111 writes them: prompt, "Negative prompt: ...", then "Key: value, Key: value". */
export function formatParameters(p: GenerationParameters): string {
  const lines = [p.prompt];
  if (p.negativePrompt !== '') lines.push(`Negative prompt: ${p.negativePrompt}`);
  lines.push(
    Object.entries(p.settings)
      .map(([k, v]) => `${k}: ${quoteIfNeeded(v)}`)
      .join(', '),
  );
  return lines.join('\n');
}

/** Parse A1111 `parameters` text back (the settings line is the last line; values may be JSON-quoted). */
export function parseParameters(text: string): GenerationParameters {
  const lines = text.split('\n');
  const settingsLine = lines.length > 1 || /^\s*Steps: /.test(lines[0] ?? '') ? lines.pop()! : '';
  const settings: Record<string, string> = {};
  const re = /\s*([\w .()/+-]+):\s*("(?:\\.|[^\\"])*"|[^,]*)(?:,|$)/g;
  for (const m of settingsLine.matchAll(re)) {
    const raw = m[2]!.trim();
    settings[m[1]!.trim()] = raw.startsWith('"') ? (JSON.parse(raw) as string) : raw;
  }
  const negAt = lines.findIndex((l) => l.startsWith('Negative prompt: '));
  const prompt = (negAt < 0 ? lines : lines.slice(0, negAt)).join('\n');
  const negativePrompt = negAt < 0 ? '' : [lines[negAt]!.slice('Negative prompt: '.length), ...lines.slice(negAt + 1)].join('\n');
  return { prompt, negativePrompt, settings };
}

/** Read the A1111 `parameters` chunk of a PNG, or null when there is none. */
export function readPngParameters(png: Uint8Array): GenerationParameters | null {
  const text = readPngText(png).parameters;
  return text === undefined ? null : parseParameters(text);
}

