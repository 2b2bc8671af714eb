// `npm run bench`: runs every benchmark, prints a table, writes bench/results.json.
// If a benchmark fails, the rows measured so far are printed and results.json is left as it was.
import { mkdirSync, writeFileSync } from 'node:fs';
import { benchBrowser } from './browser.ts';
import { benchDelivery } from './delivery.ts';
import { benchE2ee } from './e2ee.ts';
import { benchGateway } from './gateway.ts';
import { table, type BenchRow } from './report.ts';

const rows: BenchRow[] = [];
let failed = false;
for (const bench of [benchGateway, benchBrowser, benchDelivery, benchE2ee]) {
  try {
    rows.push(...(await bench()));
  } catch (err) {
    failed = true;
    console.error(`[bench] ${bench.name} failed: ${(err as Error).stack ?? String(err)}`);
  }
}
console.log(table(rows));
if (failed) {
  console.error('\nbench failed: bench/results.json not written');
  process.exitCode = 1;
} else {
  mkdirSync('bench', { recursive: true });
  writeFileSync('bench/results.json', JSON.stringify({ date: new Date().toISOString(), rows }, null, 2) + '\n');
  console.log('\nwrote bench/results.json');
}
