import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import { aunWorker } from './vite-plugin/index.ts';

// The demo app (demo/) and the worker it starts. The SharedWorker is bundled by Vite as its own
// ES module chunk and served from a real same-origin URL (never a blob: URL), so a strict CSP
// (`worker-src 'self'`) works. The aunWorker plugin defines __AUN_BUILD__ (env AUN_BUILD, else
// `<version>+<build time>`) and __AUN_BUILT_AT__ (env AUN_BUILT_AT, else now) and serves the worker
// factories as `virtual:aun-worker`.
const gatewayPort = process.env.GATEWAY_PORT ?? '7700';
// Absolute, so the build (relative to the cwd) and the dev server's dependency scan (relative to
// root) both find the pages.
const page = (name: string) => fileURLToPath(new URL(`./demo/${name}`, import.meta.url));

export default defineConfig({
  root: 'demo',
  publicDir: 'public',
  server: { port: Number(process.env.PORT ?? 5173), strictPort: true },
  preview: { port: Number(process.env.PORT ?? 5173), strictPort: true },
  // The client's chunk here is the client and demo/connect.ts: compiled as it loads (see the option).
  plugins: [aunWorker({ eagerClient: true })],
  define: {
    __AUN_DEFAULT_GATEWAY__: JSON.stringify(process.env.AUN_GATEWAY_URL ?? `ws://127.0.0.1:${gatewayPort}/ws`),
  },
  worker: { format: 'es' },
  build: {
    outDir: '../dist/demo',
    emptyOutDir: true,
    target: 'es2022',
    rolldownOptions: { input: { main: page('index.html'), inspector: page('inspector.html') } },
  },
});
