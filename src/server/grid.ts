import sharp from 'sharp';

export interface GridLayout {
  rows: number;
  cols: number;
  rowLabels: string[];
  colLabels: string[];
  /** PNG bytes per cell, row-major; a missing cell (cancelled job) stays blank. */
  cells: Array<Uint8Array | undefined>;
  /** Pixel size each cell is scaled to (nearest neighbour, so small images stay crisp). */
  cellSize: number;
  title?: string;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}

/** Compose cells into one labelled grid PNG: column labels on top, row labels on the left. */
export async function composeGrid(layout: GridLayout): Promise<Buffer> {
  const { rows, cols, cellSize } = layout;
  const gap = 6;
  const margin = 12;
  const font = 13;
  const labelWidth = Math.min(260, Math.max(90, 8 + Math.max(0, ...layout.rowLabels.map((l) => l.length)) * 7.5));
  const titleHeight = layout.title ? 26 : 0;
  const headerHeight = 24;
  const width = Math.ceil(labelWidth + cols * (cellSize + gap) + margin);
  const height = titleHeight + headerHeight + rows * (cellSize + gap) + margin;
  const text: string[] = [];
  if (layout.title) {
    text.push(`<text x="${margin}" y="18" font-size="${font + 1}" font-weight="bold">${escapeXml(layout.title)}</text>`);
  }
  layout.colLabels.forEach((label, c) => {
    const x = labelWidth + gap + c * (cellSize + gap) + cellSize / 2;
    text.push(`<text x="${x}" y="${titleHeight + 17}" font-size="${font}" text-anchor="middle">${escapeXml(label)}</text>`);
  });
  layout.rowLabels.forEach((label, r) => {
    const y = titleHeight + headerHeight + r * (cellSize + gap) + cellSize / 2 + font / 3;
    text.push(`<text x="${labelWidth - 6}" y="${y}" font-size="${font}" text-anchor="end">${escapeXml(label)}</text>`);
  });
  const svg =
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">` +
    `<rect width="100%" height="100%" fill="#ffffff"/>` +
    `<g font-family="DejaVu Sans, Liberation Sans, sans-serif" fill="#1f2430">${text.join('')}</g></svg>`;
  const overlays: Array<{ input: Buffer; left: number; top: number }> = [];
  for (let i = 0; i < layout.cells.length; i++) {
    const png = layout.cells[i];
    if (!png) continue;
    const r = Math.floor(i / cols);
    const c = i % cols;
    const input = await sharp(png).resize(cellSize, cellSize, { kernel: 'nearest', fit: 'contain', background: '#ffffff' }).png().toBuffer();
    overlays.push({ input, left: Math.round(labelWidth + gap + c * (cellSize + gap)), top: titleHeight + headerHeight + r * (cellSize + gap) });
  }
  return sharp(Buffer.from(svg)).composite(overlays).png().toBuffer();
}
