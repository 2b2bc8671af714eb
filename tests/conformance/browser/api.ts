// What the conformance page exposes on `globalThis.conformance` for the Node driver
// (tests/conformance/chromium.ts); each call is forwarded to the SharedWorker, where the checks run.

import type { VectorFile, VectorResult } from '../check.ts';

/** Where the checks ran: the worker's global scope, and the browser. */
export interface WorkerInfo {
  scope: string;
  userAgent: string;
  /** `crypto.subtle` exists there, i.e. WebCrypto is the browser's own. */
  webCrypto: boolean;
}

export interface ConformanceApi {
  info(): Promise<WorkerInfo>;
  /** Checks the files one after another, in order; a failure is a result, never a rejection. */
  run(files: VectorFile[]): Promise<VectorResult[]>;
}
