import { mkdir, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeNewFile } from './output.js';

/** Saved schedules are addressed as `saved:<name>` wherever a scheduler name is accepted. */
export const SAVED_PREFIX = 'saved:';
export const SAVED_NAME_PATTERN = '^[a-z0-9][a-z0-9_.-]{0,47}$';
const savedName = new RegExp(SAVED_NAME_PATTERN);

export interface SavedSchedule {
  name: string;
  /** The sigmas, highest first, usually ending in 0. */
  sigmas: number[];
  /** The model sampling it was made for (informational; the sigmas are absolute). */
  model: string;
  /** How it was made (e.g. "ays on gaussian-mixture, 4 sweeps"). */
  source: string;
  createdAt: string;
}

export class NameTakenError extends Error {
  constructor(name: string) {
    super(`a saved schedule named "${name}" already exists; choose another name`);
    this.name = 'NameTakenError';
  }
}

/**
 * Named schedules, one JSON file each in `<out>/schedules/`. Files are created exclusively, so saving
 * never replaces an existing schedule; the store is re-read on start-up.
 */
export class SavedSchedules {
  private readonly byName = new Map<string, SavedSchedule>();
  private readonly dir: string;

  constructor(outRoot: string) {
    this.dir = join(outRoot, 'schedules');
  }

  async load(): Promise<void> {
    let files: string[];
    try {
      files = await readdir(this.dir);
    } catch {
      return; // no folder yet: nothing saved
    }
    for (const file of files) {
      if (!file.endsWith('.json')) continue;
      try {
        const s = JSON.parse(await readFile(join(this.dir, file), 'utf8')) as SavedSchedule;
        if (savedName.test(s.name) && Array.isArray(s.sigmas) && s.sigmas.every((x) => typeof x === 'number')) this.byName.set(s.name, s);
      } catch {
        // A damaged file is skipped, not fatal: the studio still starts.
      }
    }
  }

  list(): SavedSchedule[] {
    return [...this.byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  get(name: string): SavedSchedule | undefined {
    return this.byName.get(name);
  }

  async save(entry: Omit<SavedSchedule, 'createdAt'>): Promise<SavedSchedule> {
    if (!savedName.test(entry.name)) throw new RangeError(`bad schedule name "${entry.name}": use 1-48 of a-z 0-9 _ . - starting with a letter or digit`);
    if (this.byName.has(entry.name)) throw new NameTakenError(entry.name);
    const saved: SavedSchedule = { ...entry, createdAt: new Date().toISOString() };
    await mkdir(this.dir, { recursive: true });
    try {
      await writeNewFile(join(this.dir, `${entry.name}.json`), `${JSON.stringify(saved, null, 2)}\n`);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new NameTakenError(entry.name);
      throw err;
    }
    this.byName.set(saved.name, saved);
    return saved;
  }
}
