import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateSync } from 'node:zlib';
import { PNG } from 'pngjs';
import jpeg from 'jpeg-js';
import {
  decodeImage,
  encodePng,
  formatParameters,
  ImageError,
  OverwriteError,
  parseParameters,
  readImageFile,
  readPngParameters,
  readPngText,
  writeFileSafe,
} from '../src/image/png.js';

const tmp = mkdtempSync(join(tmpdir(), 'ays-png-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

function levels(c: number, h: number, w: number): Float32Array {
  const data = new Float32Array(c * h * w);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 37) % 256) / 255;
  return data;
}

test('encodePng -> decodeImage is exact on 8-bit levels (RGB)', () => {
  const data = levels(3, 5, 7);
  const png = encodePng({ data, shape: [3, 5, 7] });
  const back = decodeImage(png);
  assert.deepEqual(back.shape, [1, 3, 5, 7]);
  for (let i = 0; i < data.length; i++) assert.equal(Math.round(back.data[i]! * 255), Math.round(data[i]! * 255));
  // pngjs (which checks every CRC) reads what we wrote
  const parsed = PNG.sync.read(Buffer.from(png));
  assert.equal(parsed.width, 7);
  assert.equal(parsed.height, 5);
});

test('encodePng clamps out-of-range values, accepts [1, C, H, W] and grey, rejects NaN and bad shapes', () => {
  const png = encodePng({ data: Float32Array.from([-1, 2, 0.5, 0.5]), shape: [1, 1, 2, 2] });
  const back = decodeImage(png);
  assert.deepEqual(Array.from(back.data.subarray(0, 4), (v) => Math.round(v * 255)), [0, 255, 128, 128]);
  assert.throws(() => encodePng({ data: Float32Array.from([NaN]), shape: [1, 1, 1] }), (e: Error) => e instanceof ImageError && /NaN/.test(e.message));
  assert.throws(() => encodePng({ data: new Float32Array(2 * 4), shape: [2, 2, 2] }), /1, 3 or 4 channels, got 2/);
  assert.throws(() => encodePng({ data: new Float32Array(4), shape: [4] }), /expected an image \[C, H, W\]/);
});

test('A1111 parameters: written as a tEXt chunk and read back', () => {
  const settings = { Steps: '10', Sampler: 'dpmpp_2m', 'Schedule type': 'ays', 'CFG scale': '7', Seed: '42', Size: '512x512', Model: 'sd15-tiny' };
  const text = formatParameters({ prompt: 'a photo of a cat', negativePrompt: 'blurry', settings });
  assert.equal(text, 'a photo of a cat\nNegative prompt: blurry\nSteps: 10, Sampler: dpmpp_2m, Schedule type: ays, CFG scale: 7, Seed: 42, Size: 512x512, Model: sd15-tiny');
  const png = encodePng({ data: levels(3, 2, 2), shape: [3, 2, 2] }, { text: { parameters: text } });
  assert.ok(Buffer.from(png).includes(Buffer.from('tEXtparameters\0', 'latin1')), 'a tEXt chunk named parameters');
  assert.equal(readPngText(png).parameters, text);
  assert.deepEqual(readPngParameters(png), { prompt: 'a photo of a cat', negativePrompt: 'blurry', settings });
  assert.equal(readPngParameters(encodePng({ data: levels(3, 1, 1), shape: [3, 1, 1] })), null);
});

test('A1111 parameters: multi-line and non-Latin-1 prompts (iTXt), quoted values, no negative prompt', () => {
  const p = {
    prompt: 'ein Hund im Schnee\nzweite Zeile ✓ 猫',
    negativePrompt: '',
    settings: { Steps: '4', Sampler: 'euler', Model: 'my, "odd": model', Seed: '18446744073709551615' },
  };
  const text = formatParameters(p);
  assert.ok(!text.includes('Negative prompt:'), 'no negative prompt line when it is empty');
  const png = encodePng({ data: levels(3, 2, 2), shape: [3, 2, 2] }, { text: { parameters: text } });
  assert.ok(Buffer.from(png).includes(Buffer.from('iTXtparameters', 'latin1')), 'UTF-8 text goes in an iTXt chunk');
  assert.deepEqual(readPngParameters(png), p);
  PNG.sync.read(Buffer.from(png));
});

