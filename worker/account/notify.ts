// Ephemeral notify for one AID (spec groups-and-more §4): typing and presence notices out through
// `notification/route` / `notification/group.route`, rate-limited on this device; `event/app.*`
// pushes in, handed to the AID's open tabs only. Nothing here is logged or stored.

import { RateLimitError, ValidationError } from '../../protocol/errors.ts';
import { jsonText, type JsonObject } from '../../protocol/frames.ts';
import type { NotifyEvent, NotifyTarget } from '../../protocol/tab.ts';

const KIND = /^[A-Za-z0-9_-]{1,64}$/;
const APP_PREFIX = 'app.';
const MAX_PARAMS_BYTES = 65_536;
/** What a notice says about how long it stays meaningful. */
const TTL_MS = 10_000;
/** Token bucket: this many notices at once, refilled at RATE per second. */
const BURST = 10;
const RATE = 5;

export interface NotifierDeps {
  aid: string;
  /** Writes a notification frame; false when it could not (not ready). */
  write(method: string, params: object): boolean;
  publish(event: NotifyEvent): void;
  now?(): number;
}

export class Notifier {
  private tokens = BURST;
  private at: number;

  constructor(private readonly deps: NotifierDeps) {
    this.at = this.now();
  }

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  /** Sends one notice; true when written, false when the session is not ready. */
  send(target: NotifyTarget, kind: string, params: JsonObject): boolean {
    if (typeof kind !== 'string' || !KIND.test(kind)) throw new ValidationError('notify kind must be 1–64 characters of [A-Za-z0-9_-], e.g. "typing"');
    if (typeof params !== 'object' || params === null || Array.isArray(params)) throw new ValidationError('notify params must be an object');
    // Sent as the recipients read them; one with no JSON form (a BigInt) is refused as such.
    const text = jsonText(params, 'notify params');
    if (new TextEncoder().encode(text).length > MAX_PARAMS_BYTES) throw new ValidationError(`notify params must be at most ${MAX_PARAMS_BYTES} bytes`);
    params = JSON.parse(text) as JsonObject;
    const now = this.now();
    this.tokens = Math.min(BURST, this.tokens + ((now - this.at) / 1000) * RATE);
    this.at = now;
    if (this.tokens < 1) throw new RateLimitError(`notify: at most ${RATE} notices per second (bursts of ${BURST})`);
    this.tokens -= 1;
    const deliver = { method: `event/${APP_PREFIX}${kind}`, params };
    if (typeof target?.groupId === 'string') {
      // The stamp names the sender, not the group: the group rides in the params.
      const grouped = { method: deliver.method, params: { ...params, group_id: target.groupId } };
      return this.deps.write('notification/group.route', { group_id: target.groupId, group_aid: target.groupId, deliver: grouped, ttl_ms: TTL_MS });
    }
    if (typeof target?.to !== 'string') throw new ValidationError('notify needs { to } or { groupId }');
    return this.deps.write('notification/route', { target: { type: 'aid', aid: target.to }, deliver, ttl_ms: TTL_MS });
  }

  /** A pushed `event/app.<kind>`: true when it was one (and went to the tabs). */
  receive(event: string, params: unknown): boolean {
    if (!event.startsWith(APP_PREFIX) || typeof params !== 'object' || params === null) return false;
    const { _notify: stamp, ...rest } = params as Record<string, unknown> & { _notify?: Record<string, unknown> };
    if (typeof stamp !== 'object' || stamp === null || typeof stamp.from_aid !== 'string') return true;
    const groupId = typeof rest.group_id === 'string' ? rest.group_id : undefined;
    this.deps.publish({
      aid: this.deps.aid, kind: event.slice(APP_PREFIX.length), from: stamp.from_aid,
      fromDevice: typeof stamp.device_id === 'string' ? stamp.device_id : '',
      ...(groupId ? { groupId } : {}),
      params: rest as JsonObject, at: typeof stamp.sent_at === 'number' ? stamp.sent_at : this.now(),
    });
    return true;
  }
}
