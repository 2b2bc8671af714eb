// The baseline page: attaches to the bare echo SharedWorker like a real tab attaches to the owner,
// and can open its own gateway socket like a reference-SDK tab. Driven from Node via
// `globalThis.bench` (see api.ts).

import * as Comlink from 'comlink';
import type { BenchEventFrame, BenchPageApi, EchoAttach, EchoWorkerApi, FanoutRecord } from './api.ts';

// The attach floor: from constructing the SharedWorker to its first answer (marks read by ladder.ts).
performance.mark('bare:start');
const worker = new SharedWorker(new URL('./echo-worker.ts', import.meta.url), { type: 'module', name: 'bench-echo' });
const echo = new MessageChannel();
const rpc = new MessageChannel();
const events = new MessageChannel();
worker.port.postMessage({ echo: echo.port2, rpc: rpc.port2, events: events.port2 } satisfies EchoAttach, [echo.port2, rpc.port2, events.port2]);
const remote = Comlink.wrap<EchoWorkerApi>(rpc.port1);

const record: FanoutRecord = { latencies: [], distinct: 0 };
const seen = new Set<number>();
events.port1.onmessage = (ev: MessageEvent<BenchEventFrame>) => {
  const { i, t } = ev.data.data.params;
  record.latencies.push(Date.now() - t);
  seen.add(i);
  record.distinct = seen.size;
};

async function timed(n: number, once: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await once();
    out.push((performance.now() - t0) * 1000);
  }
  return out;
}

let echoWaiter: (() => void) | null = null;
let firstEcho = true;
echo.port1.onmessage = () => {
  if (firstEcho) {
    firstEcho = false;
    performance.mark('bare:first-echo');
    // The bench's ready probe (ready-signal.ts) watches #state, as on the demo and reference pages.
    document.getElementById('state')!.dataset.state = 'ready';
    if (!echoWaiter) return;
  }
  echoWaiter?.();
};
echo.port1.postMessage(0);

type Frame = { id?: string; method?: string; params?: Record<string, unknown>; result?: unknown; error?: { message: string } };
let ws: WebSocket | null = null;
const wsPending = new Map<string, (f: Frame) => void>();
let wsNext = 0;

function wsCall(method: string, params: unknown): Promise<Frame> {
  const id = `b${++wsNext}`;
  return new Promise((resolve) => {
    wsPending.set(id, resolve);
    ws!.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
  });
}

const bench: BenchPageApi = {
  rawEcho: (n) => timed(n, () => new Promise<void>((resolve) => {
    echoWaiter = resolve;
    echo.port1.postMessage(0);
  })),
  comlinkNoop: (n) => timed(n, () => remote.noop()),
  async wsOpen(url, token, deviceId) {
    const socket = new WebSocket(url);
    const challenge = await new Promise<Frame>((resolve, reject) => {
      socket.onmessage = (ev) => resolve(JSON.parse(String(ev.data)) as Frame);
      socket.onerror = () => reject(new Error(`WebSocket to ${url} failed`));
    });
    socket.onmessage = (ev) => {
      const f = JSON.parse(String(ev.data)) as Frame;
      if (f.id === undefined) return;
      const settle = wsPending.get(f.id);
      wsPending.delete(f.id);
      settle?.(f);
    };
    ws = socket;
    const hello = await wsCall('auth.connect', {
      nonce: challenge.params!.nonce,
      auth: { method: 'kite_token', token },
      protocol: { min: '1.0', max: '1.0' },
      device: { id: deviceId, type: 'browser' },
      client: { slot_id: 'default', sdk_lang: 'typescript', sdk_version: 'bench' },
      capabilities: { e2ee: true, group_e2ee: true },
    });
    if (hello.error) throw new Error(`auth.connect: ${hello.error.message}`);
  },
  wsPing: (n) => timed(n, async () => {
    const f = await wsCall('meta.ping', {});
    if (f.error) throw new Error(`meta.ping: ${f.error.message}`);
  }),
  wsClose() {
    ws?.close();
    ws = null;
  },
  broadcast: (n) => remote.broadcast(n),
  attached: () => remote.attached(),
  received: () => record,
};

Object.assign(globalThis, { bench });
const status = document.getElementById('status')!;
void remote.noop().then(() => {
  status.textContent = 'ready';
  status.dataset.ready = '1';
});
