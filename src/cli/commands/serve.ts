import { resolve } from 'node:path';
import { existsSync, statSync } from 'node:fs';
import type { Command } from 'commander';
import { UsageError } from '../errors.js';
import { checkOutputFolder, parseInteger } from '../options.js';


export function register(program: Command): void {
  program
    .command('serve')
    .description('Start the local web studio: plot schedules, compare them on image grids, run the optimizer')
    .option('--port <port>', 'port to listen on (0 picks a free one)', '7860')
    .option('--host <host>', 'address to bind; anything but loopback exposes the studio to your network', '127.0.0.1')
    .option('--model <dir>', 'ONNX model folder to render with (default: the bundled Fashion-MNIST model)')
    .option('--out <dir>', 'output folder for images and saved schedules', 'ays-studio-output')
    .option('--concurrency <n>', 'generation jobs running at once', '1')
    .option('--verbose', 'log every request')
    .action(async (opts: { port: string; host: string; model?: string; out: string; concurrency: string; verbose?: boolean }) => {
      const port = parseInteger('--port', opts.port, { min: 0, max: 65535 });
      const concurrency = parseInteger('--concurrency', opts.concurrency, { min: 1, max: 8 });
      let modelDir: string | undefined;
      if (opts.model !== undefined) {
        modelDir = resolve(opts.model);
        if (!existsSync(modelDir) || !statSync(modelDir).isDirectory()) throw new UsageError(`--model: "${opts.model}" is not a folder`);
      }
      const outDir = checkOutputFolder(opts.out);
      // Loaded on use: the server pulls in fastify and onnxruntime, which other commands do not need.
      const { startStudio } = await import('../../server/start.js');
      let studio: Awaited<ReturnType<typeof startStudio>>;
      try {
        studio = await startStudio({ host: opts.host, port, modelDir, outDir, concurrency, logger: opts.verbose ?? false });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EADDRINUSE') throw new UsageError(`port ${port} is already in use on ${opts.host}; choose another with --port`);
        if (code === 'EACCES') throw new UsageError(`no permission to listen on ${opts.host}:${port}; choose a port above 1023`);
        if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new UsageError(`--host ${opts.host} is not an address of this machine`);
        throw err;
      }
      process.stdout.write(`ays studio: ${studio.url}  (output: ${outDir}; Ctrl+C to stop)\n`);
      if (!isLoopback(opts.host)) {
        process.stderr.write(`ays: warning: bound to ${opts.host}: anyone who can reach this address can run jobs on this machine\n`);
      }
      await new Promise<void>((done) => {
        const stop = () => {
          process.off('SIGINT', stop);
          process.off('SIGTERM', stop);
          void studio.close().then(done, done);
        };
        process.on('SIGINT', stop);
        process.on('SIGTERM', stop);
      });
    });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}
