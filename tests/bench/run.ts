// `npm run bench`: runs every benchmark, prints a table, writes bench/results.json.
import { mkdirSync, writeFileSync } from 'node:fs';
import { benchGateway } from './gateway.ts';
import { table, type BenchRow } from './report.ts';

const rows: BenchRow[] = [];
rows.push(...(await benchGateway()));
console.log(table(rows));
mkdirSync('bench', { recursive: true });
writeFileSync('bench/results.json', JSON.stringify({ date: new Date().toISOString(), rows }, null, 2) + '\n');
console.log('\nwrote bench/results.json');
