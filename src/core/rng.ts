/**
 * A small seeded generator for the lab and the optimizer (reproducible Monte Carlo, not ComfyUI noise).
 * sfc32 for uniforms, Box-Muller for normals; both halves of each Box-Muller pair are used.
 */
export interface Rng {
  /** Uniform in [0, 1). */
  uniform(): number;
  /** Standard normal. */
  normal(): number;
  /** n standard normals. */
  normals(n: number): Float64Array;
}

export function createRng(seed: number): Rng {
  let a = 0x9e3779b9 ^ (seed | 0);
  let b = 0x243f6a88 ^ Math.floor(seed / 4294967296);
  let c = 0xb7e15162;
  let d = 1;
  const next32 = (): number => {
    a |= 0; b |= 0; c |= 0; d |= 0;
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 16; i++) next32();
  // 53-bit uniforms
  const uniform = (): number => (next32() * 2097152 + (next32() >>> 11)) / 9007199254740992;
  let spare: number | null = null;
  const normal = (): number => {
    if (spare !== null) {
      const s = spare;
      spare = null;
      return s;
    }
    let u = uniform();
    while (u <= 0) u = uniform();
    const v = uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    spare = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  };
  return {
    uniform,
    normal,
    normals(n: number): Float64Array {
      const out = new Float64Array(n);
      for (let i = 0; i < n; i++) out[i] = normal();
      return out;
    },
  };
}
