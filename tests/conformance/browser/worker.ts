// The SharedWorker that runs the conformance checks: the same check.ts as under Node, here on the
// browser's WebCrypto, in the kind of global scope the real owner (worker/main.ts) runs in.

import * as Comlink from 'comlink';
import { checkVector, type VectorFile, type VectorResult } from '../check.ts';
import type { ConformanceApi, WorkerInfo } from './api.ts';

const api: ConformanceApi = {
  async info(): Promise<WorkerInfo> {
    return { scope: self.constructor.name, userAgent: navigator.userAgent, webCrypto: typeof crypto?.subtle?.deriveBits === 'function' };
  },
  async run(files: VectorFile[]): Promise<VectorResult[]> {
    const results: VectorResult[] = [];
    for (const file of files) results.push(await checkVector(file));
    return results;
  },
};

(self as unknown as SharedWorkerGlobalScope).onconnect = (ev: MessageEvent) => Comlink.expose(api, ev.ports[0]!);
