// P2P delivery for one AID on this device, beside groups.ts: the device's 1:1 inbox (`p2p`), the
// opening of its rows (plaintext as is, V2 envelopes through the E2EE engine, recall notices
// through recall.ts) and their commit to the log, which publishes them to the tabs.
//
// Rows come only from `message.v2.pull`, the gateway's stored sequence; a push for this device
// (plaintext or with an envelope) is a hint for that pull, and its content is never shown, never
// takes a seq and never marks a message id as seen.

import type { JsonObject } from '../../protocol/frames.ts';
import type { InboxRow, MethodName, ParamsOf, ResultOf } from '../../protocol/methods.ts';
import type { InboundMessage } from '../../protocol/tab.ts';
import { dedupeKey, type Decrypted } from '../e2ee/envelope.ts';
import type { LoggedEvent, LoggedInput } from './journal.ts';
import { isNotice, p2pRecallNotice, type P2pNotice } from './recall.ts';
import { mayPass, plaintextMessage, releaseSeen, unreadable } from './rows.ts';
import { SeqInbox } from './seq-inbox.ts';

export const P2P_CURSOR = 'p2p';

/** The gateway's P2P push events; all only say "pull". */
const P2P_PUSHES: ReadonlySet<string> = new Set(['message.received', 'peer.v2.message_received', 'message.recalled']);

export interface P2pDeps {
  aid: string;
  deviceId: string;
  rpc<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>>;
  loadCursor(): Promise<number>;
  /** Stores the cursor and the logged inputs in one step, and publishes them (see Journal.commit). */
  commit(seq: number, inputs: (LoggedInput | null)[]): Promise<(LoggedEvent | null)[]>;
  /** Opens a V2 row's envelope (the AID's E2EE engine); throws an E2eeError when it cannot. */
  decrypt(row: InboxRow): Promise<Decrypted>;
  /** A recall notice as its logged event (the originals redacted in the log; see recall.ts). */
  recall(notice: P2pNotice): Promise<LoggedInput>;
  /** Releases an E2EE dedupe key that an opened row took (see LoggedInput.seen). */
  unsee(key: string): void;
  /** Resolves once the commits so far are on disk; an ack waits for it (SeqInboxDeps.durable). */
  durable?(): Promise<void>;
  log?(line: string): void;
}

/** A pulled row the rest of the worker can read: the fields every log key and event is made of. */
function wellFormed(row: InboxRow): boolean {
  return typeof row.message_id === 'string' && row.message_id !== '' && typeof row.from_aid === 'string' && row.from_aid !== '';
}

export class P2pInbox {
  readonly inbox: SeqInbox<InboxRow, LoggedInput, LoggedEvent>;

  constructor(private readonly deps: P2pDeps) {
    const { aid, rpc, log } = deps;
    this.inbox = new SeqInbox<InboxRow, LoggedInput, LoggedEvent>({
      name: `${P2P_CURSOR}:${aid}`,
      pull: async (after, limit) => {
        const r = await rpc('message.v2.pull', { after_seq: after, limit });
        return { rows: r.messages, hasMore: r.has_more, floor: r.server_ack_seq ?? 0 };
      },
      ack: async (upTo) => {
        await rpc('message.v2.ack', { up_to_seq: upTo });
      },
      loadCursor: deps.loadCursor,
      commit: deps.commit,
      ...(deps.durable ? { durable: deps.durable } : {}),
      open: (row, final) => (wellFormed(row) ? this.open(row, final) : Promise.resolve(null)),
      readsLog: (row) => row.version !== 'v2' && isNotice(p2pRecallNotice(row)),
      abandon: (items) => releaseSeen(items, deps.unsee),
      ...(log ? { log } : {}),
    });
  }

  get cursor(): number {
    return this.inbox.cursor;
  }

  /** Takes a gateway event if it is a P2P push; true when it was one (for this device or not). */
  onEvent(name: string, params: unknown): boolean {
    if (!P2P_PUSHES.has(name)) return false;
    if (typeof params !== 'object' || params === null) return true;
    const { device_id: device, seq } = params as { device_id?: unknown; seq?: unknown };
    const forUs = device === undefined || device === '' || device === this.deps.deviceId;
    if (forUs) void this.inbox.hint(seq);
    return true;
  }

  catchUp(): Promise<void> {
    return this.inbox.catchUp();
  }

  stop(): void {
    this.inbox.stop();
  }

  /**
   * A stored row as the app sees it, or its undecryptable notice; null to drop it quietly. Throws
   * a failure that may pass (see mayPass) unless `final`.
   */
  private async open(row: InboxRow, final: boolean): Promise<LoggedInput | null> {
    const { aid } = this.deps;
    const key = `p2p:${row.from_aid}:${row.message_id}`;
    if (row.version !== 'v2') {
      const recall = p2pRecallNotice(row);
      if (recall) return recall === 'placeholder' ? null : this.deps.recall(recall);
      const data = plaintextMessage(aid, row);
      return data ? { name: 'message', key, data } : null;
    }
    try {
      const d = await this.deps.decrypt(row);
      const aad = d.aad as { to?: unknown; timestamp?: unknown };
      const data: InboundMessage = {
        aid,
        messageId: row.message_id,
        from: row.from_aid,
        to: typeof aad.to === 'string' ? aad.to : row.to,
        seq: row.seq,
        timestamp: typeof aad.timestamp === 'number' ? aad.timestamp : row.t_server,
        payload: d.payload as JsonObject,
        encrypted: true,
        direction: row.direction ?? (row.from_aid === aid ? 'outbound_sync' : 'inbound'),
        ...(d.protectedHeaders ? { protectedHeaders: d.protectedHeaders } : {}),
      };
      return { name: 'message', key, data, seen: dedupeKey(d.aad) };
    } catch (err) {
      if (!final && mayPass(err)) throw err;
      return unreadable(aid, { where: `${P2P_CURSOR}:${row.from_aid}:${row.message_id}`, messageId: row.message_id, from: row.from_aid, seq: row.seq }, err, this.deps.log);
    }
  }
}
