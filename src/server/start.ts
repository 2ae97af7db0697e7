import { createBackend } from './backend.js';
import { createStudio, type Studio } from './app.js';
import { createOptimizeSupport } from './optimize-support.js';

export interface StartOptions {
  host: string;
  port: number;
  outDir: string;
  modelDir?: string;
  concurrency?: number;
  logger?: boolean;
  webRoot?: string;
}

export interface RunningStudio extends Studio {
  url: string;
  close(): Promise<void>;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || host.startsWith('127.');
}

/** Build the studio and listen. On loopback, only loopback Host headers are accepted (DNS-rebinding guard). */
export async function startStudio(options: StartOptions): Promise<RunningStudio> {
  const backend = createBackend({ modelDir: options.modelDir });
  const studio = await createStudio({
    outDir: options.outDir,
    backend,
    concurrency: options.concurrency,
    logger: options.logger,
    webRoot: options.webRoot,
    allowedHosts: isLoopback(options.host) ? ['127.0.0.1', 'localhost', '::1', options.host] : [],
    optimize: createOptimizeSupport({ modelDir: options.modelDir }),
  });
  await studio.app.listen({ host: options.host, port: options.port });
  const address = studio.app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const host = options.host.includes(':') ? `[${options.host}]` : options.host;
  return { ...studio, url: `http://${host}:${port}/`, close: () => studio.app.close() };
}
