import { mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The server's output folder. Every job gets its own new sub-folder; files are created with the
 * exclusive flag, so nothing that already exists is ever overwritten.
 */
export class OutputFolder {
  constructor(readonly root: string) {}

  async ensure(): Promise<void> {
    await mkdir(this.root, { recursive: true });
  }

  /** Create a fresh folder `<UTC time>-<kind>-<short id>`; adds a counter if that name is taken. */
  async newJobFolder(kind: string, jobId: string): Promise<string> {
    await this.ensure();
    const stamp = new Date().toISOString().replace(/[:.]/g, '-').replace('Z', '');
    const base = `${stamp}-${kind}-${jobId.slice(0, 8)}`;
    for (let n = 0; n < 1000; n++) {
      const dir = join(this.root, n === 0 ? base : `${base}-${n}`);
      try {
        await mkdir(dir); // not recursive: fails with EEXIST instead of reusing a folder
        return dir;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
    }
    throw new Error(`could not create a new output folder under ${this.root}`);
  }
}

/** Write a file that must not exist yet ('wx'); throws EEXIST rather than overwrite. */
export async function writeNewFile(path: string, bytes: Uint8Array | string): Promise<void> {
  const handle = await open(path, 'wx');
  try {
    await handle.writeFile(bytes);
  } finally {
    await handle.close();
  }
}