test('parseParameters reads an A1111-style block with a multi-line negative prompt', () => {
  const parsed = parseParameters('masterpiece, 1girl\nNegative prompt: lowres,\nbad hands\nSteps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 7, Seed: 1, Size: 512x768, Model: v1-5');
  assert.equal(parsed.prompt, 'masterpiece, 1girl');
  assert.equal(parsed.negativePrompt, 'lowres,\nbad hands');
  assert.equal(parsed.settings['Schedule type'], 'Karras');
  assert.equal(parsed.settings.Size, '512x768');
  assert.equal(Object.keys(parsed.settings).length, 7);
});

test('readPngText reads zTXt chunks (what other tools write)', () => {
  const base = Buffer.from(encodePng({ data: levels(3, 1, 1), shape: [3, 1, 1] }));
  const body = Buffer.concat([Buffer.from('parameters\0\0', 'latin1'), deflateSync(Buffer.from('hello\nSteps: 3', 'latin1'))]);
  const chunk = Buffer.alloc(12 + body.length);
  chunk.writeUInt32BE(body.length, 0);
  chunk.write('zTXt', 4, 'latin1');
  body.copy(chunk, 8);
  // CRC is not checked by the text reader; pngjs would check it, so this file is only read by readPngText
  const png = Buffer.concat([base.subarray(0, base.length - 12), chunk, base.subarray(base.length - 12)]);
  assert.deepEqual(readPngParameters(png), { prompt: 'hello', negativePrompt: '', settings: { Steps: '3' } });
});

test('decodeImage reads JPEG and rejects other files clearly', () => {
  const w = 16;
  const h = 8;
  const rgba = Buffer.alloc(w * h * 4);
  for (let i = 0; i < w * h; i++) rgba.set([200, 100, 50, 255], i * 4);
  const jpg = jpeg.encode({ data: rgba, width: w, height: h }, 95).data;
  const img = decodeImage(jpg);
  assert.deepEqual(img.shape, [1, 3, h, w]);
  assert.ok(Math.abs(img.data[0]! * 255 - 200) <= 3 && Math.abs(img.data[h * w]! * 255 - 100) <= 3 && Math.abs(img.data[2 * h * w]! * 255 - 50) <= 3);
  assert.throws(() => decodeImage(Buffer.from('GIF89a....'), 'in.gif'), /in\.gif: not a PNG or JPEG file/);
  assert.throws(() => decodeImage(Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(10)]), 'bad.png'), /bad\.png: PNG could not be decoded/);
  assert.throws(() => readImageFile(join(tmp, 'missing.png')), /image file not found: .*missing\.png/);
});

test('writeFileSafe never replaces a file unless overwrite is true', () => {
  const path = join(tmp, 'sub', 'out.png');
  writeFileSafe(path, 'first');
  assert.throws(() => writeFileSafe(path, 'second'), (e: Error) => e instanceof OverwriteError && /out\.png already exists; refusing to overwrite it \(pass --overwrite/.test(e.message));
  assert.equal(readFileSync(path, 'utf8'), 'first');
  writeFileSafe(path, 'third', { overwrite: true });
  assert.equal(readFileSync(path, 'utf8'), 'third');
  writeFileSync(join(tmp, 'x.txt'), 'mine');
  assert.throws(() => writeFileSafe(join(tmp, 'x.txt'), 'theirs'), OverwriteError);
  assert.equal(readFileSync(join(tmp, 'x.txt'), 'utf8'), 'mine');
});
