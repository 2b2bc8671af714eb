// Thoughts (spec groups-and-more §5): an agent's current end-to-end encrypted "thinking" per
// context, P2P (sender, peer, context) or group (group, sender, context). In memory only: no seq,
// no push, no ack; each put appends an item (a repeated thought_id replaces its item in place).
// The gateway only accepts V2 envelopes from the caller's own device and never decrypts them.

import { ErrorCode } from '../../protocol/errors.ts';
import type { JsonObject } from '../../protocol/frames.ts';
import type { ThoughtContext, ThoughtItem } from '../../protocol/methods-extra.ts';
import { RpcError, type AuthedConnection } from '../context.ts';
import { int, obj, str, MAX_AID, MAX_MESSAGE_ID, MAX_PAYLOAD_BYTES } from '../validate.ts';
import { GROUP_ENVELOPE_TYPE, P2P_ENVELOPE_TYPE } from '../../protocol/envelope.ts';
import { checkEnvelopeShape, checkSender } from './envelope-check.ts';
import type { GroupCore, GroupPart } from './group-core.ts';

/** Heads kept per sender (P2P) or per (group, sender); the least recently written go first. */
export const MAX_HEADS = 100;
/** Items kept per head; the oldest go first. */
export const MAX_ITEMS = 100;

interface Head { items: ThoughtItem[]; sizes: number[]; bytes: number; updatedAt: number }

function readContext(params: object): ThoughtContext {
  const c = obj(params, 'context', {});
  return { type: str(c, 'type', { max: 64 }), id: str(c, 'id', { max: 256 }) };
}

