// Turning the gateway's stored rows into what the tabs see: P2P plaintext messages, the logged
// `undecryptable` notice a row that cannot be read becomes (P2P and groups alike), and the log key
// of a group message.

import type { JsonObject } from '../../protocol/frames.ts';
import type { InboxRow } from '../../protocol/methods.ts';
import type { InboundMessage, LoggedEventName } from '../../protocol/tab.ts';
import { AunError } from '../../protocol/errors.ts';
import { E2eeError } from '../e2ee/errors.ts';
import { isTransient } from './outbox.ts';
import type { LoggedInput } from './journal.ts';

/** The log key of a group message: one per (group, seq). */
export const groupMessageKey = (groupId: string, seq: number) => `group:${groupId}:${seq}`;

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

/**
 * Whether a failure to open a row may pass, so the row is opened again later rather than logged
 * as `undecryptable`: anything but an E2EE check (the row's own fault) or a gateway's definitive
 * answer (an AID it does not know): the keystore refused a read, a certificate fetch failed, the
 * connection dropped.
 */
export function mayPass(err: unknown): boolean {
  if (err instanceof E2eeError) return false;
  return err instanceof AunError ? isTransient(err) : true;
}

/** Which row could not be read: `where` makes its log key (`p2p:<from>:<id>`, `group:<id>:<seq>`). */
export interface UnreadableRow { where: string; messageId: string; from: string; seq: number; groupId?: string }

/**
 * A row that cannot be read becomes a logged `undecryptable` notice; replays and rows not
 * addressed to this device are dropped quietly. Either way the inbox moves on: one bad message
 * never blocks the ones after it.
 */
export function unreadable(aid: string, row: UnreadableRow, err: unknown, log?: (line: string) => void): LoggedInput | null {
  const reason = err instanceof E2eeError ? err.reason : 'error';
  if (reason === 'duplicate' || reason === 'recipient_missing') return null;
  const { where, messageId, from, seq, groupId } = row;
  log?.(`undecryptable ${messageId} from ${from}: ${(err as Error).message}`);
  const name: LoggedEventName = 'undecryptable';
  return { name, key: `undecryptable:${where}`, data: { aid, messageId, from, seq, reason, message: (err as Error).message, ...(groupId ? { groupId } : {}) } };
}

/** Releases the E2EE dedupe keys that the items of a run not committed took. */
export function releaseSeen(items: readonly (LoggedInput | null)[], unsee: (key: string) => void): void {
  for (const item of items) if (item?.seen !== undefined) unsee(item.seen);
}
