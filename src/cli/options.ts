/**
 * Option parsing shared by every `ays` command: one wording per kind of mistake, numbers parsed exactly,
 * and one policy for output paths, checked before any work.
 *
 * Output policy (every command that writes a file), checked before any work: a missing folder is created when
 * the file is written (as `ays generate` always did), so the nearest folder that exists must be writable and no
 * part of the path may be a file; the file must not exist unless `--overwrite` is given. `ays serve --out DIR`
 * follows the same rule for its folder. Nothing is created when a check fails.
 */
import { accessSync, constants, existsSync, mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { UsageError } from './errors.js';
import { validateSigmas, validateSteps } from '../core/validate.js';

const INTEGER = /^\s*[+-]?\d+\s*$/;

/** One option of a command's table: flags, help text, and the default when it has one. */
export type OptionRow = readonly [flags: string, help: string, fallback?: string];

/** Adds the command `name` to program with its description and the options of its table, in order. */
export function commandWithOptions(program: Command, name: string, description: string, options: readonly OptionRow[]): Command {
  const command = program.command(name).description(description);
  for (const [flags, help, fallback] of options) command.option(flags, help, fallback);
  return command;
}

/** Runs library code, turning its RangeError/TypeError (bad input) into a UsageError for the CLI. */
export function asUsage<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof RangeError || err instanceof TypeError) throw new UsageError(err.message);
    throw err;
  }
}

function range(min: number | undefined, max: number | undefined): string {
  if (min !== undefined && max !== undefined) return ` in [${min}, ${max}]`;
  if (min !== undefined) return ` >= ${min}`;
  if (max !== undefined) return ` <= ${max}`;
  return '';
}

/** An integer option: `--batch must be an integer >= 1, got "x"`. */
export function parseInteger(name: string, value: string, bounds: { min?: number; max?: number } = {}): number {
  const n = Number(value);
  const ok = INTEGER.test(value) && Number.isSafeInteger(n) && (bounds.min === undefined || n >= bounds.min) && (bounds.max === undefined || n <= bounds.max);
  if (!ok) throw new UsageError(`${name} must be an integer${range(bounds.min, bounds.max)}, got "${value}"`);
  return n;
}

/** A number option: `--cfg must be a number >= 0, got "x"`. `above` is an exclusive lower bound. */
export function parseNumber(name: string, value: string, bounds: { min?: number; max?: number; above?: number } = {}): number {
  const n = Number(value);
  const inRange =
    (bounds.min === undefined || n >= bounds.min) && (bounds.max === undefined || n <= bounds.max) && (bounds.above === undefined || n > bounds.above);
  if (value.trim() === '' || !Number.isFinite(n) || !inRange) {
    const where = bounds.above !== undefined ? ` in (${bounds.above}, ${bounds.max ?? 'inf'}]` : range(bounds.min, bounds.max);
    throw new UsageError(`${name} must be a number${where}, got "${value}"`);
  }
  return n;
}

/** A step count, worded as core's validateSteps words it for every caller: `--steps must be an integer >= 1, got 0`. */
export function parseSteps(value: string, name = '--steps'): number {
  const n = INTEGER.test(value) ? Number(value) : value;
  return asUsage(() => validateSteps(n, name));
}

/** Seeds are 64-bit: 0 .. 2^64-1, as ComfyUI's. */
export const SEED_MAX = 2n ** 64n - 1n;

/**
 * A seed, parsed exactly as a bigint (no rounding through a float): 0 .. 2^64-1. The message quotes what was
 * typed, never a converted number. Left out: a random 32-bit seed.
 */
export function parseSeed(value: string | undefined, name = '--seed'): bigint {
  if (value === undefined) return BigInt(Math.floor(Math.random() * 2 ** 32));
  const text = value.trim();
  if (!/^\d+$/.test(text) || BigInt(text) > SEED_MAX) throw new UsageError(`${name} must be a non-negative integer below 2^64 (0 .. ${SEED_MAX}), got "${value}"`);
  return BigInt(text);
}

/** A seed for the library: a number while it is exact as one, else the bigint (the library takes both). */
export function seedValue(seed: bigint): number | bigint {
  return seed <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(seed) : seed;
}

/** A seed for code that takes a plain number (the lab, the bundled-model runs): up to 2^53-1, else an error. */
export function safeSeed(seed: bigint, name = '--seed'): number {
  if (seed > BigInt(Number.MAX_SAFE_INTEGER)) throw new UsageError(`${name} must be at most 2^53-1 = ${Number.MAX_SAFE_INTEGER} for this command, got "${seed}"`);
  return Number(seed);
}

/** How every command writes a seed into JSON (sidecars, --json, eval): a decimal string, exact for all 64 bits. */
export function seedJson(seed: bigint | number): string {
  return typeof seed === 'bigint' ? seed.toString() : BigInt(seed).toString();
}

/**
 * A sigma list typed on the command line: numbers separated by commas (and/or spaces), or a JSON array.
 * An empty entry ("14,,3,0") is an error, not skipped; the list is then checked by core's validateSigmas.
 */
