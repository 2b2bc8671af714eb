// Minified + gzipped size of what a tab loads (client-stub) and of the worker bundle,
// built the way an app would build them: a Vite app build (ES modules, fully minified), with the
// entry's exports kept. Not Vite's library mode, which in the ES format leaves whitespace in
// (so that the library's user can tree-shake it) and measured 5-10 % more.

import { gzipSync } from 'node:zlib';
import { build, type Rolldown } from 'vite';

interface Size { raw: number; gzip: number }
const measure = (code: string): Size => ({ raw: Buffer.byteLength(code), gzip: gzipSync(code, { level: 9 }).length });

/** The entry with its static imports (what loads first) and everything, lazy chunks included. */
async function bundleBytes(entry: string): Promise<{ entry: Size; all: Size; chunks: number }> {
  const out = (await build({
    configFile: false,
    logLevel: 'silent',
    define: { __AUN_BUILD__: '"size"' },
    build: { write: false, minify: true, target: 'es2022', modulePreload: false, rollupOptions: { input: entry, preserveEntrySignatures: 'exports-only' } },
  })) as Rolldown.RolldownOutput[] | Rolldown.RolldownOutput;
  const outputs = Array.isArray(out) ? out : [out];
  const chunks = new Map<string, Rolldown.OutputChunk>();
  for (const o of outputs) for (const c of o.output) if (c.type === 'chunk') chunks.set(c.fileName, c);
  // What loads first: the entry and every chunk it imports statically (a chunk the entry shares
  // with a lazy one loads with the entry), not the chunks it imports with import().
  const first = new Set<string>();
  const visit = (name: string) => {
    if (first.has(name)) return;
    first.add(name);
    for (const i of chunks.get(name)?.imports ?? []) visit(i);
  };
  for (const c of chunks.values()) if (c.isEntry) visit(c.fileName);
  const code = (names: Iterable<string>) => [...names].map((n) => chunks.get(n)?.code ?? '').join('');
  return { entry: measure(code(first)), all: measure(code(chunks.keys())), chunks: chunks.size };
}

/**
 * tab: what every tab loads first (client-stub with its static imports); tabFallback: every chunk a
 * tab can load (the same while the leader and single rungs are in the entry's chunk, as now: a
 * lazy chunk would make Vite add its preload helper to the entry); tabChunks: how many chunks the
 * tab's build has.
 */
export async function bundleSizes(): Promise<{ tab: Size; tabFallback: Size; worker: Size; tabChunks: number }> {
  const tab = await bundleBytes('client-stub/index.ts');
  return { tab: tab.entry, tabFallback: tab.all, worker: (await bundleBytes('worker/main.ts')).all, tabChunks: tab.chunks };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const s = await bundleSizes();
  const kib = (n: number) => (n / 1024).toFixed(1);
  const line = (what: string, z: Size) => console.log(`${what.padEnd(38)}${kib(z.raw)} KiB min, ${kib(z.gzip)} KiB min+gzip`);
  line('client-stub, what a tab loads first:', s.tab);
  line(`  all chunks a tab can load (${s.tabChunks}):`, s.tabFallback);
  line('worker bundle:', s.worker);
}
