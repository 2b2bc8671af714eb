// Runs conformance vector files inside a SharedWorker in Chromium: the Node side reads the files
// (the browser has no file system) and hands them to the page in one call; the worker checks them
// with check.ts on the browser's WebCrypto and returns one result per file, in order.

import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { withWorkerPage } from '../support/worker-page.ts';
import type { ConformanceApi, WorkerInfo } from './browser/api.ts';
import type { VectorFile, VectorResult } from './check.ts';

const PAGE_ROOT = join(dirname(fileURLToPath(import.meta.url)), 'browser');

export interface BrowserRun {
  info: WorkerInfo;
  results: VectorResult[];
}

export async function checkVectorsInChromium(files: VectorFile[]): Promise<BrowserRun> {
  return withWorkerPage(
    PAGE_ROOT,
    (page) =>
      page.evaluate(async (list) => {
        const { conformance } = globalThis as unknown as { conformance: ConformanceApi };
        return { info: await conformance.info(), results: await conformance.run(list) };
      }, files),
    { label: 'conformance' },
  );
}
