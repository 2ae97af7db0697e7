/**
 * A small SVG line chart: labelled series, optional log-scale y, axis titles, legend. Text uses DejaVu Sans
 * (falling back to any sans-serif), which librsvg finds when rasterising through svgToPng.
 */

export interface Series {
  label: string;
  points: readonly (readonly [number, number])[];
  /** CSS colour; default from a colour-blind-friendly palette. */
  color?: string;
}

export interface LineChartOptions {
  title?: string;
  xLabel?: string;
  yLabel?: string;
  /** Log-scale y axis; points with y <= 0 are left out (and said so under the chart). */
  logY?: boolean;
  series: readonly Series[];
  width?: number;
  height?: number;
  /** Draw a dot at every point (default true). */
  markers?: boolean;
}

const PALETTE = ['#0072B2', '#D55E00', '#009E73', '#CC79A7', '#E69F00', '#56B4E9', '#000000', '#F0E442', '#999999', '#8C564B'];
const FONT = "DejaVu Sans, Verdana, sans-serif";

function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!);
}

function fmt(v: number): string {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(0).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

/** Round-number ticks (1, 2, 5 x 10^k) covering [lo, hi]. */
export function linearTicks(lo: number, hi: number, target = 6): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / target;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  return ticks;
}

/** Powers of ten in [lo, hi], plus 2x and 5x when there are few decades. */
export function logTicks(lo: number, hi: number): number[] {
  const k0 = Math.floor(Math.log10(lo));
  const k1 = Math.ceil(Math.log10(hi));
  const mults = k1 - k0 <= 3 ? [1, 2, 5] : [1];
  const ticks: number[] = [];
  for (let k = k0; k <= k1; k++) {
    for (const m of mults) {
      const t = Number((m * 10 ** k).toPrecision(12));
      if (t >= lo * (1 - 1e-9) && t <= hi * (1 + 1e-9)) ticks.push(t);
    }
  }
  return ticks;
}