export const thoughtHandlers: GroupPart = (core: GroupCore) => {
  // owner key (sender for P2P, group + sender for groups) → head key → head, in write order
  const heads = new Map<string, Map<string, Head>>();
  // Every head of every owner, least recently written first, and their bytes in all. Past
  // config.maxThoughtBytes the heads written least recently go, whoever's they are: the per-owner
  // limits alone let any number of owners (one per peer, per group and sender) hold 100 × 100
  // items of up to 1 MB each.
  const budget = core.ctx.config.maxThoughtBytes;
  const written = new Map<Head, [owner: string, key: string]>();
  let total = 0;

  function drop(owner: string, key: string): void {
    const mine = heads.get(owner);
    const head = mine?.get(key);
    if (!mine || !head) return;
    mine.delete(key);
    if (mine.size === 0) heads.delete(owner);
    written.delete(head);
    total -= head.bytes;
  }

  function put(owner: string, key: string, item: ThoughtItem, size: number): Head {
    let mine = heads.get(owner);
    if (!mine) heads.set(owner, (mine = new Map()));
    const head = mine.get(key) ?? { items: [], sizes: [], bytes: 0, updatedAt: 0 };
    mine.delete(key);
    mine.set(key, head);
    written.delete(head);
    written.set(head, [owner, key]);
    const at = head.items.findIndex((i) => i.thought_id === item.thought_id);
    const before = head.bytes;
    if (at >= 0) {
      head.bytes += size - head.sizes[at]!;
      head.items[at] = item;
      head.sizes[at] = size;
    } else {
      head.items.push(item);
      head.sizes.push(size);
      head.bytes += size;
    }
    if (head.items.length > MAX_ITEMS) {
      const cut = head.items.length - MAX_ITEMS;
      head.items.splice(0, cut);
      for (const s of head.sizes.splice(0, cut)) head.bytes -= s;
    }
    total += head.bytes - before;
    head.updatedAt = item.created_at;
    while (mine.size > MAX_HEADS) drop(owner, mine.keys().next().value!);
    // Over the budget: the least recently written heads go, never the one just written.
    for (const [h, [o, k]] of written) {
      if (total <= budget || h === head) break;
      drop(o, k);
    }
    return head;
  }

  function readEnvelope(params: object, conn: AuthedConnection, type: typeof P2P_ENVELOPE_TYPE | typeof GROUP_ENVELOPE_TYPE) {
    const payload = obj(params, 'payload', {}) as JsonObject;
    if ((params as { encrypted?: unknown }).encrypted === false || payload.type !== type) {
      throw new RpcError(ErrorCode.InvalidParams, `invalid params: a thought payload must be an ${type} v2 envelope (thoughts are end-to-end encrypted)`);
    }
    const bytes = Buffer.byteLength(JSON.stringify(payload), 'utf8');
    if (bytes > MAX_PAYLOAD_BYTES) throw new RpcError(ErrorCode.Internal, `payload too large: ${bytes} bytes, at most ${MAX_PAYLOAD_BYTES}`);
    const checked = checkEnvelopeShape(payload, type);
    checkSender(checked.aad, conn.aid, conn.deviceId);
    const thoughtId = str(params, 'thought_id', { optional: true, max: MAX_MESSAGE_ID }) ?? checked.messageId;
    if (thoughtId !== checked.messageId) throw new RpcError(ErrorCode.InvalidParams, `invalid params: thought_id ${thoughtId} differs from the envelope's aad.message_id ${checked.messageId}`);
    return { payload, thoughtId, bytes };
  }

  const p2pKey = (peer: string, c: ThoughtContext) => JSON.stringify([peer, c.type, c.id]);

  return {
    'message.thought.put'(params, conn) {
      const to = str(params, 'to', { max: MAX_AID });
      const context = readContext(params);
      int(params, 'timestamp', { optional: true, min: 0 });
      if (!core.ctx.agent(to)) throw new RpcError(ErrorCode.NotFound, `not found: ${to} is not registered on this gateway`);
      const { payload, thoughtId, bytes } = readEnvelope(params, conn, P2P_ENVELOPE_TYPE);
      const t = core.ctx.now();
      const head = put(conn.aid, p2pKey(to, context), { thought_id: thoughtId, message_id: thoughtId, context, from: conn.aid, to, payload, created_at: t }, bytes);
      return { sender_aid: conn.aid, peer_aid: to, to, context, thought_id: thoughtId, stored_count: head.items.length, updated_at: t };
    },

    'message.thought.get'(params, conn) {
      const sender = str(params, 'sender_aid', { max: MAX_AID });
      const context = readContext(params);
      const named = str(params, 'peer_aid', { optional: true, max: MAX_AID }) ?? str(params, 'to', { optional: true, max: MAX_AID });
      let peer: string;
      if (sender === conn.aid) {
        if (!named) throw new RpcError(ErrorCode.InvalidParams, 'invalid params: peer_aid (or to) is required to read your own thoughts');
        peer = named;
      } else {
        if (named !== undefined && named !== conn.aid) throw new RpcError(ErrorCode.PermissionDenied, 'permission denied: only the sender and the peer may read these thoughts');
        peer = conn.aid;
      }
      const head = heads.get(sender)?.get(p2pKey(peer, context));
      return { found: head !== undefined, sender_aid: sender, peer_aid: peer, context, thoughts: head ? [...head.items] : [], updated_at: head?.updatedAt ?? 0 };
    },

    'group.thought.put'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const context = readContext(params);
      int(params, 'timestamp', { optional: true, min: 0 });
      const g = core.requireGroup(groupId);
      core.requireMember(g, conn.aid);
      core.requireActive(g);
      const { payload, thoughtId, bytes } = readEnvelope(params, conn, GROUP_ENVELOPE_TYPE);
      const t = core.ctx.now();
      const head = put(JSON.stringify([groupId, conn.aid]), JSON.stringify([context.type, context.id]), {
        thought_id: thoughtId, message_id: thoughtId, context, from: conn.aid, to: groupId, payload, created_at: t,
      }, bytes);
      return { group_id: groupId, sender_aid: conn.aid, context, thought_id: thoughtId, stored_count: head.items.length, updated_at: t };
    },

    'group.thought.get'(params, conn) {
      const groupId = core.readGroupId(params, conn);
      const sender = str(params, 'sender_aid', { max: MAX_AID });
      const context = readContext(params);
      const g = core.requireGroup(groupId);
      core.requireMember(g, conn.aid);
      const head = heads.get(JSON.stringify([groupId, sender]))?.get(JSON.stringify([context.type, context.id]));
      const thoughts = (head?.items ?? []).map(({ from: _f, to: _t, ...rest }) => rest);
      return { found: head !== undefined, group_id: groupId, sender_aid: sender, context, thoughts, updated_at: head?.updatedAt ?? 0 };
    },
  };
};
