// `npm run fuzz [-- --seed N --count N --quick]`: the gateway section, then the worker sections
// when tests/fuzz/worker-fuzz.ts is present; prints one table and exits non-zero if any section
// found a crash, hang, wrong accept or lost message. Loopback only, seeded, bounded in time.

import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { runGatewayFuzz, type GatewayFuzzResult } from './gateway-fuzz.ts';
import { failed, type FuzzSection } from './report.ts';

const { values } = parseArgs({
  options: {
    seed: { type: 'string' },
    count: { type: 'string' },
    pushes: { type: 'string' },
    'port-messages': { type: 'string' },
    quick: { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});

if (values.help) {
  console.log(`usage: npm run fuzz -- [--seed N] [--count 10000] [--pushes 2000] [--port-messages 1000] [--quick]
  --quick  a short run (1,000 gateway inputs, 200 pushes, 200 port messages)`);
  process.exit(0);
}

function integer(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 0) {
    console.error(`--${name} must be a non-negative integer, got ${text}`);
    process.exit(2);
  }
  return n;
}

const quick = values.quick;
const seed = integer('seed', values.seed, Math.floor(Math.random() * 2 ** 31));
const count = integer('count', values.count, quick ? 1_000 : 10_000);
const pushes = integer('pushes', values.pushes, quick ? 200 : 2_000);
const portMessages = integer('port-messages', values['port-messages'], quick ? 200 : 1_000);
const deadlineMs = quick ? 120_000 : 900_000;

console.log(`[fuzz] seed ${seed} (replay with --seed ${seed}); gateway inputs ${count}`);
const started = performance.now();
const gateway: GatewayFuzzResult = await runGatewayFuzz({ seed, count, deadlineMs });
const sections: FuzzSection[] = [gateway];

const workerFile = join(dirname(fileURLToPath(import.meta.url)), 'worker-fuzz.ts');
if (existsSync(workerFile)) {
  console.log(`[fuzz] worker: ${pushes} pushes, ${portMessages} port messages`);
  const worker = (await import(pathToFileURL(workerFile).href)) as {
    runWorkerFuzz(opts: { seed: number; pushes: number; portMessages: number; deadlineMs: number }): Promise<FuzzSection[]>;
  };
  sections.push(...(await worker.runWorkerFuzz({ seed, pushes, portMessages, deadlineMs })));
}

const columns = ['section', 'inputs tried', 'clear errors', 'crashes', 'hangs', 'wrong accepts', 'lost'] as const;
const rows = sections.map((s) => [s.name, s.tried, s.clearErrors, s.crashes, s.hangs, s.wrongAccepts, s.lost].map(String));
const widths = columns.map((c, i) => Math.max(c.length, ...rows.map((r) => r[i]!.length)));
const line = (cells: readonly string[]) => '| ' + cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join(' | ') + ' |';
console.log(line(columns));
console.log('|' + widths.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : '-'.repeat(w + 1) + ':')).join('|') + '|');
for (const r of rows) console.log(line(r));
console.log(`gateway RSS: ${gateway.rssBeforeMiB.toFixed(1)} MiB before, ${gateway.rssAfterMiB.toFixed(1)} MiB after; ${((performance.now() - started) / 1000).toFixed(0)} s in all`);
for (const s of sections) for (const n of s.notes) console.log(`[${s.name}] ${n}`);

const bad = sections.filter(failed);
if (bad.length) {
  console.log(`[fuzz] FAILED: ${bad.map((s) => s.name).join(', ')} (seed ${seed})`);
  process.exit(1);
}
console.log('[fuzz] ok');
process.exit(0);
