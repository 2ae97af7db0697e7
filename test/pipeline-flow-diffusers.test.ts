/**
 * SD3 and Flux pipelines against diffusers itself: the tiny diffusers-built models and references of
 * ../shared/conformance/diffusers-flow, copied to test/fixtures/diffusers-flow (see its README). Every case in
 * references.json is checked stage by stage, so a mistake shows where it is made: token ids per tokenizer, the
 * assembled text embeddings, the first transformer call (inputs and output), the latent after every step, the
 * final latent, the image (max 2 / mean 0.01 grey levels), and the same image through `ays generate` on the CLI.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { loadPipeline } from '../src/pipelines/load.js';
import type { FlowPipeline } from '../src/pipelines/flow/pipeline.js';
import { getSigmas } from '../src/schedules/index.js';
import { decodeImage } from '../src/image/png.js';
import type { ort } from '../src/runtime/session.js';

const root = fileURLToPath(new URL('../../test/fixtures/diffusers-flow/', import.meta.url));
const cli = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

interface Case {
  id: string;
  model: 'sd3' | 'flux';
  prompt: string;
  negative: string | null;
  seed: number;
  height: number;
  width: number;
  guidance: number;
  max_sequence_length: number;
  sigmas: number[];
  transformer_timesteps: number[][];
  transformer_guidance?: number[][];
  token_ids: { prompt: Record<string, number[]>; negative?: Record<string, number[]> };
  text: Record<string, number[] | boolean | undefined>;
  transformer_first_call: Record<string, unknown> & { out_hidden_states: number[]; hidden_states: number[]; pooled_projections: number[] };
  latents0: number[];
  step_latents: number[][];
  latent: number[];
  image_uint8: number[];
}

const ref = JSON.parse(readFileSync(join(root, 'references.json'), 'utf8')) as { cases: Case[] };

const pipes = new Map<string, Promise<FlowPipeline>>();
function pipeline(model: string): Promise<FlowPipeline> {
  let p = pipes.get(model);
  if (!p) {
    p = loadPipeline(join(root, model), { threads: 1 }) as Promise<FlowPipeline>;
    pipes.set(model, p);
  }
  return p;
}
after(async () => {
  for (const p of pipes.values()) await (await p).dispose();
});

function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>, what: string): number {
  assert.equal(a.length, b.length, `${what}: ${a.length} values, reference ${b.length}`);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

/** Images per case: the batch of its starting latent (1 in the cases so far). */
function batchOf(c: Case): number {
  return (c as unknown as { latents0_shape?: number[] }).latents0_shape?.[0] ?? 1;
}

/** Ours [B,3,H,W] in [0,1] (or the images from `first` on) against diffusers' [B,]H,W,C uint8. */
function levels(images: ArrayLike<number>, c: Case, first = 0, count = batchOf(c)): { max: number; mean: number } {
  const H = c.height, W = c.width, per = H * W * 3;
  let max = 0, sum = 0;
  for (let b = 0; b < count; b++) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        for (let ch = 0; ch < 3; ch++) {
          const ours = Math.round(images[b * per + ch * H * W + y * W + x]! * 255);
          const d = Math.abs(ours - c.image_uint8[(first + b) * per + (y * W + x) * 3 + ch]!);
          max = Math.max(max, d);
          sum += d;
        }
      }
    }
  }
  return { max, mean: sum / (count * per) };
}

/** [a x B, b x B]: a conditioning repeated over the batch, uncond rows first. */
function repeatRows(rows: number[][], batch: number): number[] {
  return rows.flatMap((r) => Array.from({ length: batch }, () => r).flat());
}

function flowOptions(c: Case) {
  return {
    prompt: c.prompt,
    ...(c.negative !== null ? { negativePrompt: c.negative } : {}),
    width: c.width,
    height: c.height,
    batchSize: batchOf(c),
    seed: c.seed,
    scheduler: 'simple',
    sampler: 'euler',
    steps: c.sigmas.length - 1,
    sigmas: c.sigmas,
    cfg: c.model === 'sd3' ? c.guidance : 1,
    ...(c.model === 'flux' ? { guidance: c.guidance } : {}),
    maxSequenceLength: c.max_sequence_length,
  };
}

test('the diffusers-flow references are in the repository: an SD3 and a Flux case at least', () => {
  assert.ok(ref.cases.some((c) => c.model === 'sd3'));
  assert.ok(ref.cases.some((c) => c.model === 'flux'));
  for (const m of ['sd3', 'flux']) assert.ok(existsSync(join(root, m, 'transformer', 'model.onnx')), `${m} model files`);
});

