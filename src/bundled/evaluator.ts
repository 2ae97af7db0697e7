/**
 * The shipped Fashion-MNIST classifier as an evaluator: class accuracy of generated images and the
 * Fréchet distance between their classifier features and the real test set's ("FID on classifier features").
 *
 * How FID on features is computed (the same way tools/train computed the real statistics):
 * 1. Each generated image in [0, 1] is quantized to 8 bits as a PNG would store it (round(255 v)), then mapped
 *    to [-1, 1] by p / 127.5 - 1, exactly the preprocessing of the real test images.
 * 2. classifier.onnx gives a feature vector per image (the 'features' output, F values).
 * 3. Mean and unbiased covariance of the generated features (float64) are compared with the stored mean and
 *    covariance of the 10,000 real test images by the Fréchet distance (see frechet.ts).
 * Small sample counts bias the distance upwards, so compare numbers only at the same sample count; the
 * real-vs-real baseline in test-features.json is for 5,000 vs 5,000 images.
 */
import { join } from 'node:path';
import type { Tensor } from '../tensor/tensor.js';
import { checkDim, checkRank, checkType, ModelError, openSession, requireInputs, requireOutput, type ModelSession, type SessionOptions, ort, readFloat } from '../runtime/session.js';
import { CLASSIFIER_FILE, TEST_FEATURES_FILE, checkModelFolder } from './model-files.js';
import { featureStats, frechetDistance, frechetToReference, type FeatureStats } from './frechet.js';
import { readFileSync } from 'node:fs';
import { createRng } from '../core/rng.js';

export interface ReferenceStats {
  dim: number;
  count: number;
  mean: Float64Array;
  cov: Float64Array;
  /** Fréchet distance between the two halves of the real test set (the real-vs-real floor), when stored. */
  realVsReal?: number;
  realVsRealCount?: number;
  /** Classifier accuracy on the real test set, when stored. */
  testAccuracy?: number;
}

export interface Classification {
  /** Predicted class per image. */
  predicted: Int32Array;
  /** Softmax probability of the predicted class. */
  confidence: Float32Array;
  /** Features, row-major [B, F]. */
  features: Float32Array;
  featureDim: number;
}

export interface Evaluator {
  readonly featureDim: number;
  readonly numClasses: number;
  readonly reference: ReferenceStats;
  /** Classify images [B, 1, 28, 28] in [0, 1] (quantized to 8 bits first, like saved PNGs). */
  classify(images: Tensor): Promise<Classification>;
  release(): Promise<void>;
}

export interface ImageMetrics {
  count: number;
  /** Fraction of images whose predicted class is the intended one (unconditional images excluded). */
  classAccuracy: number;
  /** Fréchet distance of classifier features to the real test set. */
  fid: number;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Read test-features.json: { feature_dim, all: {count, mean, cov}, first_half, second_half, frechet_first_vs_second_half }. */
export function readReferenceStats(path: string): ReferenceStats {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ModelError(`${path}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'file not found' : 'not valid JSON'}`);
  }
  if (!isRecord(raw)) throw new ModelError(`${path}: expected a JSON object`);
  const all = isRecord(raw.all) ? raw.all : raw;
  const mean = all.mean;
  const cov = all.cov;
  if (!Array.isArray(mean) || mean.length === 0 || !mean.every((v) => typeof v === 'number')) {
    throw new ModelError(`${path}: "all.mean" must be a list of numbers`);
  }
  const dim = mean.length;
  const flat: number[] = Array.isArray(cov) && cov.every(Array.isArray) ? (cov as number[][]).flat() : (cov as number[]);
  if (!Array.isArray(flat) || flat.length !== dim * dim || !flat.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    throw new ModelError(`${path}: "all.cov" must be a ${dim}x${dim} matrix of numbers`);
  }
  const half = isRecord(raw.first_half) ? raw.first_half : undefined;
  const rvr = raw.frechet_first_vs_second_half;
  return {
    dim,
    count: typeof all.count === 'number' ? all.count : 0,
    mean: Float64Array.from(mean as number[]),
    cov: Float64Array.from(flat),
    realVsReal: typeof rvr === 'number' ? rvr : undefined,
    realVsRealCount: half && typeof half.count === 'number' ? half.count : undefined,
    testAccuracy: typeof raw.test_accuracy === 'number' ? raw.test_accuracy : undefined,
  };
}

