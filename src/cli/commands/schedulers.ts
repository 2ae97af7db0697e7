/** `ays schedulers`: every schedule name with a one-line description. */
import type { Command } from 'commander';
import { schedulerNames, schedulerRegistry } from '../../schedules/registry.js';

export function register(program: Command): void {
  program
    .command('schedulers')
    .description('list every schedule --scheduler accepts, one per line')
    .option('--json', 'print a JSON array of {name, description}')
    .action((opts: { json?: boolean }) => {
      const rows = schedulerNames.map((name) => ({ name, description: schedulerRegistry.get(name)!.description }));
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(rows, null, 2)}\n`);
        return;
      }
      const width = Math.max(...rows.map((r) => r.name.length));
      for (const r of rows) process.stdout.write(`${r.name.padEnd(width)}  ${r.description}\n`);
    });
}