test('every prompt in the references (empty, upper case, double spaces, punctuation) tokenizes as transformers does, for every tokenizer', async () => {
  const models = (ref as unknown as { models: Record<string, { token_ids: Record<string, Record<string, number[]>>; max_sequence_length: number }> }).models;
  for (const [model, m] of Object.entries(models)) {
    const p = await pipeline(model);
    const byTokenizer = m.token_ids;
    const prompts = Object.keys(byTokenizer.tokenizer!);
    assert.ok(prompts.length >= 3);
    for (const text of prompts) {
      const e = await p.encodePrompt(text, m.max_sequence_length);
      // tokenizer, tokenizer_2 (, tokenizer_3) feed text_encoder, text_encoder_2 (, text_encoder_3)
      for (const [tok, ids] of Object.entries(byTokenizer)) {
        const enc = tok.replace('tokenizer', 'text_encoder');
        assert.deepEqual(e.tokenIds[enc], ids[text], `${model} ${tok} "${text}"`);
      }
    }
  }
});

for (const c of ref.cases) {
  test(`${c.id}: the folder is detected and its default schedule (simple, ${c.sigmas.length - 1} steps) is diffusers' shifted sigmas`, async () => {
    const p = await pipeline(c.model);
    assert.equal(p.kind, c.model === 'sd3' ? 'stable-diffusion-3' : 'flux');
    const ms = p.modelSamplingFor(c.width, c.height);
    const ours = getSigmas({ model: ms, scheduler: 'simple', steps: c.sigmas.length - 1 });
    assert.ok(maxAbs(ours, c.sigmas, 'sigmas') <= 2e-7, `simple schedule ${ours} vs ${c.sigmas}`);
  });

  test(`${c.id}: token ids of every tokenizer equal transformers'`, async () => {
    const p = await pipeline(c.model);
    const texts: Array<[string, Record<string, number[]>]> = [[c.prompt, c.token_ids.prompt]];
    if (c.negative !== null && c.token_ids.negative) texts.push([c.negative, c.token_ids.negative]);
    for (const [text, ids] of texts) {
      const e = await p.encodePrompt(text, c.max_sequence_length);
      for (const [enc, expected] of Object.entries(ids)) assert.deepEqual(e.tokenIds[enc], expected, `${enc} ids of "${text}"`);
    }
  });

  test(`${c.id}: text embeddings (CLIP/T5 assembly, pooled) equal diffusers' within float32 encoder rounding`, async () => {
    const p = await pipeline(c.model);
    const e = await p.encodePrompt(c.prompt, c.max_sequence_length);
    const shape = c.text.prompt_embeds_shape as unknown as number[];
    assert.deepEqual([1, e.seq, e.width], shape);
    // floor (ORT against torch on these encoders, references README): prompt_embeds <= 1.4e-5, pooled <= 1e-6
    const dEmb = maxAbs(e.embeds, c.text.prompt_embeds as number[], 'prompt_embeds');
    assert.ok(dEmb <= 3e-5, `prompt_embeds max abs ${dEmb}`);
    const dPool = maxAbs(e.pooled, c.text.pooled_prompt_embeds as number[], 'pooled');
    assert.ok(dPool <= 3e-6, `pooled max abs ${dPool}`);
    if (c.negative !== null && c.text.negative_prompt_embeds) {
      const n = await p.encodePrompt(c.negative, c.max_sequence_length);
      assert.ok(maxAbs(n.embeds, c.text.negative_prompt_embeds as number[], 'negative_prompt_embeds') <= 3e-5);
      assert.ok(maxAbs(n.pooled, c.text.negative_pooled_prompt_embeds as number[], 'negative pooled') <= 3e-6);
    }
  });

  test(`${c.id}: generate (euler on the case's sigmas) = diffusers: first transformer call, every step's latent, image within 2 / 0.01 levels`, async () => {
    const p = await pipeline(c.model);
    const calls: Array<Record<string, { data: number[] | bigint[]; dims: readonly number[] }>> = [];
    const outs: Float32Array[] = [];
    const copy = (t: ort.Tensor) => ({ data: t.type === 'int64' ? Array.from(t.data as BigInt64Array) : Array.from(t.data as Float32Array), dims: [...t.dims] });
    const r = await p.generate({
      ...flowOptions(c),
      onTransformerCall: (feeds, out) => {
        calls.push(Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, copy(v)])));
        outs.push(Float32Array.from(out.data as Float32Array));
      },
    });
    const steps = c.sigmas.length - 1;
    assert.equal(calls.length, steps, 'one transformer call per step (CFG rows batched)');
    assert.equal(r.nfe, steps);

    // first call: inputs exactly as diffusers passes them
    const first = calls[0]!;
    const fc = c.transformer_first_call;
    assert.deepEqual(first.hidden_states!.dims, fc.hidden_states_shape, 'hidden_states shape');
    assert.equal(maxAbs(first.hidden_states!.data as number[], fc.hidden_states, 'first hidden_states'), 0, 'starting latent = torch.randn(seed) (packed for Flux)');
    assert.deepEqual(first.timestep!.data, fc.timestep as number[], 'timestep');
    const B = batchOf(c);
    const rows = (c.model === 'sd3' ? 2 : 1) * B; // SD3: [uncond x B, cond x B]; Flux: no CFG
    assert.deepEqual(first.pooled_projections!.dims, [rows, (c.text.pooled_prompt_embeds as number[]).length]);
    assert.ok(maxAbs(first.pooled_projections!.data as number[], fc.pooled_projections, 'pooled_projections') <= 3e-6);
    const ehs = first.encoder_hidden_states!;
    assert.deepEqual(ehs.dims, fc.encoder_hidden_states_shape);
    const expectedEhs = c.model === 'sd3'
      ? repeatRows([c.text.negative_prompt_embeds as number[], c.text.prompt_embeds as number[]], B) // batch [uncond, cond]
      : repeatRows([c.text.prompt_embeds as number[]], B);
    assert.ok(maxAbs(ehs.data as number[], expectedEhs, 'encoder_hidden_states') <= 3e-5);
    if (c.model === 'flux') {
      assert.deepEqual(first.guidance!.data, fc.guidance as number[], 'guidance');
      assert.deepEqual(first.img_ids!.dims, fc.img_ids_shape);
      assert.deepEqual((first.img_ids!.data as bigint[]).map(Number), fc.img_ids as number[], 'img_ids');
      assert.deepEqual(first.txt_ids!.dims, fc.txt_ids_shape);
      assert.ok((first.txt_ids!.data as bigint[]).every((v) => v === 0n), 'txt_ids all zero');
    }
    // transformer output on those inputs: the ONNX floor is ~5e-7
    const dOut = maxAbs(outs[0]!, fc.out_hidden_states, 'out_hidden_states');
    assert.ok(dOut <= 2e-6, `first out_hidden_states max abs ${dOut}`);

    // timesteps (and guidance) of every call
    calls.forEach((call, k) => {
      assert.deepEqual(call.timestep!.data, c.transformer_timesteps[k], `timestep of call ${k}`);
      if (c.transformer_guidance) assert.deepEqual(call.guidance!.data, c.transformer_guidance[k], `guidance of call ${k}`);
    });

    // the latent after step k is the input of call k + 1 (first CFG row; packed for Flux), and the final latent
    const n = c.latent.length;
    let worstStep = 0;
    for (let k = 0; k < steps - 1; k++) {
      const got = (calls[k + 1]!.hidden_states!.data as number[]).slice(0, n);
      worstStep = Math.max(worstStep, maxAbs(got, c.step_latents[k]!, `latent after step ${k}`));
    }
    worstStep = Math.max(worstStep, maxAbs(r.latents.data, c.latent, 'final latent'));
    // floor: diffusers' numpy re-implementation over the same ONNX files reaches 1.5e-6
    assert.ok(worstStep <= 1e-5, `latents max abs ${worstStep}`);

    const l = levels(r.images.data, c);
    assert.ok(l.max <= 2 && l.mean <= 0.01, `${c.id}: max ${l.max} mean ${l.mean} grey levels`);
  });

  test(`${c.id}: \`ays generate --sampler euler --sigmas <case sigmas>\` writes diffusers' image`, () => {
    const dir = mkdtempSync(join(tmpdir(), 'ays-flow-cli-'));
    try {
      const out = join(dir, 'out.png');
      const B = batchOf(c);
      const args = [
        cli, 'generate', '--model', join(root, c.model), '--prompt', c.prompt, '--seed', String(c.seed),
        '--width', String(c.width), '--height', String(c.height), '--sampler', 'euler', '--sigmas', c.sigmas.join(','),
        '--max-sequence-length', String(c.max_sequence_length), '--threads', '1', '--out', out, '--json', '--batch', String(B),
      ];
      if (c.negative !== null) args.push('--negative', c.negative);
      if (c.model === 'sd3') args.push('--cfg', String(c.guidance));
      else args.push('--guidance', String(c.guidance));
      execFileSync(process.execPath, args, { encoding: 'utf8' });
      for (let b = 0; b < B; b++) {
        const img = decodeImage(readFileSync(B === 1 ? out : join(dir, `out-${b}.png`)));
        const l = levels(img.data, c, b, 1);
        assert.ok(l.max <= 2 && l.mean <= 0.01, `${c.id} via CLI, image ${b}: max ${l.max} mean ${l.mean} grey levels`);
      }
      const sidecar = JSON.parse(readFileSync(join(dir, 'out.json'), 'utf8')) as Record<string, unknown>;
      assert.deepEqual(sidecar.sigmas, c.sigmas);
      assert.equal(sidecar.kind, c.model === 'sd3' ? 'stable-diffusion-3' : 'flux');
      if (c.model === 'flux') assert.equal(sidecar.guidance, c.guidance);
      assert.equal(sidecar.maxSequenceLength, c.max_sequence_length);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}
