import { defineConfig } from 'vite';

// The demo app (demo/) and the worker it starts. The SharedWorker is bundled by Vite as its own
// ES module chunk and served from a real same-origin URL (never a blob: URL), so a strict CSP
// (`worker-src 'self'`) works.
const gatewayPort = process.env.GATEWAY_PORT ?? '7700';
const build = process.env.AUN_BUILD ?? `dev-${new Date().toISOString()}`;

export default defineConfig({
  root: 'demo',
  publicDir: 'public',
  server: { port: Number(process.env.PORT ?? 5173), strictPort: true },
  preview: { port: Number(process.env.PORT ?? 5173), strictPort: true },
  define: {
    __AUN_BUILD__: JSON.stringify(build),
    __AUN_BUILT_AT__: JSON.stringify(Number(process.env.AUN_BUILT_AT ?? Date.now())),
    __AUN_DEFAULT_GATEWAY__: JSON.stringify(process.env.AUN_GATEWAY_URL ?? `ws://127.0.0.1:${gatewayPort}/ws`),
  },
  worker: { format: 'es' },
  build: {
    outDir: '../dist/demo',
    emptyOutDir: true,
    target: 'es2022',
    rolldownOptions: { input: { main: 'demo/index.html', inspector: 'demo/inspector.html' } },
  },
});
