// What the bench page exposes on `globalThis.bench` for the Node driver (tests/bench/browser.ts).
// Every timing is taken in the page; round trips come back in µs, fan-out latencies in ms.

export interface FanoutRecord {
  /** Date.now() at receipt minus the sender's Date.now() stamp, one per event. */
  latencies: number[];
  /** How many distinct event indexes arrived. */
  distinct: number;
}

export interface BenchPageApi {
  /** Sequential round trips of a number over a bare MessagePort to the echo SharedWorker. */
  rawEcho(n: number): Promise<number[]>;
  /** Sequential Comlink calls to `noop()` on the same SharedWorker. */
  comlinkNoop(n: number): Promise<number[]>;
  /** Opens an authenticated long connection to the gateway, as the reference SDK does per tab. */
  wsOpen(url: string, token: string, deviceId: string): Promise<void>;
  /** Sequential `meta.ping` round trips on that connection. */
  wsPing(n: number): Promise<number[]>;
  wsClose(): void;
  /** Asks the SharedWorker to post `n` one-way events back to back to every attached page. */
  broadcast(n: number): Promise<void>;
  /** How many pages the SharedWorker has attached. */
  attached(): Promise<number>;
  received(): FanoutRecord;
}

/** The one-way event as the real owner sends it on a tab's event port (protocol/tab.ts OwnerFrame). */
export interface BenchEventFrame {
  t: 'event';
  name: 'raw';
  data: { aid: string; event: string; params: { i: number; t: number } };
}

/** The bare worker's Comlink surface. */
export interface EchoWorkerApi {
  noop(): void;
  broadcast(n: number): void;
  attached(): number;
}

/** First message a page posts on the SharedWorker port, transferring its channel ends. */
export interface EchoAttach {
  echo: MessagePort;
  rpc: MessagePort;
  events: MessagePort;
}
