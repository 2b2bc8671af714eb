// A scripted stand-in for a WebSocket: the test plays the server side (challenge, answers,
// events, close) and reads what the client sent.

import type { WebSocketCtor } from '../../../worker/net/io.ts';

type Handler = ((ev: never) => void) | null;

export class FakeSocket {
  readyState = 0;
  readonly sent: string[] = [];
  closedWith: { code?: number; reason?: string } | null = null;
  onopen: Handler = null;
  onmessage: ((ev: { data: unknown }) => void) | null = null;
  onclose: ((ev: { code: number; reason: string }) => void) | null = null;
  onerror: Handler = null;

  constructor(readonly url: string) {}

  send(data: string): void {
    if (this.readyState !== 1) throw new Error('InvalidStateError: not open');
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closedWith = { code, reason };
    this.readyState = 3;
  }

  /** Server side: open and send the challenge. */
  accept(nonce = 'nonce-1'): void {
    this.readyState = 1;
    this.push({ jsonrpc: '2.0', method: 'challenge', params: { nonce } });
  }

  push(frame: unknown): void {
    this.onmessage?.({ data: typeof frame === 'string' || frame instanceof Uint8Array ? frame : JSON.stringify(frame) });
  }

  /** The n-th request the client sent (default: the last). */
  request(n = this.sent.length - 1): { id: string; method: string; params: Record<string, unknown> } {
    return JSON.parse(this.sent[n]!) as never;
  }

  answer(result: unknown, n?: number): void {
    this.push({ jsonrpc: '2.0', id: this.request(n).id, result });
  }

  serverClose(code: number, reason = ''): void {
    this.readyState = 3;
    this.onclose?.({ code, reason });
  }
}

export function fakeSockets(): { Ctor: WebSocketCtor; sockets: FakeSocket[]; last(): FakeSocket } {
  const sockets: FakeSocket[] = [];
  class Tracked extends FakeSocket {
    constructor(url: string) {
      super(url);
      sockets.push(this);
    }
  }
  return {
    Ctor: Tracked as unknown as WebSocketCtor,
    sockets,
    last: () => {
      const s = sockets[sockets.length - 1];
      if (!s) throw new Error('no socket opened yet');
      return s;
    },
  };
}
