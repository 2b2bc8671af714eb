// One test per vector file, in the SDK's folder (copied in) and in our generated one; same dispatch as the CLI.

import { relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_VECTOR_DIR, findVectorFiles, GENERATED_VECTOR_DIR, runVectorFile } from './vectors.ts';

describe.each([
  ['sdk conformance', DEFAULT_VECTOR_DIR],
  ['generated', GENERATED_VECTOR_DIR],
])('%s vectors', (_label, dir) => {
  const files = findVectorFiles(dir);

  it('finds vector files', () => {
    expect(files.length).toBeGreaterThan(0);
  });

  it.each(files.map((f) => [relative(dir, f), f]))('%s', async (_name, file) => {
    await runVectorFile(file);
  });
});

it('the SDK folder holds at least the 19 canonical vectors (§7.2)', () => {
  expect(findVectorFiles(DEFAULT_VECTOR_DIR).filter((f) => f.includes('/canonical/')).length).toBeGreaterThanOrEqual(19);
});