export function parseSigmaList(text: string, name = '--sigmas'): number[] {
  const trimmed = text.trim();
  if (trimmed === '') throw new UsageError(`${name} is empty; give numbers separated by commas, e.g. "14.6,3,1,0"`);
  let values: unknown;
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    try {
      values = JSON.parse(trimmed);
    } catch (err) {
      throw new UsageError(`${name} looks like JSON but does not parse: ${(err as Error).message}`);
    }
    if (values !== null && typeof values === 'object' && !Array.isArray(values)) values = (values as { sigmas?: unknown }).sigmas;
    if (!Array.isArray(values)) throw new UsageError(`${name}: expected a JSON array of sigmas or an object with a "sigmas" array`);
  } else {
    const parts = trimmed.split(',').map((p) => p.trim());
    const empty = parts.findIndex((p) => p === '');
    if (empty >= 0) throw new UsageError(`${name} has an empty entry (number ${empty + 1}) in "${text}"`);
    values = parts.flatMap((p) => p.split(/\s+/)).map((p) => {
      if (!NUMBER.test(p)) throw new UsageError(`${name}: "${p}" is not a number`);
      return Number(p);
    });
  }
  return asUsage(() => validateSigmas(values as number[], name));
}

const NUMBER = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/**
 * Throws unless `dir` is a writable folder or can be created: its nearest existing ancestor must be a writable
 * folder (a file in the path, or a read-only folder, is named). `what` names the output in the message.
 */
function checkFolder(dir: string, what: string): void {
  let at = dir;
  while (!existsSync(at)) {
    const up = dirname(at);
    if (up === at) break;
    at = up;
  }
  if (!statSync(at).isDirectory()) throw new UsageError(`${what}: ${at} is a file, not a folder`);
  try {
    accessSync(at, constants.W_OK);
  } catch {
    throw new UsageError(`${what}: cannot write in folder ${at} (permission denied)`);
  }
  // access() says yes to root everywhere but read-only mounts; /proc, /sys and some network mounts still refuse
  // a new file. Creating (and removing) a probe file is the only check that holds before minutes of work.
  const probe = join(at, `.ays-write-check-${process.pid}-${Date.now()}`);
  try {
    writeFileSync(probe, '', { flag: 'wx' });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? 'error';
    throw new UsageError(`${what}: cannot create files in folder ${at} (${code})`);
  }
  rmSync(probe, { force: true });
}

/**
 * The output policy for files, checked before any work: each file's folder exists and is writable, and the
 * file does not exist unless `overwrite` (nor is it a folder). Returns the resolved paths.
 */
export function checkOutputFiles(paths: readonly string[], options: { overwrite?: boolean; option?: string } = {}): string[] {
  const option = options.option ?? '--out';
  return paths.map((p) => {
    const abs = resolve(p);
    checkFolder(dirname(abs), `${option} ${p}`);
    if (existsSync(abs)) {
      if (statSync(abs).isDirectory()) throw new UsageError(`${option} ${p} is a folder; give a file name`);
      if (!options.overwrite) throw new UsageError(alreadyExists(p));
      try {
        accessSync(abs, constants.W_OK);
      } catch {
        throw new UsageError(`${option}: cannot write ${p} (permission denied)`);
      }
    }
    return abs;
  });
}

/** The output policy for an output folder (`ays serve --out`): created if missing, like the files' folders. */
export function checkOutputFolder(dir: string, option = '--out'): string {
  const abs = resolve(dir);
  if (existsSync(abs) && !statSync(abs).isDirectory()) throw new UsageError(`${option} ${dir} exists and is not a folder`);
  checkFolder(abs, `${option} ${dir}`);
  return abs;
}

/** The one wording for a file that is there already (also the image writer's, OverwriteError). */
export function alreadyExists(path: string): string {
  return `${path} already exists; refusing to overwrite it (pass --overwrite to replace it)`;
}

/** Writes an output file by the policy: missing folders created, never replacing a file unless `overwrite`. */
export function writeOutputFile(path: string, data: Uint8Array | string, overwrite: boolean | undefined): void {
  try {
    mkdirSync(dirname(resolve(path)), { recursive: true });
    writeFileSync(path, data, { flag: overwrite ? 'w' : 'wx' });
  } catch (err) {
    throw writeFailure(path, err);
  }
}

/** Turns a write failure into one line naming the file (the policy was checked before, so this is rare). */
export function writeFailure(path: string, err: unknown): UsageError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EEXIST') return new UsageError(alreadyExists(path));
  if (code === 'EACCES' || code === 'EPERM') return new UsageError(`cannot write ${path} (permission denied)`);
  if (code === 'ENOENT') return new UsageError(`cannot write ${path}: its folder does not exist`);
  return new UsageError(`cannot write ${path}: ${code ?? (err instanceof Error ? err.message : String(err))}`);
}

/** `a,b, c` -> ['a', 'b', 'c']; an empty list or entry is an error. */
export function parseList(name: string, value: string): string[] {
  const parts = value.split(',').map((s) => s.trim());
  if (parts.some((p) => p === '')) throw new UsageError(`${name} has an empty entry in "${value}"`);
  if (new Set(parts).size !== parts.length) throw new UsageError(`${name} lists a name twice: ${value}`);
  return parts;
}

/** A guidance scale: >= 0; above 30 (ComfyUI's sliders stop at 30 for most models) it still runs, with a warning. */
export function parseCfg(value: string, name = '--cfg'): number {
  const cfg = parseNumber(name, value, { min: 0 });
  if (cfg > CFG_WARN_ABOVE) warn(`${name} ${value} is far above the usual 1..${CFG_WARN_ABOVE}; expect a saturated, burnt image`);
  return cfg;
}

export const CFG_WARN_ABOVE = 30;

/** One warning line on stderr, `ays: warning: ...`. */
export function warn(message: string): void {
  process.stderr.write(`ays: warning: ${message}\n`);
}
