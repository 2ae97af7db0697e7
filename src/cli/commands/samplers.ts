import type { Command } from 'commander';
import { SAMPLERS } from '../../samplers/registry.js';

/** `ays samplers`: one line per sampler with its order, whether it is stochastic, and its NFE per step. */
export function register(program: Command): void {
  program
    .command('samplers')
    .description('list the samplers (ComfyUI names) with order, stochastic or not, and model calls per step')
    .option('--json', 'print JSON instead of a table')
    .action((opts: { json?: boolean }) => {
      if (opts.json) {
        const rows = SAMPLERS.map((s) => ({ name: s.name, order: s.order, stochastic: s.stochastic, nfePerStep: s.nfePerStep, defaults: s.defaults, needsUncond: !!s.needsUncond }));
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      const w = Math.max(...SAMPLERS.map((s) => s.name.length));
      const lines = SAMPLERS.map((s) => {
        const kind = s.stochastic ? 'stochastic' : 'deterministic';
        const extra = s.needsUncond ? ' (needs cfg guidance)' : '';
        return `${s.name.padEnd(w)}  order ${s.order}  ${kind.padEnd(13)}  nfe/step ${s.nfePerStep}${extra}\n`;
      });
      process.stdout.write(lines.join(''));
    });
}
