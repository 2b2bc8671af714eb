// Turning the gateway's stored P2P rows into the plaintext messages the tabs see.

import type { InboundMessage, InboxRow, JsonObject } from '../../protocol/index.ts';

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
