import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

/**
 * The admin console's build: one small bundle of Preact components, written to dist/web, which the
 * server serves at `/`. No CDN, no runtime download: everything it needs is in the bundle.
 */
const here = (p: string) => fileURLToPath(new URL(p, import.meta.url));

export default defineConfig({
  root: here('./app'),
  base: '/',
  logLevel: 'warn',
  publicDir: false,
  oxc: { jsx: { runtime: 'automatic', importSource: 'preact' } },
  build: {
    outDir: here('../../dist/web'),
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
    chunkSizeWarningLimit: 300,
  },
});
