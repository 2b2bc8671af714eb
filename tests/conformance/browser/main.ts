// The conformance page: starts the SharedWorker and hands it whatever the Node driver passes to
// `globalThis.conformance` (see api.ts). `#status` says when the worker has answered.

import * as Comlink from 'comlink';
import type { ConformanceApi } from './api.ts';

const status = document.getElementById('status')!;
const worker = new SharedWorker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'aun-conformance' });
worker.onerror = () => status.setAttribute('data-error', 'SharedWorker error event (the module failed to load?)');
const remote = Comlink.wrap<ConformanceApi>(worker.port);

const conformance: ConformanceApi = {
  info: () => remote.info(),
  run: (files) => remote.run(files),
};
(globalThis as unknown as { conformance: ConformanceApi }).conformance = conformance;

remote.info().then(
  (info) => {
    status.textContent = `worker ready: ${info.scope}`;
    status.setAttribute('data-ready', '1');
  },
  (err: unknown) => status.setAttribute('data-error', String(err)),
);
