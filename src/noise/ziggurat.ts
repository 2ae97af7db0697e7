// Fast seeded standard normals for the Brownian tree: a xoshiro128** stream per key (Blackman & Vigna) turned
// into normals by the ziggurat method (Marsaglia & Tsang 2000, "The Ziggurat Method for Generating Random
// Variables", 256 layers). One 32-bit draw per normal on the fast path (about 99% of draws): its low 8 bits
// pick the layer, bit 8 the sign and the top 23 bits the position in the layer, so the three never share bits.

const LAYERS = 256;
/** Right edge of the base layer and the common layer area for 256 layers of exp(-x^2/2) (Marsaglia & Tsang). */
const R = 3.6541528853610088;
const V = 0.00492867323399;

/** layerX[i]: right edge of layer i (layerX[0] is the base layer's virtual width V / f(R)); layerX[256] = 0. */
const layerX = new Float64Array(LAYERS + 1);
/** layerF[i] = exp(-layerX[i]^2 / 2); layerF[256] = 1. */
const layerF = new Float64Array(LAYERS + 1);
/** Value of one unit of the 23-bit position in layer i. */
const layerScale = new Float64Array(LAYERS);
{
  const f = (x: number): number => Math.exp(-0.5 * x * x);
  layerX[0] = V / f(R);
  layerX[1] = R;
  for (let i = 1; i < LAYERS - 1; i++) layerX[i + 1] = Math.sqrt(-2 * Math.log(V / layerX[i]! + f(layerX[i]!)));
  layerX[LAYERS] = 0;
  for (let i = 0; i <= LAYERS; i++) layerF[i] = f(layerX[i]!);
  layerF[LAYERS] = 1;
  for (let i = 0; i < LAYERS; i++) layerScale[i] = layerX[i]! / 8388608;
}

/** murmur3's 32-bit finaliser. */
export function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A xoshiro128** state for a key of five 32-bit words (different keys give unrelated streams). */
export function keyedState(state: Uint32Array, k0: number, k1: number, k2: number, k3: number, k4: number): void {
  const h = fmix32(k0 ^ fmix32(k1 ^ fmix32(k2 ^ fmix32(k3 ^ fmix32(k4 ^ 0x2545f491)))));
  state[0] = fmix32(h ^ 0x9e3779b9);
  state[1] = fmix32(h ^ 0x7f4a7c15);
  state[2] = fmix32(h ^ 0x94d049bb);
  state[3] = fmix32(h ^ 0xbf58476d);
  if ((state[0] | state[1] | state[2] | state[3]) === 0) state[0] = 1;
}

/** One xoshiro128** output from a state kept in a Uint32Array (the slow path's generator). */
function nextUint32(s: Uint32Array): number {
  const s0 = s[0]!, s1 = s[1]!;
  const x = Math.imul(s1, 5);
  const out = Math.imul((x << 7) | (x >>> 25), 9) >>> 0;
  const t = s1 << 9;
  const s2 = s[2]! ^ s0;
  const s3 = s[3]! ^ s1;
  s[1] = s1 ^ s2;
  s[0] = s0 ^ s3;
  s[2] = s2 ^ t;
  s[3] = (s3 << 11) | (s3 >>> 21);
  return out;
}

/** Uniform in (0, 1], 32 bits. */
const uniformOpen = (s: Uint32Array): number => (nextUint32(s) + 1) / 4294967296;

/**
 * The rare ziggurat draws: the first draw landed in layer `layer` at `x` outside the layer's inner box. Returns
 * a magnitude |z| with the half-normal law, drawing what it needs from `spare`.
 */
function slowMagnitude(layer: number, x: number, spare: Uint32Array): number {
  for (;;) {
    if (layer === 0) {
      // tail beyond R (Marsaglia's exponential rejection)
      for (;;) {
        const a = -Math.log(uniformOpen(spare)) / R;
        const b = -Math.log(uniformOpen(spare));
        if (b + b >= a * a) return R + a;
      }
    }
    const y = layerF[layer]! + uniformOpen(spare) * (layerF[layer + 1]! - layerF[layer]!);
    if (y < Math.exp(-0.5 * x * x)) return x;
    const r = nextUint32(spare);
    layer = r & 255;
    x = (r >>> 9) * layerScale[layer]!;
    if (x < layerX[layer + 1]!) return x;
  }
}

/**
 * out[j] = wa * a[j] + wb * b[j] + std * z_j for j < n, with z_j standard normals from the stream keyed by `key`
 * (a Brownian-bridge midpoint, or with wa = wb = 0 plain scaled normals). `spare` is scratch for the slow path.
 */
export function bridgeFill(
  out: Float64Array,
  a: Float64Array,
  wa: number,
  b: Float64Array,
  wb: number,
  std: number,
  n: number,
  key: Uint32Array,
  spare: Uint32Array,
): void {
  let s0 = key[0]! | 0, s1 = key[1]! | 0, s2 = key[2]! | 0, s3 = key[3]! | 0;
  // the slow path draws from its own stream, derived from the same key
  spare[0] = s2 ^ 0x6a09e667;
  spare[1] = s3 ^ 0xbb67ae85;
  spare[2] = s0 ^ 0x3c6ef372;
  spare[3] = s1 ^ 0xa54ff53a;
  const X = layerX, S = layerScale;
  for (let j = 0; j < n; j++) {
    // xoshiro128**
    const m = Math.imul(s1, 5);
    const r = Math.imul((m << 7) | (m >>> 25), 9);
    const t = s1 << 9;
    s2 ^= s0;
    s3 ^= s1;
    s1 ^= s2;
    s0 ^= s3;
    s2 ^= t;
    s3 = (s3 << 11) | (s3 >>> 21);
    const layer = r & 255;
    let z = (r >>> 9) * S[layer]!;
    if (z >= X[layer + 1]!) z = slowMagnitude(layer, z, spare);
    z *= 1 - ((r >>> 7) & 2); // sign from bit 8, without a branch (it is a coin flip, so a branch mispredicts)
    out[j] = wa * a[j]! + wb * b[j]! + std * z;
  }
}

/** n standard normals from the stream keyed by `key` (for tests and plain draws). */
export function keyedNormals(n: number, k0: number, k1: number, k2: number, k3: number, k4: number): Float64Array {
  const key = new Uint32Array(4), spare = new Uint32Array(4), out = new Float64Array(n);
  keyedState(key, k0, k1, k2, k3, k4);
  bridgeFill(out, out, 0, out, 0, 1, n, key, spare);
  return out;
}
