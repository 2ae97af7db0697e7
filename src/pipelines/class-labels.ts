/** Class names, indices and "none" -> labels for a class-conditional model card. */
import { ModelError } from '../runtime/session.js';
import type { ModelCard } from './class-model-folder.js';

/** A class name or index per image, or one for all. */
export type ClassLabelRequest = string | number | Array<string | number> | undefined;

/** Normalize a class name for matching: lower case, letters and digits only. */
function normalizeName(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]/g, '');
}

const UNCONDITIONAL_NAMES = new Set(['none', 'uncond', 'unconditional', 'null', 'noclass']);

export interface ClassResolver {
  /** A class name (case and punctuation ignored), an index 0..N-1, or "none"/"unconditional" -> label. */
  resolveClass(label: string | number): number;
  /** Labels for a batch: one label for all, a list of B, or (absent) classes 0, 1, 2, ... cycling. */
  resolveLabels(classLabel: ClassLabelRequest, batchSize: number | undefined): number[];
}

export function classResolver(card: ModelCard): ClassResolver {
  const names = card.classKeys;
  const displayNames = card.classes;
  const range = () => `use 0..${names.length - 1} (or a name: ${names.join(', ')}), or "none" for unconditional`;

  function resolveClass(label: string | number): number {
    if (typeof label === 'number') {
      if (Number.isInteger(label) && label >= 0 && label < names.length) return label;
      // the null-class index is an implementation detail of CFG: "none" asks for it by name
      if (label === card.nullClass) throw new ModelError(`class ${label} is out of range (${label} is the model's "no class" label): ${range()}`);
      throw new ModelError(`class ${label} is out of range: ${range()}`);
    }
    const text = label.trim();
    if (/^\d+$/.test(text)) return resolveClass(Number(text));
    const key = normalizeName(text);
    if (UNCONDITIONAL_NAMES.has(key)) return card.nullClass;
    for (let i = 0; i < names.length; i++) {
      // "T-shirt/top" (key "tshirt") also answers to "t-shirt", "T-shirt/top" and "top".
      const spellings = [names[i]!, displayNames[i]!, ...displayNames[i]!.split('/')];
      if (spellings.some((n) => normalizeName(n) === key)) return i;
    }
    throw new ModelError(`unknown class "${label}"; classes: ${names.map((n, i) => `${i} ${n}`).join(', ')} (or "none" for unconditional)`);
  }

  function resolveLabels(classLabel: ClassLabelRequest, batchSize: number | undefined): number[] {
    if (batchSize !== undefined && (!Number.isInteger(batchSize) || batchSize < 1)) {
      throw new ModelError(`batch size must be a positive integer, got ${batchSize}`);
    }
    if (Array.isArray(classLabel)) {
      if (classLabel.length === 0) throw new ModelError('the class list is empty');
      const labels = classLabel.map(resolveClass);
      if (batchSize === undefined || batchSize === labels.length) return labels;
      // A shorter list repeats to fill the batch (e.g. --class sneaker,bag --batch 6).
      return Array.from({ length: batchSize }, (_, i) => labels[i % labels.length]!);
    }
    const b = batchSize ?? 1;
    if (classLabel === undefined) return Array.from({ length: b }, (_, i) => i % names.length);
    const label = resolveClass(classLabel);
    return new Array<number>(b).fill(label);
  }

  return { resolveClass, resolveLabels };
}
