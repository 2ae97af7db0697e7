// Small DOM helpers: no framework, just element builders.

type Attrs = Record<string, string | number | boolean | undefined | ((e: Event) => void)>;

export function h<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Array<Node | string | null | undefined>): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === false) continue;
    if (typeof value === 'function') el.addEventListener(key.replace(/^on/, ''), value);
    else if (key === 'class') el.className = String(value);
    else if (key in el && typeof value !== 'string') (el as any)[key] = value;
    else el.setAttribute(key, value === true ? '' : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined) el.append(child);
  return el;
}

export function clear(el: Element): void {
  while (el.firstChild) el.firstChild.remove();
}

let toastTimer: number | undefined;
export function toast(message: string, kind: 'info' | 'error' = 'info'): void {
  const el = document.getElementById('toast')!;
  el.textContent = message;
  el.className = `toast show ${kind}`;
  window.clearTimeout(toastTimer);
  toastTimer = window.setTimeout(() => (el.className = 'toast'), kind === 'error' ? 6000 : 2500);
}

/** Parse "4, 8 10" into distinct positive integers, in the order given. */
export function parseSteps(text: string, max: number): number[] {
  const out: number[] = [];
  for (const part of text.split(/[\s,;]+/)) {
    if (!part) continue;
    const n = Number(part);
    if (!Number.isInteger(n) || n < 1 || n > max) throw new Error(`"${part}" is not a step count between 1 and ${max}`);
    if (!out.includes(n)) out.push(n);
  }
  if (out.length === 0) throw new Error('give at least one step count');
  return out;
}

/** A checkbox list with a filter box; returns the element and a getter for the checked values. */
export function checkList(
  name: string,
  values: string[],
  checked: string[],
  opts: { filter?: boolean; compact?: boolean; onChange?: () => void; titles?: Record<string, string> } = {},
) {
  const list = h('div', { class: opts.compact ? 'checklist compact' : 'checklist', 'data-name': name });
  const boxes: HTMLInputElement[] = [];
  for (const v of values) {
    const box = h('input', { type: 'checkbox', value: v, checked: checked.includes(v), onchange: () => opts.onChange?.() });
    boxes.push(box);
    list.append(h('label', { class: 'check', title: opts.titles?.[v] ? `${v}: ${opts.titles[v]}` : v }, box, h('span', {}, v)));
  }
  const wrap = h('div', { class: 'checklist-wrap' });
  if (opts.filter) {
    const filter = h('input', {
      type: 'search',
      placeholder: `filter ${values.length}…`,
      class: 'filter',
      oninput: () => {
        const q = filter.value.trim().toLowerCase();
        for (const b of boxes) (b.parentElement as HTMLElement).style.display = !q || b.value.toLowerCase().includes(q) ? '' : 'none';
      },
    });
    wrap.append(filter);
  }
  wrap.append(list);
  return {
    el: wrap,
    values: () => boxes.filter((b) => b.checked).map((b) => b.value),
    set: (vals: string[]) => {
      for (const b of boxes) b.checked = vals.includes(b.value);
    },
  };
}

export function field(label: string, control: Node, hint?: string): HTMLElement {
  return h('div', { class: 'field' }, h('label', { class: 'field-label' }, label), control, hint ? h('div', { class: 'hint' }, hint) : null);
}

export const palette = ['#4361ee', '#e63946', '#2a9d8f', '#f4a261', '#7b2cbf', '#118ab2', '#ef476f', '#6a994e', '#bc6c25', '#3a0ca3', '#fb8500', '#2b2d42'];

/**
 * The colour of series number `i`: the palette first, then hues spaced by the golden angle at alternating
 * lightness, so no two of the first hundred series share a colour.
 */
export function seriesColor(i: number): string {
  if (i < palette.length) return palette[i]!;
  const k = i - palette.length;
  const hue = Math.round((k * 137.508 + 20) % 360);
  const light = [42, 58, 34][k % 3];
  return `hsl(${hue}, 70%, ${light}%)`;
}

/** Dash patterns that tell step counts of one scheduler apart (solid first). */
export const dashes: Array<number[] | undefined> = [undefined, [8, 4], [2, 3], [12, 4, 2, 4], [4, 8], [1, 6], [10, 2], [6, 3, 1, 3]];

export function fmt(x: number | null): string {
  if (x === null || !Number.isFinite(x)) return x === null ? '—' : String(x);
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e5 || a < 1e-3) return x.toExponential(3);
  const s = x.toPrecision(5);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}
