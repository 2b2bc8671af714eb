// Group id normalisation and the group state commitment (spec/e2ee-v2.md §5.3).

import { sha256 } from '@noble/hashes/sha2.js';
import { concatBytes, toHex, utf8 } from '../../protocol/bytes.ts';
import { canonicalJson } from '../../protocol/canonical.ts';

export const STATE_PREFIX = 'AUN-V2-SC-v1';

const trimDots = (s: string): string => s.replace(/^\.+|\.+$/g, '');

/** `"a@b@c"` → `["a", "b@c"]`; no `@` → `[s]`. */
function splitAt(s: string): string[] {
  const at = s.indexOf('@');
  return at < 0 ? [s] : [s.slice(0, at), s.slice(at + 1)];
}

/**
 * §5.3: the group id as hashed into commitments and written into group AADs. Legacy
 * `group.<issuer>/<base>[@<suffix>]` and `<base>@<domain>` forms become dotted AIDs; a dotted
 * value is kept; a bare name gets `.<localIssuer>` only when an issuer is given.
 */
export function normalizeGroupId(group: string, localIssuer?: string): string {
  const value = group.trim().replace(/^\/+|\/+$/g, '').toLowerCase();
  const slash = value.indexOf('/');
  if (value.startsWith('group.') && slash > 0) {
    const issuer = trimDots(value.slice(6, slash));
    return [...splitAt(value.slice(slash + 1)).map(trimDots), issuer].filter(Boolean).join('.');
  }
  if (value.includes('@')) return splitAt(value).map(trimDots).filter(Boolean).join('.');
  if (value.includes('.') || !value) return value;
  const issuer = trimDots((localIssuer ?? '').trim().toLowerCase());
  return issuer ? `${value}.${issuer}` : value;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function sortBy(list: unknown, key: string): void {
  if (!Array.isArray(list)) return;
  const k = (x: unknown): string => {
    const v = typeof x === 'object' && x !== null ? (x as Record<string, unknown>)[key] : undefined;
    return typeof v === 'string' ? v : '';
  };
  list.sort((a, b) => compare(k(a), k(b)));
}

function sortStrings(holder: unknown, key: string): void {
  const list = typeof holder === 'object' && holder !== null ? (holder as Record<string, unknown>)[key] : undefined;
  // Default sort(), as the reference: UTF-16 order of the String() of each element.
  if (Array.isArray(list)) list.sort();
}

/**
 * `lowercase_hex(SHA-256(STATE_PREFIX ‖ gk ‖ uint32_be(epoch) ‖ canonical_json(sorted payload)))`.
 * Callers pass whatever number the protocol step uses (the auto-propose path passes a
 * state_version); it only has to fit a uint32.
 */
export function computeStateCommitment(groupId: string, epoch: number, statePayload: unknown): string {
  if (!Number.isInteger(epoch) || epoch < 0 || epoch > 0xffffffff) throw new RangeError(`epoch out of uint32 range: ${epoch}`);
  const p = JSON.parse(JSON.stringify(statePayload)) as unknown;
  if (typeof p === 'object' && p !== null) {
    const payload = p as Record<string, unknown>;
    sortBy(payload.members, 'aid');
    if (Array.isArray(payload.members)) for (const m of payload.members) sortBy((m as Record<string, unknown> | null)?.devices, 'device_id');
    sortStrings(payload, 'audit_aids');
    sortStrings(payload.admin_set, 'admin_aids');
    sortStrings(payload.recovery_quorum, 'quorum_aids');
  }
  const gk = normalizeGroupId(groupId) || groupId.trim();
  const epochBytes = new Uint8Array(4);
  new DataView(epochBytes.buffer).setUint32(0, epoch, false);
  return toHex(sha256(concatBytes(utf8(STATE_PREFIX), utf8(gk), epochBytes, canonicalJson(p))));
}
