// Correctly rounded (in practice) double-precision sin and cos for angles in [0, 2*pi], via double-double
// arithmetic. torch's float64 Box-Muller path calls glibc's sin/cos, which round correctly; V8's Math.cos
// and Math.sin are within 1 ulp but sometimes round the other way, which breaks bit-for-bit float64 randn.

const SPLIT = 134217729; // 2^27 + 1

function twoSum(a: number, b: number, out: Float64Array): void {
  const s = a + b;
  const bb = s - a;
  out[0] = s;
  out[1] = a - (s - bb) + (b - bb);
}

function twoProd(a: number, b: number, out: Float64Array): void {
  const p = a * b;
  const ta = SPLIT * a, ah = ta - (ta - a), al = a - ah;
  const tb = SPLIT * b, bh = tb - (tb - b), bl = b - bh;
  out[0] = p;
  out[1] = ah * bh - p + ah * bl + al * bh + al * bl;
}

const t = new Float64Array(2);
const u = new Float64Array(2);

/** (ah, al) * (bh, bl) -> out, double-double. */
function ddMul(ah: number, al: number, bh: number, bl: number, out: Float64Array): void {
  twoProd(ah, bh, t);
  const lo = t[1]! + (ah * bl + al * bh);
  const hi = t[0]! + lo;
  out[0] = hi;
  out[1] = lo - (hi - t[0]!);
}

/** (ah, al) + (bh, bl) -> out, double-double. */
function ddAdd(ah: number, al: number, bh: number, bl: number, out: Float64Array): void {
  twoSum(ah, bh, t);
  const lo = t[1]! + al + bl;
  const hi = t[0]! + lo;
  out[0] = hi;
  out[1] = lo - (hi - t[0]!);
}

/** (ah, al) / d for a small integer d -> out. */
function ddDivInt(ah: number, al: number, d: number, out: Float64Array): void {
  const q1 = ah / d;
  twoProd(q1, d, t);
  const rem = ah - t[0]! - t[1]! + al;
  const q2 = rem / d;
  const hi = q1 + q2;
  out[0] = hi;
  out[1] = q2 - (hi - q1);
}

// pi/2 as a sum of three doubles
const P1 = 1.5707963267948966;
const P2 = 6.123233995736766e-17;
const P3 = -1.4973849048591698e-33;

const r2 = new Float64Array(2);
const term = new Float64Array(2);
const acc = new Float64Array(2);
const red = new Float64Array(2);

/** Reduce x to r = x - k pi/2 (double-double in red), returns k mod 4. */
function reduce(x: number): number {
  const k = Math.round(x / P1);
  twoProd(k, P1, u);
  const hi = u[0]!, lo = u[1]!;
  twoSum(x, -hi, t);
  const s = t[0]!, e = t[1]!;
  const tail = e - lo - k * P2 - k * P3;
  const rh = s + tail;
  red[0] = rh;
  red[1] = tail - (rh - s);
  return ((k % 4) + 4) % 4;
}

/** Taylor series of cos (odd = false) or sin (odd = true) at the reduced argument in `red`. */
function series(odd: boolean): number {
  const rh = red[0]!, rl = red[1]!;
  ddMul(rh, rl, rh, rl, r2);
  if (odd) {
    term[0] = rh;
    term[1] = rl;
  } else {
    term[0] = 1;
    term[1] = 0;
  }
  acc[0] = term[0]!;
  acc[1] = term[1]!;
  for (let n = odd ? 1 : 0, k = 1; k <= 16; k++, n++) {
    // next term: term * (-r^2) / ((m+1)(m+2)) with m the current power
    const m = odd ? 2 * n - 1 : 2 * n;
    ddMul(term[0]!, term[1]!, -r2[0]!, -r2[1]!, term);
    ddDivInt(term[0]!, term[1]!, (m + 1) * (m + 2), term);
    ddAdd(acc[0]!, acc[1]!, term[0]!, term[1]!, acc);
    if (Math.abs(term[0]!) < 1e-40) break;
  }
  return acc[0]! + acc[1]!;
}

export function cosCorrect(x: number): number {
  const q = reduce(x);
  if (q === 0) return series(false);
  if (q === 1) return -series(true);
  if (q === 2) return -series(false);
  return series(true);
}

export function sinCorrect(x: number): number {
  const q = reduce(x);
  if (q === 0) return series(true);
  if (q === 1) return series(false);
  if (q === 2) return -series(true);
  return -series(false);
}

const LN2_HI = 0.6931471805599453;
const LN2_LO = 2.3190468138462996e-17;
const e2 = new Float64Array(2);
const v2 = new Float64Array(2);

/** exp(yh + yl) as a double-double in e2 (argument reduction by ln 2, Taylor series). */
function ddExp(yh: number, yl: number): void {
  const k = Math.round(yh / LN2_HI);
  // r = y - k ln2 in double-double
  twoProd(k, LN2_HI, u);
  twoSum(yh, -u[0]!, t);
  const tail = t[1]! - u[1]! + yl - k * LN2_LO;
  const rh = t[0]! + tail;
  const rl = tail - (rh - t[0]!);
  // sum r^n / n!
  term[0] = 1;
  term[1] = 0;
  acc[0] = 1;
  acc[1] = 0;
  for (let n = 1; n <= 30; n++) {
    ddMul(term[0]!, term[1]!, rh, rl, term);
    ddDivInt(term[0]!, term[1]!, n, term);
    ddAdd(acc[0]!, acc[1]!, term[0]!, term[1]!, acc);
    if (Math.abs(term[0]!) < 1e-36) break;
  }
  const scale = 2 ** k;
  e2[0] = acc[0]! * scale;
  e2[1] = acc[1]! * scale;
}

/** Natural log of a positive finite double, correctly rounded in practice (glibc's log is). */
export function logCorrect(x: number): number {
  const y0 = Math.log(x);
  if (!Number.isFinite(y0) || x === 1) return y0;
  // log x = y0 + log(x e^{-y0}), and x e^{-y0} = 1 + z with |z| ~ 1e-16
  ddExp(-y0, 0);
  twoProd(x, e2[0]!, v2);
  const z = v2[0]! - 1 + v2[1]! + x * e2[1]!;
  return y0 + (z - 0.5 * z * z);
}
