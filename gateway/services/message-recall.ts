// P2P recall (spec groups-and-more §2.1, §2.2): the sender withdraws messages within the window.
// The stored body becomes a plaintext tombstone (so every inbox row at the original seq, and
// pending mail, now reads as a recall), and every device that holds the message gets a notice
// row at a new seq plus `event/message.recalled` carrying that seq.

import { randomUUID } from 'node:crypto';
import type { MessageRecalledEvent } from '../../protocol/events.ts';
import type { JsonObject } from '../../protocol/frames.ts';
import type { MessageRecallResult, RecallError } from '../../protocol/methods-extra.ts';
import type { AuthedConnection, GatewayContext } from '../context.ts';
import { P2P_RECALLED, RECALL_WINDOW_MS, readMessageIds } from './recall.ts';

export { P2P_RECALLED };

interface BodyRow { id: number; from_aid: string; message_id: string; to_aid: string; body: string; t_server: number }

export interface InboxWriter {
  /** Inserts a body (the dedup record of sender + message_id) and returns its row id. */
  insertBody(fromAid: string, messageId: string, toAid: string, body: string, tServer: number): number;
  /** Appends a row for the body to a device inbox; returns its seq. */
  append(bodyId: number, aid: string, deviceId: string, direction: 'inbound' | 'outbound_sync'): number;
}

export function createMessageRecall(ctx: GatewayContext, writer: InboxWriter) {
  const db = ctx.db;
  const own = db.prepare('SELECT id, from_aid, message_id, to_aid, body, t_server FROM message_bodies WHERE from_aid = ? AND message_id = ?');
  const anyone = db.prepare('SELECT 1 FROM message_bodies WHERE message_id = ? LIMIT 1');
  const holders = db.prepare('SELECT DISTINCT aid, device_id, direction FROM message_inbox WHERE body_id = ?');
  const rewrite = db.prepare("UPDATE message_bodies SET version = 'v1', body = ? WHERE id = ?");

  function isTombstone(body: string): boolean {
    return body.startsWith('{') && (JSON.parse(body) as { type?: unknown }).type === P2P_RECALLED;
  }

  return function recall(params: object, conn: AuthedConnection): MessageRecallResult {
    const ids = readMessageIds(params);
    const now = ctx.now();
    const errors: RecallError[] = [];
    const targets: BodyRow[] = [];
    for (const id of ids) {
      const r = own.get(conn.aid, id) as BodyRow | undefined;
      if (!r) errors.push({ message_id: id, error: anyone.get(id) ? 'not_sender' : 'not_found' });
      else if (isTombstone(r.body)) errors.push({ message_id: id, error: 'already_recalled' });
      else if (now - r.t_server > RECALL_WINDOW_MS) errors.push({ message_id: id, error: 'expired' });
      else targets.push(r);
    }
    const pushes: { aid: string; deviceId: string; params: MessageRecalledEvent }[] = [];
    db.transaction(() => {
      // One notice per recipient AID, naming that recipient's recalled ids.
      const byTo = new Map<string, BodyRow[]>();
      for (const r of targets) byTo.set(r.to_aid, [...(byTo.get(r.to_aid) ?? []), r]);
      for (const [to, rows] of byTo) {
        const messageIds = rows.map((r) => r.message_id);
        const noticeId = `rc-${randomUUID()}`;
        const tomb = (ids: string[], tombId: string): JsonObject => ({ type: P2P_RECALLED, message_ids: ids, from: conn.aid, to, timestamp: now, tombstone_message_id: tombId });
        const devices = new Map<string, { aid: string; deviceId: string; direction: 'inbound' | 'outbound_sync' }>();
        for (const r of rows) {
          rewrite.run(JSON.stringify(tomb([r.message_id], r.message_id)), r.id);
          for (const h of holders.all(r.id) as { aid: string; device_id: string; direction: 'inbound' | 'outbound_sync' }[]) {
            devices.set(`${h.aid}\u0000${h.device_id}`, { aid: h.aid, deviceId: h.device_id, direction: h.direction });
          }
        }
        const noticeBody = writer.insertBody(conn.aid, noticeId, to, JSON.stringify(tomb(messageIds, noticeId)), now);
        for (const d of devices.values()) {
          const seq = writer.append(noticeBody, d.aid, d.deviceId, d.direction);
          pushes.push({
            aid: d.aid, deviceId: d.deviceId,
            params: { message_id: noticeId, tombstone_message_id: noticeId, from: conn.aid, to, message_ids: messageIds, seq, timestamp: now, device_id: d.deviceId },
          });
        }
      }
    })();
    for (const p of pushes) {
      const conns = ctx.longConnections(p.aid, p.deviceId).filter((c) => c !== conn);
      if (conns.length > 0) ctx.push(conns, 'message.recalled', p.params);
    }
    const n = targets.length;
    return { success: n > 0 && errors.length === 0, accepted: n, recalled: n, errors: errors.length > 0 ? errors : null };
  };
}
