// Every conformance vector file, in the SDK's folder (copied in) and in our generated one, checked inside a
// SharedWorker in Chromium on the browser's WebCrypto: the same check.ts as the Node runner, all
// files in one page load, then one test per file. Envelope files also get one test per tamper case.

import { beforeAll, describe, expect, it } from 'vitest';
import { checkVectorsInChromium, type BrowserRun } from '../conformance/chromium.ts';
import { DEFAULT_VECTOR_DIR, GENERATED_VECTOR_DIR, readVectorDir, TAMPER_CASES, type VectorFile, type VectorResult } from '../conformance/vectors.ts';

const SETS = [
  ['sdk', DEFAULT_VECTOR_DIR],
  ['generated', GENERATED_VECTOR_DIR],
] as const;

// Listed at collection time, so that each file is a test of its own.
const files: VectorFile[] = SETS.flatMap(([label, dir]) => readVectorDir(dir).map((f) => ({ ...f, name: `${label}/${f.name}` })));
const names = files.map((f) => f.name);
const envelopes = files.filter((f) => f.folder === 'envelope').map((f) => f.name);

let run: BrowserRun;
const byName = new Map<string, VectorResult>();

beforeAll(async () => {
  run = await checkVectorsInChromium(files);
  for (const r of run.results) byName.set(r.name, r);
});

it('runs every file inside a SharedWorker of Chromium, on its WebCrypto', () => {
  expect(run.info.scope).toBe('SharedWorkerGlobalScope');
  expect(run.info.userAgent).toMatch(/Chrome\//);
  expect(run.info.webCrypto).toBe(true);
  expect(run.results.map((r) => r.name)).toEqual(names);
});

it('finds the vector files: at least 19 canonical in the SDK folder (§7.2) and the envelopes in ours', () => {
  expect(names.filter((n) => n.startsWith('sdk/canonical/')).length).toBeGreaterThanOrEqual(19);
  for (const [label] of SETS) expect(names.some((n) => n.startsWith(`${label}/`))).toBe(true);
  expect(envelopes.length).toBeGreaterThan(0);
});

describe('vector files in Chromium', () => {
  it.each(names)('%s', (name) => {
    const r = byName.get(name);
    expect(r, `no result for ${name}`).toBeDefined();
    expect(r!.reason).toBeUndefined();
    expect(r!.ok).toBe(true);
  });
});

describe('envelope tamper cases in Chromium (rejected at sender_signature)', () => {
  it.each(envelopes.flatMap((name) => TAMPER_CASES.map((c) => [name, c] as const)))('%s: %s', (name, tamper) => {
    expect(byName.get(name)?.checks).toContain(`tamper: ${tamper}`);
  });
});
