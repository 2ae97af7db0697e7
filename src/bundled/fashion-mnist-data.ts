/**
 * Read Fashion-MNIST from Debian's dataset-fashion-mnist package (IDX files, gzip), for offline tools only
 * (the optimizer run and the benchmark's real-data checks); nothing at test or run time needs it.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export const DEBIAN_FASHION_MNIST_DIR = '/usr/share/datasets/fashion-mnist';

export interface FashionMnistSplit {
  count: number;
  /** [count, 1, 28, 28] in [-1, 1] (p / 127.5 - 1, as the training tool maps pixels). */
  images: Float32Array;
  labels: Uint8Array;
}

function readIdx(path: string, magic: number): { dims: number[]; body: Uint8Array } {
  if (!existsSync(path)) {
    throw new Error(`${path} not found: install Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist)`);
  }
  const raw = gunzipSync(readFileSync(path));
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (view.getUint32(0) !== magic) throw new Error(`${path}: not an IDX file with magic ${magic.toString(16)}`);
  const rank = magic & 0xff;
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  return { dims, body: raw.subarray(4 + 4 * rank) };
}

/** Load the 'train' (60,000) or 't10k' (10,000) split. */
export function loadFashionMnist(split: 'train' | 't10k', dir = DEBIAN_FASHION_MNIST_DIR): FashionMnistSplit {
  const img = readIdx(join(dir, `${split}-images-idx3-ubyte.gz`), 0x803);
  const lab = readIdx(join(dir, `${split}-labels-idx1-ubyte.gz`), 0x801);
  const [count, h, w] = img.dims as [number, number, number];
  if (h !== 28 || w !== 28 || lab.dims[0] !== count) throw new Error(`${dir}: unexpected IDX shapes`);
  const images = new Float32Array(count * 784);
  for (let i = 0; i < images.length; i++) images[i] = img.body[i]! / 127.5 - 1;
  return { count, images, labels: Uint8Array.from(lab.body.subarray(0, count)) };
}
