// The P2P inbox of one AID on this device: a contiguous-prefix cursor over the gateway's
// per-device seq, pushes applied in order, gaps and reconnects filled by `message.v2.pull`, acks
// sent for the contiguous prefix. Each message reaches `dispatch` once, after the cursor that
// prevents its redelivery is stored.

import type { InboundMessage, InboxRow, JsonObject, MessageReceivedEvent, PeerV2MessageReceivedEvent } from '../../protocol/index.ts';

export interface InboxDeps {
  aid: string;
  deviceId: string;
  pull(afterSeq: number, limit: number): Promise<{ messages: InboxRow[]; has_more: boolean; server_ack_seq: number }>;
  ack(upToSeq: number): Promise<void>;
  loadCursor(): Promise<number>;
  saveCursor(seq: number): Promise<void>;
  dispatch(message: InboundMessage): void;
  /** Turns a V2 row into a message; null when it cannot be read (reported by the decrypt layer). */
  decrypt(row: InboxRow): Promise<InboundMessage | null>;
  log?(line: string): void;
}

const PAGE = 50;
const ACK_DELAY_MS = 100;

export function rowFromPush(ev: MessageReceivedEvent): InboxRow {
  return {
    seq: ev.seq, version: 'v1', message_id: ev.message_id, from_aid: ev.from, to: ev.to, t_server: ev.timestamp,
    device_id: ev.device_id, slot_id: ev.slot_id, direction: ev.direction ?? 'inbound',
    legacy_v1: { to: ev.to, payload: ev.payload },
  };
}

export function rowFromV2Push(ev: PeerV2MessageReceivedEvent, aid: string): InboxRow | null {
  if (typeof ev.envelope_json !== 'string') return null;
  return {
    seq: ev.seq, version: 'v2', message_id: ev.message_id, from_aid: ev.from_aid, to: aid, t_server: Date.now(),
    device_id: ev.device_id, slot_id: '', direction: ev.from_aid === aid ? 'outbound_sync' : 'inbound',
    envelope_json: ev.envelope_json, ...(ev.spk_id ? { spk_id: ev.spk_id } : {}),
  };
}

export function plaintextMessage(aid: string, row: InboxRow): InboundMessage | null {
  const payload = row.legacy_v1?.payload;
  if (!payload || typeof payload !== 'object') return null;
  return {
    aid,
    messageId: row.message_id,
    from: row.from_aid,
    to: row.legacy_v1?.to ?? row.to,
    seq: row.seq,
    timestamp: row.t_server,
    payload: payload as JsonObject,
    encrypted: false,
    direction: row.direction ?? (row.from_aid === aid ? 'outbound_sync' : 'inbound'),
  };
}

export class P2PInbox {
  private contiguous = 0;
  private loaded: Promise<void> | null = null;
  private readonly parked = new Map<number, InboxRow>();
  private pulling: Promise<void> | null = null;
  private pullAgain = false;
  private ackTimer: ReturnType<typeof setTimeout> | null = null;
  private acked = 0;
  /** Serialises row handling so cursor writes and dispatch stay in seq order. */
  private chain: Promise<void> = Promise.resolve();

  constructor(private readonly deps: InboxDeps) {}

  get cursor(): number {
    return this.contiguous;
  }

  private load(): Promise<void> {
    this.loaded ??= this.deps.loadCursor().then((c) => {
      this.contiguous = c;
      this.acked = c;
    });
    return this.loaded;
  }

  /** A pushed row: applied now if it is next, parked and pulled for if it leaves a gap. */
  push(row: InboxRow): Promise<void> {
    if (row.device_id && row.device_id !== this.deps.deviceId) return Promise.resolve();
    return this.enqueue(async () => {
      if (row.seq <= this.contiguous) return;
      if (row.seq === this.contiguous + 1) {
        await this.apply(row);
        await this.drainParked();
      } else {
        this.parked.set(row.seq, row);
        void this.catchUp();
      }
    });
  }

  /** Pulls everything after the cursor (on ready, on gaps, on hints). Coalesces concurrent asks. */
  catchUp(): Promise<void> {
    if (this.pulling) {
      this.pullAgain = true;
      return this.pulling;
    }
    this.pulling = (async () => {
      try {
        do {
          this.pullAgain = false;
          await this.pullAll();
        } while (this.pullAgain);
      } finally {
        this.pulling = null;
      }
    })();
    return this.pulling;
  }

  private async pullAll(): Promise<void> {
    await this.load();
    for (let page = 0; page < 1000; page++) {
      const res = await this.deps.pull(this.contiguous, PAGE);
      const rows = [...res.messages].sort((a, b) => a.seq - b.seq);
      await this.enqueue(async () => {
        for (const row of rows) {
          if (row.seq <= this.contiguous) continue;
          // A pull from the cursor returns what exists: a hole before a returned row is permanent.
          await this.apply(row);
        }
        if (res.server_ack_seq > this.contiguous && rows.length === 0) await this.advance(res.server_ack_seq);
        await this.drainParked();
      });
      if (!res.has_more) return;
    }
  }

  private enqueue(work: () => Promise<void>): Promise<void> {
    const next = this.chain.then(() => this.load()).then(work);
    this.chain = next.catch((e: unknown) => this.deps.log?.(`inbox ${this.deps.aid}: ${(e as Error).message}`));
    return next;
  }

  private async drainParked(): Promise<void> {
    for (const seq of [...this.parked.keys()]) if (seq <= this.contiguous) this.parked.delete(seq);
    let next = this.parked.get(this.contiguous + 1);
    while (next) {
      this.parked.delete(next.seq);
      await this.apply(next);
      next = this.parked.get(this.contiguous + 1);
    }
  }

  private async apply(row: InboxRow): Promise<void> {
    const message = row.version === 'v2' ? await this.deps.decrypt(row) : plaintextMessage(this.deps.aid, row);
    await this.advance(row.seq);
    if (message) this.deps.dispatch(message);
  }

  private async advance(seq: number): Promise<void> {
    this.contiguous = seq;
    await this.deps.saveCursor(seq);
    this.scheduleAck();
  }

  private scheduleAck(): void {
    if (this.ackTimer) return;
    this.ackTimer = setTimeout(() => {
      this.ackTimer = null;
      const upTo = this.contiguous;
      if (upTo <= this.acked) return;
      this.deps.ack(upTo).then(() => (this.acked = Math.max(this.acked, upTo)), () => {});
    }, ACK_DELAY_MS);
  }

  stop(): void {
    if (this.ackTimer) clearTimeout(this.ackTimer);
    this.ackTimer = null;
  }
}
