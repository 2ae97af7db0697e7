/**
 * A labelled comparison grid: rows (e.g. schedules) x columns (e.g. step counts), each cell a small tile
 * block of images, with row labels on the left, column labels on top, an optional caption under each cell
 * and a title. Pixels are laid out here; the text is an SVG overlay rasterized by sharp (librsvg).
 */
import sharp from 'sharp';
import type { Tensor } from '../tensor/tensor.js';

export interface GridSpec {
  title?: string;
  /** A second, smaller title line. */
  subtitle?: string;
  rowLabels: string[];
  colLabels: string[];
  /** cells[r][c]: images [N, 1 or 3, H, W] in [0, 1], or null for an empty cell (drawn grey with its caption). */
  cells: Array<Array<Tensor | null>>;
  /** Optional text under each cell, e.g. metrics. */
  captions?: Array<Array<string | undefined>>;
  /** Images per row inside one cell (default: all in one row). */
  tilesPerRow?: number;
  /** Integer pixel magnification (default 2). */
  scale?: number;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&'"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', "'": '&apos;', '"': '&quot;' })[c]!);
}

/** Render the grid to PNG bytes. */
export async function renderGrid(spec: GridSpec): Promise<Uint8Array> {
  const rows = spec.rowLabels.length;
  const cols = spec.colLabels.length;
  if (spec.cells.length !== rows || spec.cells.some((r) => r.length !== cols)) {
    throw new RangeError(`renderGrid: cells must be ${rows} rows of ${cols}`);
  }
  const first = spec.cells.flat().find((c): c is Tensor => c !== null);
  if (!first) throw new RangeError('renderGrid: every cell is empty');
  const [, , h, w] = first.shape as [number, number, number, number];
  const n = first.shape[0]!;
  const scale = spec.scale ?? 2;
  const perRow = Math.min(spec.tilesPerRow ?? n, n);
  const tileRows = Math.ceil(n / perRow);
  const gap = 1;
  const cellW = perRow * (w * scale + gap) - gap;
  const cellH = tileRows * (h * scale + gap) - gap;
  const font = 13;
  const hasCaptions = spec.captions?.some((r) => r.some((c) => c));
  const captionH = hasCaptions ? font + 6 : 0;
  const pad = 8;
  const labelW = Math.max(60, ...spec.rowLabels.map((l) => Math.ceil(l.length * font * 0.62) + 2 * pad));
  const titleH = (spec.title ? font + 10 : 0) + (spec.subtitle ? font + 4 : 0) + (spec.title || spec.subtitle ? 6 : 0);
  const headH = font + 10;
  const textW = (s: string | undefined, size: number) => (s ? Math.ceil(s.length * size * 0.62) + 2 * pad : 0);
  const width = Math.max(labelW + cols * (cellW + pad) + pad, textW(spec.title, font), textW(spec.subtitle, font - 2));
  const height = titleH + headH + rows * (cellH + captionH + pad) + pad;

  const rgb = Buffer.alloc(width * height * 3, 255);
  const put = (x: number, y: number, r: number, g: number, b: number) => {
    const o = (y * width + x) * 3;
    rgb[o] = r;
    rgb[o + 1] = g;
    rgb[o + 2] = b;
  };
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      const x0 = labelW + c * (cellW + pad);
      const y0 = titleH + headH + r * (cellH + captionH + pad);
      const cell = spec.cells[r]![c]!;
      if (!cell) {
        for (let y = 0; y < cellH; y++) for (let x = 0; x < cellW; x++) put(x0 + x, y0 + y, 225, 225, 225);
        continue;
      }
      const [cn, cc, ch, cw] = cell.shape as [number, number, number, number];
      if (ch !== h || cw !== w || cn !== n) throw new RangeError(`renderGrid: cell (${r}, ${c}) has shape [${cell.shape.join(', ')}], expected [${n}, *, ${h}, ${w}]`);
      const plane = h * w;
      for (let k = 0; k < n; k++) {
        const tx = x0 + (k % perRow) * (w * scale + gap);
        const ty = y0 + Math.floor(k / perRow) * (h * scale + gap);
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            const px = [0, 1, 2].map((ch3) => {
              const v = cell.data[(k * cc + (cc === 1 ? 0 : ch3)) * plane + y * w + x]!;
              return Math.round(Math.min(1, Math.max(0, Number.isNaN(v) ? 0 : v)) * 255);
            });
            for (let dy = 0; dy < scale; dy++) for (let dx = 0; dx < scale; dx++) put(tx + x * scale + dx, ty + y * scale + dy, px[0]!, px[1]!, px[2]!);
          }
        }
      }
    }
  }

  const text: string[] = [];
  const t = (x: number, y: number, s: string, opts = '') =>
    text.push(`<text x="${x}" y="${y}" ${opts}>${escapeXml(s)}</text>`);
  if (spec.title) t(pad, font + 6, spec.title, 'font-weight="bold"');
  if (spec.subtitle) t(pad, (spec.title ? font + 10 : 0) + font + 2, spec.subtitle, `font-size="${font - 2}" fill="#333"`);
  for (let c = 0; c < cols; c++) t(labelW + c * (cellW + pad) + cellW / 2, titleH + font + 2, spec.colLabels[c]!, 'text-anchor="middle" font-weight="bold"');
  for (let r = 0; r < rows; r++) {
    const y0 = titleH + headH + r * (cellH + captionH + pad);
    t(labelW - pad, y0 + cellH / 2 + font / 2 - 2, spec.rowLabels[r]!, 'text-anchor="end" font-weight="bold"');
    for (let c = 0; c < cols; c++) {
      const cap = spec.captions?.[r]?.[c];
      if (cap) t(labelW + c * (cellW + pad) + cellW / 2, y0 + cellH + font + 1, cap, 'text-anchor="middle" font-size="11" fill="#333"');
    }
  }
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<g font-family="DejaVu Sans, Liberation Sans, Arial, Helvetica, sans-serif" font-size="${font}" fill="#000">${text.join('')}</g></svg>`;
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } })
    .composite([{ input: Buffer.from(svg), top: 0, left: 0 }])
    .png({ compressionLevel: 9 })
    .toBuffer();
  return new Uint8Array(png);
}
