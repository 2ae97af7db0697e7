import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeFixtureModels, writeTinyModel, tinyClipVocab } from '../src/fixtures/stable-diffusion-tiny.js';
import { openSession, type ValueInfo } from '../src/runtime/session.js';
import { loadClipTokenizer, bytesToUnicode } from '../src/pipelines/tokenizer.js';

const tmp = mkdtempSync(join(tmpdir(), 'ays-fixtures-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));
const [sd15, sd15fp16, sdxl] = writeFixtureModels(join(tmp, 'models'));

/** name -> [element type, rank] as optimum's ONNX configs declare them (see docs/stable-diffusion.md). */
type Spec = Record<string, [string, number]>;

async function io(path: string): Promise<{ inputs: readonly ValueInfo[]; outputs: readonly ValueInfo[] }> {
  const s = await openSession(path);
  const r = { inputs: s.inputs, outputs: s.outputs };
  await s.release();
  return r;
}

function asSpec(values: readonly ValueInfo[]): Spec {
  return Object.fromEntries(values.map((v) => [v.name, [v.type, v.shape.length]]));
}

test('make-fixtures writes the optimum folder layout for SD1.5, SD1.5 fp16 and SDXL', () => {
  for (const dir of [sd15!, sd15fp16!, sdxl!]) {
    for (const f of ['model_index.json', 'scheduler/scheduler_config.json', 'text_encoder/model.onnx', 'tokenizer/tokenizer_config.json', 'unet/model.onnx', 'unet/config.json', 'vae_decoder/model.onnx', 'vae_decoder/config.json', 'vae_encoder/model.onnx']) {
      assert.ok(existsSync(join(dir, f)), `${dir}/${f}`);
    }
  }
  assert.ok(existsSync(join(sd15!, 'tokenizer', 'vocab.json')) && existsSync(join(sd15!, 'tokenizer', 'merges.txt')));
  assert.ok(existsSync(join(sdxl!, 'tokenizer', 'tokenizer.json')), 'SDXL tokenizer as tokenizer.json');
  assert.ok(existsSync(join(sdxl!, 'text_encoder_2', 'model.onnx')) && existsSync(join(sdxl!, 'tokenizer_2', 'vocab.json')));
  const index = JSON.parse(readFileSync(join(sdxl!, 'model_index.json'), 'utf8'));
  assert.equal(index._class_name, 'ORTStableDiffusionXLPipeline');
  assert.equal(JSON.parse(readFileSync(join(sdxl!, 'vae_decoder', 'config.json'), 'utf8')).scaling_factor, 0.13025);
});

test('SD1.5 fixture: input/output names, element types and ranks of a real optimum export', async () => {
  const te = await io(join(sd15!, 'text_encoder/model.onnx'));
  assert.deepEqual(asSpec(te.inputs), { input_ids: ['int32', 2] });
  assert.deepEqual(asSpec(te.outputs), { last_hidden_state: ['float32', 3], pooler_output: ['float32', 2] });
  const unet = await io(join(sd15!, 'unet/model.onnx'));
  assert.deepEqual(asSpec(unet.inputs), { sample: ['float32', 4], timestep: ['float32', 1], encoder_hidden_states: ['float32', 3] });
  assert.deepEqual(asSpec(unet.outputs), { out_sample: ['float32', 4] });
  assert.deepEqual(asSpec((await io(join(sd15!, 'vae_decoder/model.onnx'))).inputs), { latent_sample: ['float32', 4] });
  assert.deepEqual(asSpec((await io(join(sd15!, 'vae_decoder/model.onnx'))).outputs), { sample: ['float32', 4] });
  const enc = await io(join(sd15!, 'vae_encoder/model.onnx'));
  assert.deepEqual(asSpec(enc.inputs), { sample: ['float32', 4] });
  assert.deepEqual(asSpec(enc.outputs), { latent_parameters: ['float32', 4] });
  assert.equal(enc.outputs[0]!.shape[1], 8, 'mean and log-variance of 4 latent channels');
});

test('SD1.5 fp16 fixture: every float input and output is float16', async () => {
  const unet = await io(join(sd15fp16!, 'unet/model.onnx'));
  assert.deepEqual(asSpec(unet.inputs), { sample: ['float16', 4], timestep: ['float16', 1], encoder_hidden_states: ['float16', 3] });
  assert.deepEqual(asSpec(unet.outputs), { out_sample: ['float16', 4] });
  const te = await io(join(sd15fp16!, 'text_encoder/model.onnx'));
  assert.deepEqual(asSpec(te.outputs), { last_hidden_state: ['float16', 3], pooler_output: ['float16', 2] });
  assert.equal((await io(join(sd15fp16!, 'vae_decoder/model.onnx'))).inputs[0]!.type, 'float16');
  // the weights themselves are stored as float16: the file is smaller than the float32 one
  const size = (d: string) => readFileSync(join(d, 'unet/model.onnx')).length;
  assert.ok(size(sd15fp16!) < size(sd15!));
});

test('SDXL fixture: two encoders with hidden states and text_embeds, UNet with text_embeds and time_ids', async () => {
  const te1 = await io(join(sdxl!, 'text_encoder/model.onnx'));
  assert.deepEqual(asSpec(te1.inputs), { input_ids: ['int64', 2] });
  assert.deepEqual(te1.outputs.map((o) => o.name), ['last_hidden_state', 'pooler_output', 'hidden_states.0', 'hidden_states.1', 'hidden_states.2']);
  const te2 = await io(join(sdxl!, 'text_encoder_2/model.onnx'));
  assert.deepEqual(te2.outputs.map((o) => o.name), ['text_embeds', 'last_hidden_state', 'hidden_states.0', 'hidden_states.1', 'hidden_states.2', 'hidden_states.3']);
  assert.deepEqual(asSpec([te2.outputs[0]!]), { text_embeds: ['float32', 2] });
  const unet = await io(join(sdxl!, 'unet/model.onnx'));
  assert.deepEqual(asSpec(unet.inputs), {
    sample: ['float32', 4],
    timestep: ['float32', 0],
    encoder_hidden_states: ['float32', 3],
    text_embeds: ['float32', 2],
    time_ids: ['float32', 2],
  });
  assert.equal(unet.inputs.find((i) => i.name === 'time_ids')!.shape[1], 6);
  assert.equal(unet.inputs.find((i) => i.name === 'encoder_hidden_states')!.shape[2], 16 + 24, 'context = both encoders side by side');
});

test('fixtures are deterministic and never written over a non-empty folder', () => {
  const a = join(tmp, 'det-a');
  const b = join(tmp, 'det-b');
  writeTinyModel(a, { kind: 'sd15' });
  writeTinyModel(b, { kind: 'sd15' });
  assert.deepEqual(readFileSync(join(a, 'unet/model.onnx')), readFileSync(join(b, 'unet/model.onnx')));
  const c = join(tmp, 'det-c');
  writeTinyModel(c, { kind: 'sd15', seed: 99 });
  assert.notDeepEqual(readFileSync(join(a, 'unet/model.onnx')), readFileSync(join(c, 'unet/model.onnx')));
  assert.throws(() => writeTinyModel(a, { kind: 'sdxl' }), /exists and is not empty; refusing to overwrite/);
  const mine = join(tmp, 'mine');
  mkdirSync(mine);
  writeFileSync(join(mine, 'notes.txt'), 'keep me');
  assert.throws(() => writeTinyModel(mine, { kind: 'sd15' }), /refusing to overwrite/);
  assert.equal(readFileSync(join(mine, 'notes.txt'), 'utf8'), 'keep me');
  assert.ok(!existsSync(join(mine, 'unet')));
  assert.throws(() => writeFixtureModels(join(tmp, 'models')), /refusing to overwrite/);
});

test('CLIP tokenizer: 77 ids, BOS/EOS, padding token per folder, truncation keeps EOS last', () => {
  const tok = loadClipTokenizer(join(sd15!, 'tokenizer'));
  const { vocab } = tinyClipVocab();
  const ids = tok.encode('A Photo of a  CAT');
  assert.equal(ids.length, 77);
  // lower-cased, whitespace collapsed, whole-word tokens from the merges
  assert.deepEqual(ids.slice(0, 6), [vocab['<|startoftext|>'], vocab['a</w>'], vocab['photo</w>'], vocab['of</w>'], vocab['a</w>'], vocab['cat</w>']]);
  assert.equal(ids[6], vocab['<|endoftext|>']);
  assert.ok(ids.slice(7).every((id) => id === vocab['<|endoftext|>']), 'SD1.5 pads with <|endoftext|>');
  // unknown words fall apart into byte-level characters with </w> on the last
  const u = bytesToUnicode();
  assert.deepEqual(tok.encode('zq!').slice(1, 4), [vocab[u.get(0x7a)!], vocab[`${u.get(0x71)!}</w>`], vocab[`${u.get(0x21)!}</w>`]]);
  const tok2 = loadClipTokenizer(join(sdxl!, 'tokenizer_2'));
  const empty = tok2.encode('');
  assert.deepEqual(empty.slice(0, 3), [vocab['<|startoftext|>'], vocab['<|endoftext|>'], vocab['!']], 'SDXL tokenizer_2 pads with "!"');
  const long = tok.encode(Array.from({ length: 100 }, () => 'cat').join(' '));
  assert.equal(long.length, 77);
  assert.equal(long[76], vocab['<|endoftext|>']);
  assert.ok(long.slice(1, 76).every((id) => id === vocab['cat</w>']));
});

test('CLIP tokenizer: tokenizer.json and vocab.json + merges.txt give the same ids', () => {
  const fromJson = loadClipTokenizer(join(sdxl!, 'tokenizer'));
  const fromFiles = loadClipTokenizer(join(sd15!, 'tokenizer'));
  for (const text of ['a red house on the sky', 'Dog, dogs & cats!', '', 'Ünïcode ✓ 猫']) assert.deepEqual(fromJson.encode(text), fromFiles.encode(text), text);
  const bare = join(tmp, 'no-tokenizer');
  mkdirSync(bare);
  assert.throws(() => loadClipTokenizer(bare, 'tokenizer'), /tokenizer: no tokenizer files; expected tokenizer\.json, or vocab\.json and merges\.txt/);
});
