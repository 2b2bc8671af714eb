// P2P messages (protocol.md §6, §7.1, §7.2, §13.3): message.send for plaintext and V2 envelopes,
// per-device inboxes with their own seq, pull/ack cursors, P2P SPKs and bootstrap. Everything is
// in SQLite so a restart on the same data dir loses nothing.
//
// Store layout: a sent message is one `message_bodies` row (also the dedup record, keyed by
// sender and message_id, holding the first result); each recipient device gets one
// `message_inbox` row pointing at it. Mail for an AID that has no known device yet waits in
// `message_pending` and moves into the inbox of the first device of that AID that shows up.
//
// The group service reads `message_peer_spk` directly (P2P SPK fallback in group.v2.bootstrap):
// keep that table's name and columns stable or change both services together.

import { randomUUID } from 'node:crypto';
import { ErrorCode } from '../../protocol/errors.ts';
import type { JsonObject } from '../../protocol/frames.ts';
import type { DeviceKeys, InboxRow, MessageSendResult } from '../../protocol/methods.ts';
import type { LegacyRow } from '../../protocol/methods-extra.ts';
import { RpcError, type AuthedConnection, type GatewayContext, type HandlerTable, type Service } from '../context.ts';
import { migrate } from '../db.ts';
import { bool, int, obj, str, MAX_AID, MAX_MESSAGE_ID, MAX_PAYLOAD_BYTES } from '../validate.ts';
import { P2P_ENVELOPE_TYPE } from '../../protocol/envelope.ts';
import {
  ROW,
  checkDeviceKnown,
  checkDeviceQuota,
  checkEnvelopeShape,
  checkFreshness,
  checkRowsAndDigest,
  checkSender,
  identityKeyFields,
  isP2pV2Envelope,
  mismatch,
  readSpk,
} from './envelope-check.ts';
import { createMessageRecall } from './message-recall.ts';
import { rejectTombstoneType } from './recall.ts';

const MIGRATIONS = [
  `CREATE TABLE message_bodies (
     id INTEGER PRIMARY KEY,
     from_aid TEXT NOT NULL,
     message_id TEXT NOT NULL,
     to_aid TEXT NOT NULL,
     version TEXT NOT NULL,
     body TEXT NOT NULL,
     t_server INTEGER NOT NULL,
     result TEXT NOT NULL,
     UNIQUE (from_aid, message_id)
   );
   CREATE TABLE message_inbox (
     aid TEXT NOT NULL,
     device_id TEXT NOT NULL,
     seq INTEGER NOT NULL,
     body_id INTEGER NOT NULL REFERENCES message_bodies(id),
     direction TEXT NOT NULL,
     spk_id TEXT NOT NULL,
     PRIMARY KEY (aid, device_id, seq)
   );
   CREATE TABLE message_inbox_heads (
     aid TEXT NOT NULL,
     device_id TEXT NOT NULL,
     last_seq INTEGER NOT NULL,
     PRIMARY KEY (aid, device_id)
   );
   CREATE TABLE message_pending (
     id INTEGER PRIMARY KEY,
     aid TEXT NOT NULL,
     body_id INTEGER NOT NULL REFERENCES message_bodies(id),
     spk_id TEXT NOT NULL
   );
   CREATE INDEX message_pending_by_aid ON message_pending (aid, id);
   CREATE TABLE message_acks (
     aid TEXT NOT NULL,
     device_id TEXT NOT NULL,
     slot_id TEXT NOT NULL,
     ack_seq INTEGER NOT NULL,
     PRIMARY KEY (aid, device_id, slot_id)
   );
   CREATE TABLE message_peer_spk (
     aid TEXT NOT NULL,
     device_id TEXT NOT NULL,
     key_source TEXT NOT NULL,
     spk_id TEXT NOT NULL,
     spk_pk TEXT NOT NULL,
     spk_signature TEXT NOT NULL,
     spk_timestamp INTEGER NOT NULL,
     updated_at INTEGER NOT NULL,
     PRIMARY KEY (aid, device_id)
   )`,
];

