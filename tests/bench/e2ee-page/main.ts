// The E2EE bench page: starts the SharedWorker and forwards `globalThis.e2eeBench` calls to it
// (see api.ts). `#status` says when the worker has answered.

import * as Comlink from 'comlink';
import type { E2eeBenchApi } from './api.ts';

const status = document.getElementById('status')!;
const worker = new SharedWorker(new URL('./worker.ts', import.meta.url), { type: 'module', name: 'aun-e2ee-bench' });
worker.onerror = () => status.setAttribute('data-error', 'SharedWorker error event (the module failed to load?)');
const remote = Comlink.wrap<E2eeBenchApi>(worker.port);

const e2eeBench: E2eeBenchApi = {
  info: () => remote.info(),
  primitives: (t) => remote.primitives(t),
  scenario: (s, t) => remote.scenario(s, t),
};
(globalThis as unknown as { e2eeBench: E2eeBenchApi }).e2eeBench = e2eeBench;

remote.info().then(
  (info) => {
    status.textContent = `worker ready: ${info.scope}`;
    status.setAttribute('data-ready', '1');
  },
  (err: unknown) => status.setAttribute('data-error', String(err)),
);
