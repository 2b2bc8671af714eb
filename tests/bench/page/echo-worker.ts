// The baseline owner: a bare SharedWorker with nothing behind it. Each page attaches like a real
// tab does (transferred MessageChannel ends): one port echoes whatever arrives, one carries a
// Comlink-exposed noop, one receives one-way events.

import * as Comlink from 'comlink';
import type { BenchEventFrame, EchoAttach, EchoWorkerApi } from './api.ts';

const eventPorts: MessagePort[] = [];

function broadcast(n: number): void {
  for (let i = 0; i < n; i++) {
    const frame: BenchEventFrame = { t: 'event', name: 'raw', data: { aid: 'bench', event: 'bench.tick', params: { i, t: Date.now() } } };
    for (const port of eventPorts) port.postMessage(frame);
  }
}

const api: EchoWorkerApi = {
  noop() {},
  broadcast,
  attached: () => eventPorts.length,
};

(self as unknown as SharedWorkerGlobalScope).onconnect = (ev: MessageEvent) => {
  const port = ev.ports[0]!;
  port.onmessage = (m: MessageEvent<EchoAttach>) => {
    const { echo, rpc, events } = m.data;
    echo.onmessage = (e) => echo.postMessage(e.data);
    Comlink.expose(api, rpc);
    eventPorts.push(events);
  };
};
