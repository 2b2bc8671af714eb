// Turning the gateway's P2P pushes and pulled rows into inbox rows and plaintext messages.

import type { InboundMessage, InboxRow, JsonObject, MessageReceivedEvent, PeerV2MessageReceivedEvent } from '../../protocol/index.ts';

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
