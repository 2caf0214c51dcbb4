// Vite build of the clinic web app: static files under web/dist, served by the server at /app.
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';

const shim = fileURLToPath(new URL('./src/shims/browser-builtins.ts', import.meta.url));

export default defineConfig({
  root: fileURLToPath(new URL('.', import.meta.url)),
  base: '/app/',
  logLevel: 'warn',
  oxc: { jsx: { runtime: 'automatic', development: false } },
  // fhirclient's "pure" build: modern browsers have fetch and WebCrypto, so no polyfills ship.
  define: { FHIRCLIENT_PURE: 'true', 'process.env.NODE_ENV': JSON.stringify('production') },
  resolve: {
    alias: {
      'cross-fetch': shim,
      'isomorphic-webcrypto': shim,
      'abortcontroller-polyfill/dist/abortcontroller-polyfill-only': shim,
    },
  },
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    sourcemap: false,
    chunkSizeWarningLimit: 800,
    reportCompressedSize: false,
    rolldownOptions: {
      onwarn(warning, warn) {
        // Mantine marks its modules "use client" for React Server Components; meaningless here.
        if (warning.code === 'MODULE_LEVEL_DIRECTIVE') return;
        warn(warning);
      },
    },
  },
});
