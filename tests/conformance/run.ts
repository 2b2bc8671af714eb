// `npm run conformance -- [dir]`: runs every vector file under dir (default ../shared/conformance
// next to the repo), one PASS/FAIL line each, exit 0 only when all pass.

import { existsSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { DEFAULT_VECTOR_DIR, findVectorFiles, runVectorFile } from './vectors.ts';

const arg = process.argv[2];
const dir = arg ? resolve(process.cwd(), arg) : DEFAULT_VECTOR_DIR;
if (!existsSync(dir)) {
  console.error(`conformance: no such directory: ${dir}`);
  process.exit(1);
}
const files = findVectorFiles(dir);
let passed = 0;
let failed = 0;
for (const file of files) {
  const name = relative(dir, file);
  try {
    await runVectorFile(file);
    passed++;
    console.log(`PASS ${name}`);
  } catch (exc) {
    failed++;
    console.log(`FAIL ${name}: ${exc instanceof Error ? exc.message : String(exc)}`);
  }
}
console.log(`conformance: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);