/** Images in [0, 1] -> the classifier's input: 8-bit quantized, then p / 127.5 - 1. */
export function toClassifierInput(images: Tensor): Float32Array {
  const out = new Float32Array(images.data.length);
  for (let i = 0; i < out.length; i++) {
    const v = images.data[i]!;
    if (Number.isNaN(v)) throw new ModelError('classifier: an image contains NaN');
    const p = Math.round(Math.min(1, Math.max(0, v)) * 255);
    out[i] = p / 127.5 - 1;
  }
  return out;
}

/** Open the classifier and the reference statistics of a model folder. */
export async function loadEvaluator(dir: string, options: SessionOptions = {}): Promise<Evaluator> {
  const abs = checkModelFolder(dir, [CLASSIFIER_FILE, TEST_FEATURES_FILE]);
  const reference = readReferenceStats(join(abs, TEST_FEATURES_FILE));
  const session: ModelSession = await openSession(join(abs, CLASSIFIER_FILE), options, CLASSIFIER_FILE);
  try {
    requireInputs(session, ['image'], 'The classifier must take "image" [B, 1, 28, 28]');
    const input = session.input('image')!;
    checkType(session, input, ['float32']);
    checkRank(session, input, [4]);
    checkDim(session, input, 1, 1, 'channels');
    const logits = requireOutput(session, 'logits');
    const features = requireOutput(session, 'features');
    checkRank(session, logits, [2]);
    checkRank(session, features, [2]);
  } catch (err) {
    await session.release();
    throw err;
  }
  let numClasses = 0;
  let featureDim = 0;
  const evaluator: Evaluator = {
    get featureDim() {
      return featureDim || reference.dim;
    },
    get numClasses() {
      return numClasses || 10;
    },
    reference,
    async classify(images) {
      const [b, c, h, w] = images.shape as [number, number, number, number];
      if (images.shape.length !== 4 || c !== 1) throw new ModelError(`classifier: expected images [B, 1, H, W], got [${images.shape.join(', ')}]`);
      const out = await session.run({ image: new ort.Tensor('float32', toClassifierInput(images), [b, c, h, w]) });
      const logits = readFloat(out.logits!);
      const feats = readFloat(out.features!);
      numClasses = logits.length / b;
      featureDim = feats.length / b;
      if (featureDim !== reference.dim) {
        throw new ModelError(`classifier gives ${featureDim} features but ${TEST_FEATURES_FILE} has statistics for ${reference.dim}`);
      }
      const predicted = new Int32Array(b);
      const confidence = new Float32Array(b);
      for (let i = 0; i < b; i++) {
        let best = 0;
        let max = -Infinity;
        for (let k = 0; k < numClasses; k++) {
          const v = logits[i * numClasses + k]!;
          if (v > max) {
            max = v;
            best = k;
          }
        }
        let z = 0;
        for (let k = 0; k < numClasses; k++) z += Math.exp(logits[i * numClasses + k]! - max);
        predicted[i] = best;
        confidence[i] = 1 / z;
      }
      return { predicted, confidence, features: Float32Array.from(feats), featureDim };
    },
    release: () => session.release(),
  };
  return evaluator;
}

/** Fraction of predictions equal to the intended labels; labels outside the classifier's classes are skipped. */
export function classAccuracy(predicted: ArrayLike<number>, labels: ArrayLike<number>, numClasses = 10): number {
  if (predicted.length !== labels.length) throw new RangeError(`classAccuracy: ${predicted.length} predictions for ${labels.length} labels`);
  let hit = 0;
  let n = 0;
  for (let i = 0; i < labels.length; i++) {
    if (labels[i]! < 0 || labels[i]! >= numClasses) continue;
    n++;
    if (predicted[i] === labels[i]) hit++;
  }
  return n === 0 ? Number.NaN : hit / n;
}

