// `npm run conformance -- [dir] [--browser]`: runs every vector file under dir (default
// tests/conformance/vectors, the SDK's vectors copied into the repo), one PASS/FAIL line each, exit 0 only when all pass.
// With --browser the same checks run inside a SharedWorker in Chromium, on its WebCrypto.

import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { checkVectorsInChromium } from './chromium.ts';
import { checkVector, DEFAULT_VECTOR_DIR, readVectorDir, type VectorResult } from './vectors.ts';

const args = process.argv.slice(2);
const browser = args.includes('--browser');
const unknown = args.filter((a) => a.startsWith('-') && a !== '--browser');
const positional = args.filter((a) => !a.startsWith('-'));
if (unknown.length || positional.length > 1) {
  console.error(`usage: npm run conformance -- [dir] [--browser]${unknown.length ? ` (unknown option ${unknown.join(', ')})` : ''}`);
  process.exit(2);
}
const dir = positional[0] ? resolve(process.cwd(), positional[0]) : DEFAULT_VECTOR_DIR;
if (!existsSync(dir)) {
  console.error(`conformance: no such directory: ${dir}`);
  process.exit(1);
}
const files = readVectorDir(dir);
let results: VectorResult[];
if (browser) {
  const run = await checkVectorsInChromium(files);
  console.error(`conformance: in ${run.info.scope}, ${run.info.userAgent}`);
  results = run.results;
} else {
  results = [];
  for (const file of files) results.push(await checkVector(file));
}
let passed = 0;
let failed = 0;
for (const r of results) {
  if (r.ok) {
    passed++;
    console.log(`PASS ${r.name}`);
  } else {
    failed++;
    console.log(`FAIL ${r.name}: ${r.reason}`);
  }
}
console.log(`conformance: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