const PULL_LIMIT = 50;
const MAX_QUERY_AIDS = 1000;

type Direction = InboxRow['direction'];

interface Target {
  aid: string;
  deviceId: string;
  direction: Direction;
  spkId: string;
}

/** Mail for an AID with no known device yet (stored once, handed to its first device). */
type Pending = { aid: string; spkId: string } | null;

interface StoredRow extends Target {
  seq: number;
}

interface InboxJoinRow {
  seq: number;
  direction: Direction;
  spk_id: string;
  from_aid: string;
  message_id: string;
  to_aid: string;
  version: 'v1' | 'v2';
  body: string;
  t_server: number;
}

interface SpkRow {
  device_id: string;
  key_source: 'peer_device_prekey';
  spk_id: string;
  spk_pk: string;
  spk_signature: string;
  spk_timestamp: number;
}

interface Body {
  fromAid: string;
  messageId: string;
  toAid: string;
  version: 'v1' | 'v2';
  body: string;
  tServer: number;
}

export function createMessageService(ctx: GatewayContext): Service {
  const db = ctx.db;
  migrate(db, 'message', MIGRATIONS);

  const findBody = db.prepare('SELECT result FROM message_bodies WHERE from_aid = ? AND message_id = ?');
  const insertBody = db.prepare('INSERT INTO message_bodies (from_aid, message_id, to_aid, version, body, t_server, result) VALUES (?, ?, ?, ?, ?, ?, ?)');
  const setBodyResult = db.prepare('UPDATE message_bodies SET result = ? WHERE id = ?');
  const nextSeq = db.prepare(
    `INSERT INTO message_inbox_heads (aid, device_id, last_seq) VALUES (?, ?, 1)
     ON CONFLICT (aid, device_id) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq`,
  );
  const latestSeq = db.prepare('SELECT last_seq FROM message_inbox_heads WHERE aid = ? AND device_id = ?');
  const insertInbox = db.prepare('INSERT INTO message_inbox (aid, device_id, seq, body_id, direction, spk_id) VALUES (?, ?, ?, ?, ?, ?)');
  const pullRows = db.prepare(
    `SELECT i.seq, i.direction, i.spk_id, b.from_aid, b.message_id, b.to_aid, b.version, b.body, b.t_server
     FROM message_inbox i JOIN message_bodies b ON b.id = i.body_id
     WHERE i.aid = ? AND i.device_id = ? AND i.seq > ? ORDER BY i.seq LIMIT ?`,
  );
  const insertPending = db.prepare('INSERT INTO message_pending (aid, body_id, spk_id) VALUES (?, ?, ?)');
  const listPending = db.prepare(
    `SELECT p.spk_id, b.id, b.from_aid, b.message_id, b.to_aid, b.version, b.body, b.t_server
     FROM message_pending p JOIN message_bodies b ON b.id = p.body_id WHERE p.aid = ? ORDER BY p.id`,
  );
  const hasPending = db.prepare('SELECT 1 FROM message_pending WHERE aid = ? LIMIT 1');
  const deletePending = db.prepare('DELETE FROM message_pending WHERE aid = ?');
  const getAck = db.prepare('SELECT ack_seq FROM message_acks WHERE aid = ? AND device_id = ? AND slot_id = ?');
  const advanceAck = db.prepare(
    `INSERT INTO message_acks (aid, device_id, slot_id, ack_seq) VALUES (?, ?, ?, ?)
     ON CONFLICT (aid, device_id, slot_id) DO UPDATE SET ack_seq = MAX(ack_seq, excluded.ack_seq)`,
  );
  const upsertSpk = db.prepare(
    `INSERT INTO message_peer_spk (aid, device_id, key_source, spk_id, spk_pk, spk_signature, spk_timestamp, updated_at)
     VALUES (?, ?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (aid, device_id) DO UPDATE SET key_source = excluded.key_source, spk_id = excluded.spk_id,
       spk_pk = excluded.spk_pk, spk_signature = excluded.spk_signature, spk_timestamp = excluded.spk_timestamp,
       updated_at = excluded.updated_at`,
  );
  const spksOf = db.prepare('SELECT device_id, key_source, spk_id, spk_pk, spk_signature, spk_timestamp FROM message_peer_spk WHERE aid = ? ORDER BY updated_at, device_id');
  const hasSpk = db.prepare('SELECT 1 FROM message_peer_spk WHERE aid = ? AND device_id = ?');
  const spkDeviceCount = db.prepare('SELECT COUNT(*) AS n FROM message_peer_spk WHERE aid = ?');

  /** Devices of an AID that connected at least once or registered an SPK, oldest first. */
  function knownDevices(aid: string): string[] {
    const out = new Set(ctx.knownDevices(aid));
    for (const r of spksOf.all(aid) as SpkRow[]) out.add(r.device_id);
    return [...out];
  }

  /** The caller's devices, including the calling one even if it only ever used short sockets. */
  function callerDevices(conn: AuthedConnection): string[] {
    const out = knownDevices(conn.aid);
    if (!out.includes(conn.deviceId)) out.push(conn.deviceId);
    return out;
  }

  /** An explicit device_id / slot_id must name the connection's own (spec §6.4). */
  function checkInstance(params: object, conn: AuthedConnection): void {
    const deviceId = str(params, 'device_id', { optional: true, max: 128 });
    if (deviceId && deviceId !== conn.deviceId) {
      throw new RpcError(ErrorCode.InvalidParams, `invalid params: device_id ${deviceId} is not this connection's device ${conn.deviceId}`);
    }
    const slotId = str(params, 'slot_id', { optional: true, max: 128 });
    if (slotId && slotId !== conn.slotId) {
      throw new RpcError(ErrorCode.InvalidParams, `invalid params: slot_id ${slotId} is not this connection's slot ${conn.slotId}`);
    }
  }

  function latest(aid: string, deviceId: string): number {
    return (latestSeq.get(aid, deviceId) as { last_seq: number } | undefined)?.last_seq ?? 0;
  }

  function ackSeq(conn: AuthedConnection): number {
    return (getAck.get(conn.aid, conn.deviceId, conn.slotId) as { ack_seq: number } | undefined)?.ack_seq ?? 0;
  }

  /** Moves the ack cursor of the connection's (aid, device, slot) forward, clamped to the inbox. */
  function ack(conn: AuthedConnection, upTo: number): number {
    const clamped = Math.min(upTo, latest(conn.aid, conn.deviceId));
    advanceAck.run(conn.aid, conn.deviceId, conn.slotId, clamped);
    return ackSeq(conn);
  }

  function appendInbox(bodyId: number, t: Target): StoredRow {
    const { last_seq: seq } = nextSeq.get(t.aid, t.deviceId) as { last_seq: number };
    insertInbox.run(t.aid, t.deviceId, seq, bodyId, t.direction, t.spkId);
    return { ...t, seq };
  }

  function pushRow(body: Body, row: StoredRow): void {
    const conns = ctx.longConnections(row.aid, row.deviceId);
    if (conns.length === 0) return;
    if (body.version === 'v2') {
      ctx.push(conns, 'peer.v2.message_received', {
        seq: row.seq,
        message_id: body.messageId,
        from_aid: body.fromAid,
        device_id: row.deviceId,
        ...(row.spkId ? { spk_id: row.spkId } : {}),
        envelope_json: body.body,
      });
      return;
    }
    const payload = JSON.parse(body.body) as JsonObject;
    for (const c of conns) {
      ctx.push([c], 'message.received', {
        message_id: body.messageId,
        from: body.fromAid,
        to: body.toAid,
        seq: row.seq,
        timestamp: body.tServer,
        payload,
        delivery_mode: 'fanout',
        encrypted: false,
        device_id: row.deviceId,
        slot_id: c.slotId,
        direction: row.direction,
      });
    }
  }

  /** Stores one message: body, inbox rows, pending mail; returns the result and what to push. */
  const store = db.transaction(
    (body: Body, targets: Target[], pending: Pending): { result: MessageSendResult; rows: StoredRow[] } => {
      const id = Number(insertBody.run(body.fromAid, body.messageId, body.toAid, body.version, body.body, body.tServer, '{}').lastInsertRowid);
      const rows = targets.map((t) => appendInbox(id, t));
      if (pending) insertPending.run(pending.aid, id, pending.spkId);
      const inbound = rows.filter((r) => r.direction === 'inbound');
      const first = inbound[0];
      const delivered = inbound.some((r) => ctx.longConnections(r.aid, r.deviceId).length > 0);
      const result: MessageSendResult = {
        message_id: body.messageId,
        seq: first?.seq ?? 0,
        timestamp: body.tServer,
        status: delivered ? 'delivered' : 'sent',
        delivery_mode: 'fanout',
      };
      setBodyResult.run(JSON.stringify(result), id);
      return { result, rows };
    },
  );

  function duplicateOf(fromAid: string, messageId: string): MessageSendResult | null {
    const row = findBody.get(fromAid, messageId) as { result: string } | undefined;
    if (!row) return null;
    return { ...(JSON.parse(row.result) as MessageSendResult), status: 'duplicate' };
  }

  /** V2: route rows per §6.1 / §13.3 and reject rows that do not fit the call. */
  function v2Targets(conn: AuthedConnection, to: string, rows: ReturnType<typeof checkEnvelopeShape>['rows']): { targets: Target[]; pending: Pending } {
    const from = conn.aid;
    const fromDevices = callerDevices(conn);
    const toDevices = to === from ? fromDevices : knownDevices(to);
    const fromSet = new Set(fromDevices);
    const toSet = to === from ? fromSet : new Set(toDevices);
    const targets: Target[] = [];
    const seen = new Set<string>();
    let pending: Pending = null;
    let toRows = 0;
    rows.forEach((row, i) => {
      const aid = row[ROW.aid];
      const deviceId = row[ROW.deviceId];
      const role = row[ROW.role];
      if (role === 'audit') return; // the gateway announces no audit recipients; nothing to deliver
      let direction: Direction;
      if (aid === to && (role === 'peer' || (to === from && role === 'self_sync'))) direction = 'inbound';
      else if (aid === from && role === 'self_sync') direction = 'outbound_sync';
      else mismatch(`recipients[${i}] (${aid}, ${deviceId}, ${role}) is neither a peer row of ${to}, a self_sync row of the sender nor an audit row`);
      if (direction === 'inbound') toRows++;
      const known = aid === to ? toDevices : fromDevices;
      let devices: string[];
      if (deviceId === '') {
        devices = known;
        if (known.length === 0 && direction === 'inbound' && !pending) pending = { aid, spkId: row[ROW.spkId] };
      } else {
        checkDeviceKnown(aid, deviceId, aid === to ? toSet : fromSet);
        devices = [deviceId];
      }
      for (const d of devices) {
        if (aid === from && d === conn.deviceId) continue;
        const key = `${aid}\u0000${d}`;
        if (seen.has(key)) continue;
        seen.add(key);
        targets.push({ aid, deviceId: d, direction, spkId: row[ROW.spkId] });
      }
    });
    if (toRows === 0) mismatch(`no recipient row for ${to}`);
    // Inbound rows first: the result's seq is the recipient's.
    targets.sort((a, b) => (a.direction === b.direction ? 0 : a.direction === 'inbound' ? -1 : 1));
    return { targets, pending };
  }

  /** Plaintext: every known device of `to`, plus an outbound_sync copy to the sender's others. */
  function plainTargets(conn: AuthedConnection, to: string): { targets: Target[]; pending: Pending } {
    const from = conn.aid;
    const targets: Target[] = [];
    const toDevices = to === from ? callerDevices(conn) : knownDevices(to);
    for (const d of toDevices) if (!(to === from && d === conn.deviceId)) targets.push({ aid: to, deviceId: d, direction: 'inbound', spkId: '' });
    if (to !== from) {
      for (const d of callerDevices(conn)) if (d !== conn.deviceId) targets.push({ aid: from, deviceId: d, direction: 'outbound_sync', spkId: '' });
    }
    return { targets, pending: toDevices.length === 0 ? { aid: to, spkId: '' } : null };
  }

  /** Moves an AID's pending mail into the inbox of a device that just became known. */
  function flushPending(aid: string, deviceId: string): void {
    if (!hasPending.get(aid)) return;
    const moved = db.transaction(() => {
      const out: { body: Body; row: StoredRow }[] = [];
      for (const p of listPending.all(aid) as (InboxJoinRow & { id: number; spk_id: string })[]) {
        const body: Body = { fromAid: p.from_aid, messageId: p.message_id, toAid: p.to_aid, version: p.version, body: p.body, tServer: p.t_server };
        out.push({ body, row: appendInbox(p.id, { aid, deviceId, direction: 'inbound', spkId: p.spk_id }) });
      }
      deletePending.run(aid);
      return out;
    })();
    ctx.count('messages_stored', moved.length);
    for (const m of moved) pushRow(m.body, m.row);
  }

  function deviceEntry(aid: string, deviceId: string, ik: { ik_pk: string; ik_fp: string }, spk: SpkRow | undefined): DeviceKeys {
    const entry: DeviceKeys = { aid, device_id: deviceId, ...ik };
    if (spk) {
      entry.spk_id = spk.spk_id;
      entry.spk_pk = spk.spk_pk;
      entry.spk_signature = spk.spk_signature;
      entry.spk_timestamp = spk.spk_timestamp;
      entry.key_source = spk.key_source;
    }
    return entry;
  }

  function deviceEntries(aid: string, devices: string[]): DeviceKeys[] {
    const agent = ctx.agent(aid);
    if (!agent) return [];
    const ik = identityKeyFields(agent);
    const spks = new Map((spksOf.all(aid) as SpkRow[]).map((r) => [r.device_id, r]));
    return devices.map((d) => deviceEntry(aid, d, ik, spks.get(d)));
  }

  const recall = createMessageRecall(ctx, {
    insertBody: (from, id, to, body, t) => Number(insertBody.run(from, id, to, 'v1', body, t, '{}').lastInsertRowid),
    append: (bodyId, aid, deviceId, direction) => appendInbox(bodyId, { aid, deviceId, direction, spkId: '' }).seq,
  });

  const handlers: HandlerTable = {
    'message.recall'(params, conn) {
      return recall(params, conn);
    },

    // The legacy ack and pull the browser SDK still sends (groups-and-more §1): same inbox, same cursor.
    'message.ack'(params, conn) {
      const seq = int(params, 'seq', { min: 0 });
      checkInstance(params, conn);
      return { success: true, ack_seq: ack(conn, seq) };
    },

    'message.pull'(params, conn) {
      const afterSeq = int(params, 'after_seq', { optional: true, min: 0 }) ?? 0;
      const limit = int(params, 'limit', { optional: true, min: 0 });
      checkInstance(params, conn);
      const rows = pullRows.all(conn.aid, conn.deviceId, afterSeq, !limit ? PULL_LIMIT : Math.min(limit, PULL_LIMIT)) as InboxJoinRow[];
      const messages = rows.map(legacyRow);
      return {
        messages, count: messages.length, latest_seq: latest(conn.aid, conn.deviceId), server_ack_seq: ackSeq(conn),
        ephemeral_earliest_available_seq: 0, ephemeral_dropped_count: 0,
      };
    },

    'message.send'(params, conn) {
      const to = str(params, 'to', { max: MAX_AID });
      const payload = obj(params, 'payload', {}) as JsonObject;
      const paramId = str(params, 'message_id', { optional: true, max: MAX_MESSAGE_ID });
      const bytes = Buffer.byteLength(JSON.stringify(payload), 'utf8');
      if (bytes > MAX_PAYLOAD_BYTES) throw new RpcError(ErrorCode.Internal, `payload too large: ${bytes} bytes, at most ${MAX_PAYLOAD_BYTES}`);
      if (!ctx.agent(to)) throw new RpcError(ErrorCode.Internal, `unknown target: ${to} is not registered on this gateway`);
      const t = ctx.now();

      if (isP2pV2Envelope(payload)) {
        const checked = checkEnvelopeShape(payload, P2P_ENVELOPE_TYPE);
        if (paramId !== undefined && paramId !== checked.messageId) {
          throw new RpcError(ErrorCode.InvalidParams, `invalid params: message_id ${paramId} differs from the envelope's aad.message_id ${checked.messageId}`);
        }
        const dup = duplicateOf(conn.aid, checked.messageId);
        if (dup) return dup;
        checkSender(checked.aad, conn.aid, conn.deviceId);
        if (checked.aad.to !== to) mismatch(`aad.to ${String(checked.aad.to)} is not the target ${to}`);
        checkFreshness(checked, t, ctx.config);
        checkRowsAndDigest(checked);
        const { targets, pending } = v2Targets(conn, to, checked.rows);
        return deliver({ fromAid: conn.aid, messageId: checked.messageId, toAid: to, version: 'v2', body: JSON.stringify(payload), tServer: t }, targets, pending);
      }

      rejectTombstoneType('message.send', payload.type);
      if (typeof payload.type === 'string' && payload.type.startsWith('e2ee.')) {
        throw new RpcError(ErrorCode.InvalidParams, `unsupported encrypted payload ${payload.type}${typeof payload.version === 'string' ? ` ${payload.version}` : ''}: message.send accepts plaintext or an ${P2P_ENVELOPE_TYPE} v2 envelope`);
      }
      const messageId = paramId ?? randomUUID();
      if (messageId === '') throw new RpcError(ErrorCode.InvalidParams, 'invalid params: message_id must not be empty');
      const dup = duplicateOf(conn.aid, messageId);
      if (dup) return dup;
      const { targets, pending } = plainTargets(conn, to);
      return deliver({ fromAid: conn.aid, messageId, toAid: to, version: 'v1', body: JSON.stringify(payload), tServer: t }, targets, pending);
    },

    'message.v2.pull'(params, conn) {
      const afterSeq = int(params, 'after_seq', { optional: true, min: 0 });
      const limit = int(params, 'limit', { optional: true, min: 0 });
      const ackUpTo = int(params, 'ack_up_to_seq', { optional: true, min: 0 });
      bool(params, 'force');
      checkInstance(params, conn);
      const serverAck = ackUpTo === undefined ? ackSeq(conn) : ack(conn, ackUpTo);
      const pageSize = !limit ? PULL_LIMIT : Math.min(limit, PULL_LIMIT);
      const rows = pullRows.all(conn.aid, conn.deviceId, afterSeq ?? serverAck, pageSize + 1) as InboxJoinRow[];
      const page = rows.slice(0, pageSize);
      return {
        messages: page.map((r) => inboxRow(r, conn)),
        has_more: rows.length > pageSize,
        server_ack_seq: serverAck,
        latest_seq: latest(conn.aid, conn.deviceId),
      };
    },

    'message.v2.ack'(params, conn) {
      const upTo = int(params, 'up_to_seq', { min: 0 });
      checkInstance(params, conn);
      return { success: true, ack_seq: ack(conn, upTo) };
    },

    'message.v2.put_peer_pk'(params, conn) {
      const peerAid = str(params, 'peer_aid', { optional: true, max: MAX_AID });
      if (peerAid !== undefined && peerAid !== conn.aid) {
        throw new RpcError(ErrorCode.InvalidParams, `invalid params: peer_aid ${peerAid} must be the connection's aid ${conn.aid}: an SPK can only be registered for yourself`);
      }
      const agent = ctx.agent(conn.aid);
      if (!agent) throw new RpcError(ErrorCode.NotFound, `aid not registered: ${conn.aid}`);
      const spk = readSpk(params, 'peer_device_prekey', agent);
      if (!hasSpk.get(conn.aid, conn.deviceId)) {
        checkDeviceQuota(conn.aid, conn.deviceId, (spkDeviceCount.get(conn.aid) as { n: number }).n, 'P2P prekeys');
      }
      upsertSpk.run(conn.aid, conn.deviceId, spk.key_source, spk.spk_id, spk.spk_pk, spk.spk_signature, spk.spk_timestamp, ctx.now());
      flushPending(conn.aid, conn.deviceId);
      return { ok: true };
    },

    'message.v2.bootstrap'(params, conn) {
      const peerAid = str(params, 'peer_aid', { max: MAX_AID });
      obj(params, 'e2ee_wrap_capabilities', { optional: true });
      const peer = ctx.agent(peerAid);
      if (!peer) throw new RpcError(ErrorCode.NotFound, `not found: ${peerAid} is not registered on this gateway`);
      return {
        peer_devices: deviceEntries(peerAid, knownDevices(peerAid)),
        self_devices: deviceEntries(conn.aid, knownDevices(conn.aid).filter((d) => d !== conn.deviceId)),
        audit_recipients: [],
        certs: { [peerAid]: { cert_pem: peer.certPem, cert_fingerprint: peer.certFingerprint, ca_chain: ctx.caChain() } },
      };
    },

    'message.query_online'(params) {
      const aids = (params as { aids?: unknown }).aids;
      if (!Array.isArray(aids) || aids.length > MAX_QUERY_AIDS || !aids.every((a) => typeof a === 'string' && a.length <= MAX_AID)) {
        throw new RpcError(ErrorCode.InvalidParams, `invalid params: aids must be an array of at most ${MAX_QUERY_AIDS} AID strings`);
      }
      const online: Record<string, boolean> = {};
      for (const aid of aids as string[]) online[aid] = ctx.isOnline(aid);
      return { online };
    },
  };

  function deliver(body: Body, targets: Target[], pending: Pending): MessageSendResult {
    const { result, rows } = store(body, targets, pending);
    ctx.count('messages_stored', rows.length);
    for (const row of rows) pushRow(body, row);
    ctx.messageStored({ to: body.toAid, from: body.fromAid, messageId: body.messageId, ts: body.tServer });
    return result;
  }

  function legacyRow(r: InboxJoinRow): LegacyRow {
    const row: LegacyRow = {
      message_id: r.message_id, seq: r.seq, from: r.from_aid, to: r.to_aid, timestamp: r.t_server,
      payload: JSON.parse(r.body) as JsonObject, delivery_mode: 'fanout',
    };
    if (r.version === 'v2') row.encrypted = true;
    return row;
  }

  function inboxRow(r: InboxJoinRow, conn: AuthedConnection): InboxRow {
    const row: InboxRow = {
      seq: r.seq,
      version: r.version,
      message_id: r.message_id,
      from_aid: r.from_aid,
      to: r.to_aid,
      t_server: r.t_server,
      device_id: conn.deviceId,
      slot_id: conn.slotId,
      direction: r.direction,
    };
    if (r.version === 'v2') {
      if (r.spk_id) row.spk_id = r.spk_id;
      row.envelope_json = r.body;
    } else {
      row.legacy_v1 = { to: r.to_aid, payload: JSON.parse(r.body) as JsonObject };
    }
    return row;
  }

  return {
    handlers,
    onLongConnected(conn) {
      // Pending mail exists only while the AID had no known device; the first one to appear
      // (here, or through message.v2.put_peer_pk) takes it.
      flushPending(conn.aid, conn.deviceId);
    },
  };
}
