// A WebSocket for the fuzzer: keeps every frame the gateway sends (unparsable ones too, which are
// a gateway bug), and waits for an answer, a close, or the hang bound, whichever comes first.

import WebSocket from 'ws';

export type Frame = Record<string, unknown>;
export type Waited = { kind: 'frame'; frame: Frame } | { kind: 'garbage'; text: string } | { kind: 'closed'; code: number } | { kind: 'timeout' };

export class FuzzSocket {
  private readonly inbox: ({ frame: Frame } | { text: string })[] = [];
  private wake: (() => void) | null = null;
  closeCode: number | null = null;
  nonce = '';
  /** Set when auth.connect succeeded on it: the AID it is bound to. */
  boundTo: string | null = null;

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const text = String(data);
      try {
        this.inbox.push({ frame: JSON.parse(text) as Frame });
      } catch {
        this.inbox.push({ text });
      }
      this.wake?.();
    });
    ws.on('close', (code) => { this.closeCode = code; this.wake?.(); });
    ws.on('error', () => {});
  }

  /** Opens a socket and waits for the challenge. */
  static open(url: string, timeoutMs: number): Promise<FuzzSocket> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { maxPayload: 16 * 1024 * 1024 });
      const s = new FuzzSocket(ws);
      const timer = setTimeout(() => { ws.terminate(); reject(new Error('no challenge in time')); }, timeoutMs);
      ws.once('error', (e) => { clearTimeout(timer); reject(e); });
      void s.next(() => true, timeoutMs).then((w) => {
        clearTimeout(timer);
        if (w.kind === 'frame' && w.frame.method === 'challenge') {
          s.nonce = String((w.frame.params as { nonce?: unknown } | undefined)?.nonce ?? '');
          resolve(s);
        } else reject(new Error(`expected a challenge, got ${JSON.stringify(w).slice(0, 200)}`));
      });
    });
  }

  get open(): boolean {
    return this.closeCode === null && this.ws.readyState === WebSocket.OPEN;
  }

  send(data: string | Buffer, binary = false): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(data, { binary });
  }

  /** The first unread frame `match` accepts (unparsable text always matches), a close, or a timeout. */
  async next(match: (f: Frame) => boolean, timeoutMs: number): Promise<Waited> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((m) => 'text' in m || match(m.frame));
      if (i >= 0) {
        const [m] = this.inbox.splice(i, 1);
        return 'text' in m! ? { kind: 'garbage', text: m.text } : { kind: 'frame', frame: m!.frame };
      }
      if (this.closeCode !== null) return { kind: 'closed', code: this.closeCode };
      const left = deadline - Date.now();
      if (left <= 0) return { kind: 'timeout' };
      await new Promise<void>((resolve) => {
        const t = setTimeout(() => { this.wake = null; resolve(); }, left);
        this.wake = () => { clearTimeout(t); this.wake = null; resolve(); };
      });
    }
  }

  /** Drops frames nobody waits for any more (events, late answers). */
  drain(): void {
    this.inbox.length = 0;
  }

  close(): void {
    this.ws.terminate();
  }
}
