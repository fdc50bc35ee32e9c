import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/** The dashboard builds into web/dist, which `vt serve` serves; ECharts lands in its own chunk. */
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    target: 'es2022',
    reportCompressedSize: false,
    chunkSizeWarningLimit: 1200,
  },
  logLevel: 'warn',
});
