// The SharedWorker entry: one runtime per worker start, every connecting tab handed to it.
import { Runtime } from './runtime.ts';

declare const __AUN_BUILD__: string | undefined;

const runtime = new Runtime({
  build: typeof __AUN_BUILD__ === 'string' ? __AUN_BUILD__ : 'dev',
  log: (line) => console.debug(`[aun-worker] ${line}`),
});

(self as unknown as SharedWorkerGlobalScope).onconnect = (ev: MessageEvent) => {
  for (const port of ev.ports) runtime.accept(port);
};
