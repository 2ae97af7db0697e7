import { defineConfig } from 'vite';
import { fileURLToPath } from 'node:url';

// The studio's front-end. `npm run build:web` writes it to dist/web, which `ays serve` serves.
export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: './',
  logLevel: 'warn',
  // `npx vite --config web/vite.config.ts` serves the app with hot reload; the API comes from a running `ays serve`.
  server: { proxy: { '/api': 'http://127.0.0.1:7860' } },
  build: {
    outDir: fileURLToPath(new URL('../dist/web', import.meta.url)),
    emptyOutDir: true,
    target: 'es2022',
    chunkSizeWarningLimit: 300,
  },
});