/**
 * 95% percentile interval of bootstrap values, re-centred on the estimate: resampling with replacement
 * duplicates images, which biases FID upwards, so the interval is shifted by the bootstrap mean's bias.
 */
function centredInterval(values: number[], estimate: number): [number, number] {
  const sorted = [...values].sort((a, b) => a - b);
  const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.round(p * (sorted.length - 1))))]!;
  const bias = sorted.reduce((a, v) => a + v, 0) / sorted.length - estimate;
  return [q(0.025) - bias, q(0.975) - bias];
}

/** Collects classifications of many batches and reduces them to the metrics. */
export class MetricsAccumulator {
  private readonly features: number[] = [];
  private readonly predicted: number[] = [];
  private readonly labels: number[] = [];
  constructor(private readonly evaluator: Evaluator) {}

  async add(images: Tensor, labels: ArrayLike<number>): Promise<void> {
    const c = await this.evaluator.classify(images);
    for (const v of c.features) this.features.push(v);
    for (const p of c.predicted) this.predicted.push(p);
    for (let i = 0; i < labels.length; i++) this.labels.push(labels[i]!);
  }

  get count(): number {
    return this.predicted.length;
  }

  stats(): FeatureStats {
    return featureStats(this.features, this.predicted.length, this.evaluator.featureDim);
  }

  /**
   * Bootstrap 95% interval of the FID: resample the images with replacement `resamples` times (seeded),
   * recompute the Fréchet distance, take the 2.5% and 97.5% quantiles.
   */
  fidInterval(resamples = 200, seed = 0): [number, number] {
    const n = this.predicted.length, dim = this.evaluator.featureDim;
    const rng = createRng(seed + 7919);
    const values: number[] = [];
    const picked = new Float64Array(n * dim);
    // the reference's square root once, then one small eigen-decomposition per resample
    const distance = frechetToReference(this.evaluator.reference, dim);
    for (let b = 0; b < resamples; b++) {
      for (let r = 0; r < n; r++) {
        const src = Math.min(n - 1, Math.floor(rng.uniform() * n));
        for (let j = 0; j < dim; j++) picked[r * dim + j] = this.features[src * dim + j]!;
      }
      values.push(distance(picked, n));
    }
    const s = this.stats();
    const [lo, hi] = centredInterval(values, frechetDistance(s.mean, s.cov, this.evaluator.reference.mean, this.evaluator.reference.cov));
    return [Math.max(0, lo), Math.max(0, hi)];
  }

  /**
   * Paired bootstrap of FID(this) - FID(other) for two runs from the same noises and labels (image i of one
   * is image i of the other): each resample draws one set of image indices for both, so the noise both runs
   * share cancels and the interval is far narrower than the two single intervals side by side.
   */
  fidDifferenceInterval(other: MetricsAccumulator, resamples = 200, seed = 0): { diff: number; ci: [number, number] } {
    const n = this.predicted.length, dim = this.evaluator.featureDim;
    if (other.predicted.length !== n) throw new RangeError(`fidDifferenceInterval: ${n} images against ${other.predicted.length}`);
    const rng = createRng(seed + 104723);
    const distance = frechetToReference(this.evaluator.reference, dim);
    const mine = new Float64Array(n * dim), theirs = new Float64Array(n * dim);
    const values: number[] = [];
    for (let b = 0; b < resamples; b++) {
      for (let r = 0; r < n; r++) {
        const src = Math.min(n - 1, Math.floor(rng.uniform() * n));
        for (let j = 0; j < dim; j++) {
          mine[r * dim + j] = this.features[src * dim + j]!;
          theirs[r * dim + j] = other.features[src * dim + j]!;
        }
      }
      values.push(distance(mine, n) - distance(theirs, n));
    }
    const diff = this.result().fid - other.result().fid;
    return { diff, ci: centredInterval(values, diff) };
  }

  result(): ImageMetrics {
    const s = this.stats();
    return {
      count: this.predicted.length,
      classAccuracy: classAccuracy(this.predicted, this.labels, this.evaluator.numClasses),
      fid: frechetDistance(s.mean, s.cov, this.evaluator.reference.mean, this.evaluator.reference.cov),
    };
  }
}
