#!/usr/bin/env node
import { Command, CommanderError } from 'commander';
import { readFileSync } from 'node:fs';
// Each command lives in its own module under ./commands and registers itself on the program.
// (command registrations: keep one import and one call per command)
import { register as registerGenerate } from './commands/generate.js';
import { register as registerServe } from './commands/serve.js';
import { register as registerSchedulers } from './commands/schedulers.js';
import { register as registerSigmas } from './commands/sigmas.js';
import { register as registerPlot } from './commands/plot.js';
import { register as registerDemo } from './commands/demo.js';
import { register as registerEval } from './commands/eval.js';
import { register as registerSamplers } from './commands/samplers.js';
import { register as registerOptimize } from './commands/optimize.js';
import { register as registerBench } from './commands/bench.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

export function buildProgram(): Command {
  const program = new Command();
  program
    .name('ays')
    .description('Align Your Steps and every ComfyUI schedule and sampler, in TypeScript')
    .version(pkg.version)
    .showHelpAfterError('(run "ays --help" for usage)');
  // registrations go here
  registerSamplers(program);
  registerOptimize(program);
  registerBench(program);
  registerGenerate(program);
  registerServe(program);
  registerSchedulers(program);
  registerSigmas(program);
  registerPlot(program);
  registerDemo(program);
  registerEval(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.exitOverride();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // commander already printed its message (help, version, unknown option ...)
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`ays: error: ${message}\n`);
    if (process.env.AYS_DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`);
    return 1;
  }
}

// Run when executed directly (also through the npm bin symlink).
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
const entry = process.argv[1] ? realpathSync(process.argv[1]) : '';
if (entry === realpathSync(fileURLToPath(import.meta.url))) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
