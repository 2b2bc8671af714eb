// `npm run bench`: runs every benchmark, prints a table, writes bench/results.json.
// If a benchmark fails, the rows measured so far are printed and results.json is left as it was.
// `BENCH_ONLY=ladder` (comma-separated names from BENCHES) runs just those: their rows replace
// the same benchmarks' rows in bench/results.json, the others' rows stay as they were (each row
// carries its own same-run baseline), and `updated` notes when which part was re-run. The latency
// chart (docs/bench-latency.svg) is drawn from the rows written.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { benchBrowser } from './browser.ts';
import { benchArrival } from './cold-start.ts';
import { benchDelivery } from './delivery.ts';
import { benchE2ee } from './e2ee.ts';
import { benchEngines } from './engines.ts';
import { benchGateway } from './gateway.ts';
import { benchLadder } from './ladder.ts';
import { latencyChart } from './chart.ts';
import { table, type BenchRow } from './report.ts';

/** In run order; `prefix` starts the name of every row the benchmark returns. */
const BENCHES: { name: string; prefix: string; run: () => Promise<BenchRow[]> }[] = [
  { name: 'gateway', prefix: 'gateway:', run: benchGateway },
  { name: 'browser', prefix: 'browser:', run: benchBrowser },
  { name: 'ladder', prefix: 'ladder:', run: benchLadder },
  { name: 'arrival', prefix: 'arrival:', run: benchArrival },
  { name: 'delivery', prefix: 'delivery:', run: benchDelivery },
  { name: 'e2ee', prefix: 'e2ee ', run: benchE2ee },
  { name: 'engines', prefix: 'engines:', run: benchEngines },
];

const only = process.env.BENCH_ONLY?.split(',').map((s) => s.trim()).filter(Boolean);
const unknown = only?.filter((n) => !BENCHES.some((b) => b.name === n)) ?? [];
if (unknown.length) {
  console.error(`BENCH_ONLY: unknown benchmark ${unknown.join(', ')} (known: ${BENCHES.map((b) => b.name).join(', ')})`);
  process.exit(2);
}
const selected = only?.length ? BENCHES.filter((b) => only.includes(b.name)) : BENCHES;

const rows: BenchRow[] = [];
let failed = false;
for (const bench of selected) {
  try {
    rows.push(...(await bench.run()));
  } catch (err) {
    failed = true;
    console.error(`[bench] ${bench.name} failed: ${(err as Error).stack ?? String(err)}`);
  }
}
console.log(table(rows));

const FILE = 'bench/results.json';
/** Drawn from the delivery rows of results.json as written, so a partial run keeps the others' curves. */
const CHART = 'docs/bench-latency.svg';
type Results = { date: string; rows: BenchRow[]; updated?: Record<string, string> };

function merged(now: string): Results {
  if (selected === BENCHES || !existsSync(FILE)) return { date: now, rows };
  const old = JSON.parse(readFileSync(FILE, 'utf8')) as Results;
  const owner = (r: BenchRow) => BENCHES.find((b) => r.name.startsWith(b.prefix));
  const out: BenchRow[] = [];
  for (const b of BENCHES) out.push(...(selected.includes(b) ? rows : old.rows).filter((r) => owner(r) === b));
  out.push(...old.rows.filter((r) => !owner(r)));
  const updated = { ...old.updated };
  for (const b of selected) updated[b.name] = now;
  return { date: old.date, rows: out, updated };
}

if (failed) {
  console.error(`\nbench failed: ${FILE} not written`);
  process.exitCode = 1;
} else {
  mkdirSync('bench', { recursive: true });
  const results = merged(new Date().toISOString());
  writeFileSync(FILE, JSON.stringify(results, null, 2) + '\n');
  console.log(`\nwrote ${FILE}${selected === BENCHES ? '' : ` (rows of ${selected.map((b) => b.name).join(', ')} replaced, the others kept)`}`);
  writeFileSync(CHART, latencyChart(results.rows));
  console.log(`wrote ${CHART}`);
}