export function lineChartSvg(options: LineChartOptions): string {
  const width = options.width ?? 900;
  const height = options.height ?? 560;
  const logY = options.logY ?? false;
  const markers = options.markers ?? true;
  if (!Array.isArray(options.series) || options.series.length === 0) throw new RangeError('a chart needs at least one series');

  let dropped = 0;
  type Pt = readonly [number, number];
  const series: { label: string; color: string; points: Pt[] }[] = options.series.map((s, i) => {
    const points = s.points.filter(([x, y]: Pt) => {
      const ok = Number.isFinite(x) && Number.isFinite(y) && (!logY || y > 0);
      if (!ok) dropped++;
      return ok;
    });
    return { label: s.label, color: s.color ?? PALETTE[i % PALETTE.length]!, points };
  });
  const all = series.flatMap((s) => s.points);
  if (all.length === 0) throw new RangeError('no plottable points (log scale needs y > 0)');

  // the x range covers points hidden by the log scale too, so every step keeps its place
  const xs = options.series.flatMap((s) => s.points.map((p: Pt) => p[0])).filter((x) => Number.isFinite(x));
  let xMin = Math.min(...xs);
  let xMax = Math.max(...xs);
  let yMin = Math.min(...all.map((p) => p[1]));
  let yMax = Math.max(...all.map((p) => p[1]));
  if (xMax === xMin) {
    xMin -= 1;
    xMax += 1;
  }
  if (logY) {
    if (yMax === yMin) {
      yMin /= 2;
      yMax *= 2;
    }
    yMin = 10 ** (Math.floor(Math.log10(yMin) * 4) / 4);
    yMax = 10 ** (Math.ceil(Math.log10(yMax) * 4) / 4);
  } else {
    if (yMax === yMin) {
      yMin -= 1;
      yMax += 1;
    }
    const pad = (yMax - yMin) * 0.05;
    yMin -= pad;
    yMax += pad;
  }

  const margin = { left: 84, right: 24, top: options.title ? 52 : 24, bottom: dropped > 0 ? 84 : 64 };
  const pw = width - margin.left - margin.right;
  const ph = height - margin.top - margin.bottom;
  const sx = (x: number) => margin.left + ((x - xMin) / (xMax - xMin)) * pw;
  const sy = logY
    ? (y: number) => margin.top + (1 - (Math.log10(y) - Math.log10(yMin)) / (Math.log10(yMax) - Math.log10(yMin))) * ph
    : (y: number) => margin.top + (1 - (y - yMin) / (yMax - yMin)) * ph;
  const n = (v: number) => v.toFixed(2);

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="${FONT}">`);
  out.push(`<rect width="${width}" height="${height}" fill="#ffffff"/>`);
  if (options.title) {
    out.push(`<text x="${width / 2}" y="32" text-anchor="middle" font-size="20" font-weight="bold" fill="#222">${escapeXml(options.title)}</text>`);
  }
  // grid and ticks
  const yTicks = logY ? logTicks(yMin, yMax) : linearTicks(yMin, yMax);
  const xTicks = linearTicks(xMin, xMax, 10).filter((t) => Number.isInteger(t) || xMax - xMin < 10);
  for (const t of yTicks) {
    const y = sy(t);
    out.push(`<line x1="${margin.left}" y1="${n(y)}" x2="${margin.left + pw}" y2="${n(y)}" stroke="#e3e3e3" stroke-width="1"/>`);
    out.push(`<text x="${margin.left - 8}" y="${n(y + 4)}" text-anchor="end" font-size="13" fill="#333">${escapeXml(fmt(t))}</text>`);
  }
  for (const t of xTicks) {
    const x = sx(t);
    out.push(`<line x1="${n(x)}" y1="${margin.top}" x2="${n(x)}" y2="${margin.top + ph}" stroke="#efefef" stroke-width="1"/>`);
    out.push(`<text x="${n(x)}" y="${margin.top + ph + 20}" text-anchor="middle" font-size="13" fill="#333">${escapeXml(fmt(t))}</text>`);
  }
  out.push(`<rect x="${margin.left}" y="${margin.top}" width="${pw}" height="${ph}" fill="none" stroke="#555" stroke-width="1"/>`);
  if (options.xLabel) {
    out.push(`<text x="${margin.left + pw / 2}" y="${margin.top + ph + 46}" text-anchor="middle" font-size="15" fill="#222">${escapeXml(options.xLabel)}</text>`);
  }
  if (options.yLabel) {
    const cy = margin.top + ph / 2;
    out.push(`<text x="22" y="${cy}" text-anchor="middle" font-size="15" fill="#222" transform="rotate(-90 22 ${cy})">${escapeXml(options.yLabel + (logY ? ' (log scale)' : ''))}</text>`);
  }
  if (dropped > 0) {
    const note = logY ? `${dropped} point(s) at y <= 0 (e.g. a final sigma of 0) are not shown on the log scale` : `${dropped} non-finite point(s) not shown`;
    out.push(`<text x="${margin.left}" y="${height - 12}" font-size="12" fill="#666">${escapeXml(note)}</text>`);
  }
  // lines
  for (const s of series) {
    if (s.points.length === 0) continue;
    const d = s.points.map(([x, y]: Pt, i: number) => `${i === 0 ? 'M' : 'L'}${n(sx(x))},${n(sy(y))}`).join(' ');
    out.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2.2" stroke-linejoin="round"/>`);
    if (markers) for (const [x, y] of s.points) out.push(`<circle cx="${n(sx(x))}" cy="${n(sy(y))}" r="3.2" fill="${s.color}"/>`);
  }
  // legend (top right, inside the plot)
  const lineH = 20;
  const legendW = Math.max(...series.map((s) => s.label.length)) * 8.2 + 46;
  const lx = margin.left + pw - legendW - 10;
  const ly = margin.top + 10;
  out.push(`<rect x="${n(lx)}" y="${ly}" width="${n(legendW)}" height="${series.length * lineH + 10}" fill="#ffffff" fill-opacity="0.9" stroke="#bbb"/>`);
  series.forEach((s, i) => {
    const y = ly + 15 + i * lineH;
    out.push(`<line x1="${n(lx + 8)}" y1="${y}" x2="${n(lx + 32)}" y2="${y}" stroke="${s.color}" stroke-width="3"/>`);
    out.push(`<text x="${n(lx + 38)}" y="${y + 5}" font-size="14" fill="#222">${escapeXml(s.label)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}

/** Rasterises an SVG to PNG with sharp (librsvg). `density` 96 keeps the SVG's pixel size; 192 doubles it. */
export async function svgToPng(svg: string, density = 144): Promise<Buffer> {
  const { default: sharp } = await import('sharp');
  return sharp(Buffer.from(svg, 'utf8'), { density }).png().toBuffer();
}
