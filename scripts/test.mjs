// `npm test`: finds (or installs) Chromium, runs every Vitest project, and ends with the line
// `tests: N passed, M failed` that CI reads.

import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureChromium } from './chromium.mjs';

const chromium = ensureChromium();
const env = { ...process.env };
// The cross-engine suite (tests/e2e/engines.test.ts) finds these itself (FIREFOX_PATH,
// WEBKIT_DRIVER_PATH, MINIBROWSER_PATH override); say up front what it will miss.
const missing = [
  ['Firefox', [env.FIREFOX_PATH, '/usr/bin/firefox-esr', '/usr/bin/firefox'], 'firefox-esr'],
  ['WebKitWebDriver', [env.WEBKIT_DRIVER_PATH, '/usr/bin/WebKitWebDriver'], 'webkit2gtk-driver'],
  ['Xvfb', ['/usr/bin/Xvfb'], 'xvfb'],
].filter(([, paths]) => !paths.some((p) => p && existsSync(p)));
for (const [what, , pkg] of missing) console.error(`[test] ${what} not found: the cross-engine e2e tests will fail (Debian: apt-get install ${pkg}; .ci/run installs it)`);
const args = ['vitest', 'run', '--reporter=default', '--reporter=json'];
// Without a browser the e2e tests fail with the explanation ensureChromium printed above.
if (chromium) env.CHROMIUM_PATH = chromium;

const dir = mkdtempSync(join(tmpdir(), 'aun-worker-test-'));
const report = join(dir, 'report.json');
args.push(`--outputFile.json=${report}`);
const run = spawnSync('npx', [...args, ...process.argv.slice(2)], { stdio: 'inherit', env });

let passed = 0;
let failed = 0;
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8'));
  passed = r.numPassedTests;
  failed = r.numFailedTests + (r.numRuntimeErrorTestSuites ?? 0);
  if (r.numFailedTestSuites && !r.numFailedTests) failed += r.numFailedTestSuites;
} else {
  failed = 1;
}
rmSync(dir, { recursive: true, force: true });
console.log(`tests: ${passed} passed, ${failed} failed`);
process.exit(run.status === 0 && failed === 0 ? 0 : 1);
