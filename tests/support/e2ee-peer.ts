// Bridges the Node test client's keys to worker/e2ee so gateway tests can send real V2 envelopes
// and check that recipients decrypt what the gateway relayed.

import type { KeyObject } from 'node:crypto';
import { fromBase64 } from '../../protocol/bytes.ts';
import { scalarFromPkcs8, type P256PrivateKey } from '../../worker/e2ee/keys.ts';
import { privateKeyFromScalar } from '../../worker/e2ee/noble.ts';
import type { Target } from '../../worker/e2ee/envelope.ts';

export function p256(key: KeyObject): P256PrivateKey {
  return privateKeyFromScalar(scalarFromPkcs8(new Uint8Array(key.export({ format: 'der', type: 'pkcs8' }))));
}

/** Targets from a `message.v2.bootstrap` / `group.v2.bootstrap` device list (no cert checks). */
export function targetsFrom(devices: Record<string, unknown>[], aid?: string, role?: Target['role']): Target[] {
  return devices.map((d) => ({
    aid: String(d.aid ?? aid),
    deviceId: String(d.device_id),
    ...(role ? { role } : {}),
    ikSpki: fromBase64(String(d.ik_pk)),
    ...(typeof d.spk_id === 'string' ? {
      spkId: d.spk_id,
      spkSpki: fromBase64(String(d.spk_pk)),
      keySource: d.key_source as Target['keySource'],
    } : {}),
  }));
}
