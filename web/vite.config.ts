import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

// The studio's front-end. `npm run build:web` writes it to dist/web, which `ays serve` serves.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 300,
  },
});
