/** Stable Diffusion's VAE: image -> latent for image-to-image (the mean of the encoder's moments), latent -> image. */
import { ModelError, floatTensor, readFloat, type ModelSession } from '../runtime/session.js';
import type { Tensor } from '../tensor/tensor.js';

export interface Vae {
  decoder: ModelSession;
  encoder: ModelSession | undefined;
  encoderOutput: string;
  scale: number;
  shift: number;
}

/** Encode an init image [1, 3, H, W] in [0, 1] to scaled latents, repeated over the batch. */
export async function encodeInit(vae: Vae, init: Tensor, latentShape: readonly number[]): Promise<Tensor> {
  if (!vae.encoder) throw new ModelError('image-to-image needs vae_encoder/model.onnx, which this model folder does not have');
  const pixels = new Float32Array(init.data.length);
  for (let i = 0; i < pixels.length; i++) pixels[i] = init.data[i]! * 2 - 1;
  const type = vae.encoder.input('sample')!.type as string;
  const out = await vae.encoder.run({ sample: floatTensor(type, pixels, init.shape) }, [vae.encoderOutput]);
  const t = out[vae.encoderOutput]!;
  const moments = readFloat(t);
  const [, cOut, h, w] = t.dims.map(Number) as [number, number, number, number];
  const [batch, C] = latentShape as [number, number];
  // latent_parameters holds [mean, logvar]; the mean is the deterministic encoding (ComfyUI and diffusers' mode())
  if (cOut !== C && cOut !== 2 * C) throw new ModelError(`vae_encoder/model.onnx: "${vae.encoderOutput}" has ${cOut} channels; expected ${C} or ${2 * C}`);
  if (h !== latentShape[2] || w !== latentShape[3]) throw new ModelError(`vae_encoder/model.onnx: output is ${w}x${h} latents, expected ${latentShape[3]}x${latentShape[2]}`);
  const per = C * h * w;
  const latent = new Float32Array(batch * per);
  for (let i = 0; i < per; i++) latent[i] = (moments[i]! - vae.shift) * vae.scale;
  for (let b = 1; b < batch; b++) latent.copyWithin(b * per, 0, per);
  return { data: latent, shape: [...latentShape] };
}

/**
 * Decode latents [B, C, h, w] one image at a time (a whole-batch decode at 1024 px needs a lot of memory), also for
 * the flow pipelines; `nanAdvice` ends the error a NaN output raises.
 */
export async function decodeLatents(
  vae: Pick<Vae, 'decoder' | 'scale' | 'shift'>,
  latents: Tensor,
  nanAdvice = 'see docs/stable-diffusion.md, "SDXL and float16"',
): Promise<Tensor> {
  const [batch, C, h, w] = latents.shape as [number, number, number, number];
  const per = C * h * w;
  const type = vae.decoder.input('latent_sample')!.type as string;
  let images: Float32Array | undefined;
  let imgPer = 0;
  let outShape: number[] = [];
  for (let b = 0; b < batch; b++) {
    const z = new Float32Array(per);
    for (let i = 0; i < per; i++) z[i] = latents.data[b * per + i]! / vae.scale + vae.shift;
    const out = await vae.decoder.run({ latent_sample: floatTensor(type, z, [1, C, h, w]) }, ['sample']);
    const t = out.sample!;
    const px = readFloat(t);
    if (!images) {
      outShape = t.dims.map(Number);
      imgPer = px.length;
      images = new Float32Array(batch * imgPer);
    }
    for (let i = 0; i < imgPer; i++) {
      const v = px[i]! * 0.5 + 0.5;
      if (Number.isNaN(v)) throw new ModelError(`vae_decoder/model.onnx produced NaN (a float16 VAE overflowing? ${nanAdvice})`);
      images[b * imgPer + i] = Math.min(1, Math.max(0, v));
    }
  }
  return { data: images!, shape: [batch, ...outShape.slice(1)] };
}
