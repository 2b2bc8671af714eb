// Minified + gzipped size of what a tab loads (client-stub + Comlink) and of the worker bundle,
// built the way an app would build them (Vite, ES modules, minified).

import { gzipSync } from 'node:zlib';
import { build, type Rolldown } from 'vite';

async function bundleBytes(entry: string): Promise<{ raw: number; gzip: number }> {
  const out = (await build({
    configFile: false,
    logLevel: 'silent',
    define: { __AUN_BUILD__: '"size"' },
    build: { write: false, minify: true, target: 'es2022', lib: { entry, formats: ['es'], fileName: 'out' }, rollupOptions: {} },
  })) as Rolldown.RolldownOutput[] | Rolldown.RolldownOutput;
  const outputs = Array.isArray(out) ? out : [out];
  let code = '';
  for (const o of outputs) for (const chunk of o.output) if (chunk.type === 'chunk') code += chunk.code;
  return { raw: Buffer.byteLength(code), gzip: gzipSync(code, { level: 9 }).length };
}

export async function bundleSizes(): Promise<{ tab: { raw: number; gzip: number }; worker: { raw: number; gzip: number } }> {
  return { tab: await bundleBytes('client-stub/index.ts'), worker: await bundleBytes('worker/main.ts') };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = await bundleSizes();
  console.log(`client-stub + Comlink: ${(s.tab.raw / 1024).toFixed(1)} KiB min, ${(s.tab.gzip / 1024).toFixed(1)} KiB min+gzip`);
  console.log(`worker bundle:         ${(s.worker.raw / 1024).toFixed(1)} KiB min, ${(s.worker.gzip / 1024).toFixed(1)} KiB min+gzip`);
}
