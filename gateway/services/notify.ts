// Ephemeral notify (spec groups-and-more §4): `notification/route` to an AID (optionally one device
// or slot) and `notification/group.route` to a group's members, delivered as `event/app.<name>`
// to online long connections only, with a `_notify` stamp the gateway writes itself. Nothing is
// stored and nothing is answered; a malformed, unauthorised or over-rate frame is dropped.

import type { AuthedConnection } from '../context.ts';
import type { GroupCore } from './group-core.ts';

const APP_EVENT = /^event\/app\.[A-Za-z0-9_.-]{1,64}$/;
const MAX_PARAMS_BYTES = 65_536;
const MAX_TTL_MS = 60_000;
/** Token bucket per connection: this many frames at once, refilled at RATE per second. */
const BURST = 20;
const RATE = 10;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function createNotify(core: GroupCore): (conn: AuthedConnection, method: string, params: unknown) => void {
  const buckets = new WeakMap<AuthedConnection, { tokens: number; at: number }>();

  function allowed(conn: AuthedConnection): boolean {
    const now = core.ctx.now();
    const b = buckets.get(conn) ?? { tokens: BURST, at: now };
    b.tokens = Math.min(BURST, b.tokens + ((now - b.at) / 1000) * RATE);
    b.at = now;
    buckets.set(conn, b);
    if (b.tokens < 1) return false;
    b.tokens -= 1;
    return true;
  }

  function deliverable(p: Record<string, unknown>): { method: string; params: Record<string, unknown>; ttl: number } | null {
    const deliver = p.deliver;
    if (!isRecord(deliver) || typeof deliver.method !== 'string' || !APP_EVENT.test(deliver.method)) return null;
    const params = deliver.params ?? {};
    if (!isRecord(params) || Buffer.byteLength(JSON.stringify(params), 'utf8') > MAX_PARAMS_BYTES) return null;
    const ttl = p.ttl_ms ?? 0;
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 0 || ttl > MAX_TTL_MS) return null;
    return { method: deliver.method, params, ttl };
  }

  function send(targets: AuthedConnection[], from: AuthedConnection, d: { method: string; params: Record<string, unknown>; ttl: number }): void {
    const _notify = { from_aid: from.aid, device_id: from.deviceId, slot_id: from.slotId, connection_id: from.id, sent_at: core.ctx.now(), ttl_ms: d.ttl };
    const frame = { jsonrpc: '2.0', method: d.method, params: { ...d.params, _notify } };
    for (const t of targets) if (t !== from) t.send(frame);
  }

  return (conn, method, params) => {
    if (conn.kind !== 'long' || !isRecord(params)) return;
    if (method !== 'notification/route' && method !== 'notification/group.route') return;
    const d = deliverable(params);
    if (!d || !allowed(conn)) return;
    if (method === 'notification/route') {
      const target = params.target;
      if (!isRecord(target) || target.type !== 'aid' || typeof target.aid !== 'string') return;
      const { device_id: deviceId, slot_id: slotId } = target;
      if ((deviceId !== undefined && typeof deviceId !== 'string') || (slotId !== undefined && (typeof slotId !== 'string' || deviceId === undefined))) return;
      const conns = core.ctx.longConnections(target.aid, deviceId).filter((c) => slotId === undefined || c.slotId === slotId);
      send(conns, conn, d);
      return;
    }
    let groupId: string;
    try {
      groupId = core.readGroupId(params, conn);
      const g = core.requireGroup(groupId);
      core.requireMember(g, conn.aid);
      core.requireActive(g);
    } catch {
      return;
    }
    send(core.members(groupId).flatMap((m) => core.ctx.longConnections(m.aid)), conn, d);
  };
}
