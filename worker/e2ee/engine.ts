// E2EE for one logged-in AID on this device: its signed prekey (generated, stored wrapped,
// uploaded, rotated after first use, old ones kept for late messages), bootstraps of peers
// turned into verified targets (cached), P2P encryption and the decrypt pipeline. Network, peer
// certificates and storage are injected, so this stays free of sessions and sockets.

import type { GroupRow, InboxRow, MethodName, ParamsOf, ResultOf } from '../../protocol/methods.ts';
import { E2eeError } from './errors.ts';
import {
  decryptEnvelope, dedupeKey, encryptGroup, encryptP2P, stateCommitmentFromBootstrap,
  type Decrypted, type DecryptChecks, type Envelope, type StateCommitment, type Target,
} from './envelope.ts';
import type { P256PrivateKey } from './keys.ts';
import {
  applyWrapPolicy, buildTargets, E2EE_WRAP_CAPABILITIES, normalizeWrapPolicy, putGroupPkParams, putPeerPkParams, signPrekey, spkIdOf,
} from './spk.ts';

/** The keystore surface the engine needs (worker/store's Store satisfies it). */
export interface EngineKeystore {
  keys: {
    put(aid: string, keyId: string, pkcs8: Uint8Array): Promise<void>;
    load(aid: string, keyId: string): Promise<{ ecdsa: CryptoKey; ecdh: CryptoKey; publicSpki: Uint8Array } | undefined>;
    remove(aid: string, keyId: string): Promise<void>;
  };
  kv: {
    get<T>(aid: string, key: string): Promise<T | undefined>;
    put(aid: string, key: string, value: unknown): Promise<void>;
  };
}

export interface EngineDeps {
  aid: string;
  deviceId: string;
  /** The AID identity key (IK), non-extractable handles. */
  ik: P256PrivateKey;
  store: EngineKeystore;
  rpc<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>>;
  /** The chain-verified SPKI of an AID's certificate (a PEM hint skips the download). */
  peerIk(aid: string, certPem?: string): Promise<Uint8Array>;
  now?(): number;
  log?(line: string): void;
}

interface PrekeyState {
  current: string;
  uploaded: boolean;
  /** Older SPKs still kept for late messages, newest first. */
  previous: { id: string; retiredAt: number }[];
}

const PREKEY_STATE = 'e2ee.prekeys';
/** kv key of the group SPK id this device published for a group. */
const groupPrekeyKey = (groupId: string) => `e2ee.gspk:${groupId}`;
const BOOTSTRAP_TTL_MS = 3_600_000;
/**
 * Old SPKs stay for messages encrypted before the sender saw the rotation: the 7 newest always,
 * older ones until 7 days after they were replaced (spec §7.5).
 */
const KEEP_NEWEST_SPKS = 7;
const KEEP_SPK_MS = 7 * 86_400_000;
const SEEN_WINDOW = 10_000;
/**
 * [GAP] replay check: an envelope's own timestamp must be close to when the gateway took it in
 * (`t_server`), so an old envelope re-sent later is refused however long the device was offline.
 * The gateway accepts t_send up to a day old; add clock skew.
 */
const REPLAY_WINDOW_MS = 86_400_000 + 600_000;

const spkKeyId = (spkId: string) => `spk:${spkId}`;

function handles(k: { ecdsa: CryptoKey; ecdh: CryptoKey; publicSpki: Uint8Array }): P256PrivateKey {
  return { publicSpki: k.publicSpki, ecdh: k.ecdh, ecdsa: k.ecdsa };
}

interface GroupKeys { at: number; targets: Target[]; epoch: number; stateCommitment: StateCommitment }

export class E2eeEngine {
  private readonly bootstraps = new Map<string, { at: number; targets: Target[] }>();
  private readonly groupBootstraps = new Map<string, GroupKeys>();
  private readonly spks = new Map<string, P256PrivateKey>();
  /** Message dedupe keys already accepted (a bounded window; delivery also dedups by seq). */
  private readonly seen = new Set<string>();
  private prekeyWork: Promise<void> = Promise.resolve();
  /** The current SPK id as last written or read (undefined: not read yet), so a decrypt needs no read. */
  private currentSpk: string | undefined;

  constructor(private readonly deps: EngineDeps) {}

  private now(): number {
    return this.deps.now?.() ?? Date.now();
  }

  // ---- prekeys ----

  /** Makes sure this device has an SPK and the gateway has it (after every connect). */
  ensurePrekey(): Promise<void> {
    return this.serial(async () => {
      const state = await this.deps.store.kv.get<PrekeyState>(this.deps.aid, PREKEY_STATE);
      if (state && (await this.spk(state.current))) {
        if (!state.uploaded) await this.upload(state);
        return;
      }
      await this.upload(await this.newPrekey(state));
    });
  }

  /**
   * A fresh SPK replaces the current one, which is kept for late messages (spec §7.5). With
   * `ifCurrent`, only if that SPK is still the current one: several messages that used it
   * rotate it once.
   */
  rotatePrekey(ifCurrent?: string): Promise<void> {
    return this.serial(async () => {
      const state = await this.deps.store.kv.get<PrekeyState>(this.deps.aid, PREKEY_STATE);
      if (ifCurrent !== undefined && state?.current !== ifCurrent) return;
      await this.upload(await this.newPrekey(state));
    });
  }

  private serial(work: () => Promise<void>): Promise<void> {
    const next = this.prekeyWork.then(work);
    this.prekeyWork = next.catch(() => {});
    return next;
  }

  /** A new SPK, stored wrapped; the private key exists in the clear only for the export. */
  private async storeNewSpk(): Promise<string> {
    const pair = await crypto.subtle.generateKey({ name: 'ECDH', namedCurve: 'P-256' }, true, ['deriveBits']);
    const pkcs8 = new Uint8Array(await crypto.subtle.exportKey('pkcs8', pair.privateKey));
    const spkId = spkIdOf(new Uint8Array(await crypto.subtle.exportKey('spki', pair.publicKey)));
    try {
      await this.deps.store.keys.put(this.deps.aid, spkKeyId(spkId), pkcs8);
    } finally {
      pkcs8.fill(0);
    }
    return spkId;
  }

  private async newPrekey(old: PrekeyState | undefined): Promise<PrekeyState> {
    const spkId = await this.storeNewSpk();
    const now = this.now();
    const all = old ? [{ id: old.current, retiredAt: now }, ...old.previous] : [];
    const previous = all.filter((p, i) => i < KEEP_NEWEST_SPKS || now - p.retiredAt < KEEP_SPK_MS);
    for (const dropped of all.filter((p) => !previous.includes(p))) {
      await this.deps.store.keys.remove(this.deps.aid, spkKeyId(dropped.id));
      this.spks.delete(dropped.id);
    }
    const state: PrekeyState = { current: spkId, uploaded: false, previous };
    await this.deps.store.kv.put(this.deps.aid, PREKEY_STATE, state);
    this.currentSpk = spkId;
    return state;
  }

  private async upload(state: PrekeyState): Promise<void> {
    const key = await this.spk(state.current);
    if (!key) throw new E2eeError('spk_missing', `spk_missing: spk_id=${state.current} (own prekey not in the keystore)`);
    const signed = await signPrekey(this.deps.ik, key, this.now());
    await this.deps.rpc('message.v2.put_peer_pk', putPeerPkParams(this.deps.aid, signed));
    await this.deps.store.kv.put(this.deps.aid, PREKEY_STATE, { ...state, uploaded: true });
    this.deps.log?.(`uploaded prekey ${state.current}`);
  }

  private async spk(spkId: string): Promise<P256PrivateKey | undefined> {
    const cached = this.spks.get(spkId);
    if (cached) return cached;
    const loaded = await this.deps.store.keys.load(this.deps.aid, spkKeyId(spkId));
    if (!loaded) return undefined;
    const key = handles(loaded);
    this.spks.set(spkId, key);
    return key;
  }

  // ---- sending ----

  /** Recipients of a message to `to`: its devices (3DH where they published an SPK) and our other devices. */
  async targetsFor(to: string): Promise<Target[]> {
    const hit = this.bootstraps.get(to);
    if (hit && this.now() - hit.at < BOOTSTRAP_TTL_MS) return hit.targets;
    const { aid: self, ik } = this.deps;
    const res = await this.deps.rpc('message.v2.bootstrap', { peer_aid: to, e2ee_wrap_capabilities: E2EE_WRAP_CAPABILITIES });
    const peerIk = to === self ? ik.publicSpki : await this.deps.peerIk(to, res.certs?.[to]?.cert_pem);
    const trustedIk = (aid: string) => (aid === to ? peerIk : aid === self ? ik.publicSpki : undefined);
    let peers = await buildTargets(res.peer_devices ?? [], { role: 'peer', aid: to, trustedIk, strictIk: true });
    if (to === self) peers = peers.filter((t) => t.deviceId !== this.deps.deviceId);
    // A peer that never connected has no device yet: one per-AID wrap reaches its first device.
    if (peers.length === 0) peers = [{ aid: to, deviceId: '', role: 'peer', ikSpki: peerIk }];
    const selves = to === self ? [] : (await buildTargets(res.self_devices ?? [], { role: 'self_sync', aid: self, trustedIk, strictIk: true }))
      .filter((t) => t.deviceId !== this.deps.deviceId);
    const targets = applyWrapPolicy([...peers, ...selves], normalizeWrapPolicy((res as { e2ee_wrap_policy?: unknown }).e2ee_wrap_policy));
    this.bootstraps.set(to, { at: this.now(), targets });
    return targets;
  }

  /** Drops what we know of `to` (after a retryable V2 rejection or a membership change). */
  forget(to: string): void {
    this.bootstraps.delete(to);
  }

  async encryptTo(to: string, payload: Record<string, unknown>, messageId: string): Promise<Envelope> {
    const targets = await this.targetsFor(to);
    return encryptP2P({ aid: this.deps.aid, deviceId: this.deps.deviceId, ik: this.deps.ik }, targets, payload, { messageId, timestamp: this.now() });
  }

  // ---- groups ----

  /** Publishes this device's group SPK for `groupId` once (spec §7.3), so members can use 3DH. */
  ensureGroupPrekey(groupId: string): Promise<void> {
    return this.serial(async () => {
      const key = groupPrekeyKey(groupId);
      if (await this.deps.store.kv.get<string>(this.deps.aid, key)) return;
      const spkId = await this.storeNewSpk();
      const signed = await signPrekey(this.deps.ik, (await this.spk(spkId))!, this.now());
      await this.deps.rpc('group.v2.put_group_pk', putGroupPkParams(groupId, signed));
      await this.deps.store.kv.put(this.deps.aid, key, spkId);
    });
  }

  /** Every member device but this one (our other devices as self_sync), with the group's epoch. */
  private async groupKeys(groupId: string): Promise<GroupKeys> {
    const hit = this.groupBootstraps.get(groupId);
    if (hit && this.now() - hit.at < BOOTSTRAP_TTL_MS) return hit;
    const { aid: self, ik, deviceId } = this.deps;
    const res = await this.deps.rpc('group.v2.bootstrap', { group_id: groupId, group_aid: groupId, e2ee_wrap_capabilities: E2EE_WRAP_CAPABILITIES });
    const aids = [...new Set((res.devices ?? []).map((d) => d.aid).filter((a) => a && a !== self))];
    const iks = new Map<string, Uint8Array>([[self, ik.publicSpki]]);
    await Promise.all(aids.map(async (a) => iks.set(a, await this.deps.peerIk(a, res.certs?.[a]?.cert_pem))));
    const built = await buildTargets(res.devices ?? [], { role: 'member', trustedIk: (a) => iks.get(a), strictIk: true });
    const targets = applyWrapPolicy(
      built.filter((t) => !(t.aid === self && t.deviceId === deviceId)).map((t) => (t.aid === self ? { ...t, role: 'self_sync' as const } : t)),
      normalizeWrapPolicy((res as { e2ee_wrap_policy?: unknown }).e2ee_wrap_policy),
    );
    const keys: GroupKeys = { at: this.now(), targets, epoch: res.epoch, stateCommitment: stateCommitmentFromBootstrap(res as unknown as Record<string, unknown>) };
    this.groupBootstraps.set(groupId, keys);
    return keys;
  }

  /** Drops a group's cached keys (membership changed, or the gateway said the epoch moved). */
  forgetGroup(groupId: string): void {
    this.groupBootstraps.delete(groupId);
  }

  async encryptToGroup(groupId: string, payload: Record<string, unknown>, messageId: string): Promise<Envelope> {
    const keys = await this.groupKeys(groupId);
    if (keys.targets.length === 0) throw new E2eeError('recipient_missing', `group ${groupId} has no other member device to encrypt to`);
    return encryptGroup({ aid: this.deps.aid, deviceId: this.deps.deviceId, ik: this.deps.ik }, keys.targets, payload,
      { groupId, epoch: keys.epoch, stateCommitment: keys.stateCommitment }, { messageId, timestamp: this.now() });
  }

  /** Opens a V2 group row; the envelope must be bound to this group (a [GAP] check of §6.3). */
  decryptGroup(row: GroupRow): Promise<Decrypted> {
    return this.open(row.envelope_json, row.from_aid, { expectedGroupId: row.group_id, ...this.replayCheck(row.t_server) });
  }

  private replayCheck(tServer: number): DecryptChecks {
    return Number.isFinite(tServer) && tServer > 0 ? { replayWindowMs: REPLAY_WINDOW_MS, now: tServer } : {};
  }

  // ---- receiving ----

  /** Opens a V2 inbox row; throws E2eeError (with its reason) when it cannot or must not be read. */
  async decrypt(row: InboxRow): Promise<Decrypted> {
    const binding = row.from_aid === this.deps.aid ? {} : { expectedTo: this.deps.aid };
    const result = await this.open(row.envelope_json, row.from_aid, { ...binding, ...this.replayCheck(row.t_server) });
    await this.rotateIfConsumed(result.row[5]);
    return result;
  }

  /**
   * Opens a thought (spec groups-and-more §5): heads are read again and again, so no replay window
   * and no dedup; a P2P thought must be addressed to this AID, a group one bound to its group.
   */
  async decryptThought(envelope: unknown, from: string, groupId?: string): Promise<Decrypted> {
    const { aid: self, deviceId, ik } = this.deps;
    const senderIkSpki = from === self ? ik.publicSpki : await this.deps.peerIk(from);
    const binding: DecryptChecks = groupId ? { expectedGroupId: groupId } : from === self ? {} : { expectedTo: self };
    return decryptEnvelope(envelope, { selfAid: self, selfDeviceId: deviceId, ik, spk: (spkId) => this.spk(spkId), senderIkSpki }, {
      ...binding, expectedFrom: from, isSeen: () => false,
    });
  }

  private async open(envelopeJson: string | undefined, from: string, binding: DecryptChecks): Promise<Decrypted> {
    let envelope: unknown;
    try {
      envelope = JSON.parse(envelopeJson ?? '');
    } catch {
      throw new E2eeError('malformed', 'envelope_json is not JSON');
    }
    const { aid: self, deviceId, ik } = this.deps;
    const senderIkSpki = from === self ? ik.publicSpki : await this.deps.peerIk(from);
    const result = await decryptEnvelope(envelope, { selfAid: self, selfDeviceId: deviceId, ik, spk: (spkId) => this.spk(spkId), senderIkSpki }, {
      ...binding,
      expectedFrom: from,
      isSeen: (key) => this.seen.has(key),
    });
    this.remember(dedupeKey(result.aad));
    return result;
  }

  /**
   * Releases a message id that a decrypt marked as seen, when the message was not committed (the
   * log refused the write): the row is pulled again, and it must not then be dropped as a replay.
   */
  unsee(key: string): void {
    this.seen.delete(key);
  }

  private remember(key: string): void {
    this.seen.add(key);
    if (this.seen.size > SEEN_WINDOW) this.seen.delete(this.seen.values().next().value!);
  }

  /**
   * A message that used the current SPK consumed it: rotate (spec §7.5). Best effort: the message
   * is open whatever happens here, and a failed read tries again at the next message.
   */
  private async rotateIfConsumed(spkId: string | undefined): Promise<void> {
    if (!spkId) return;
    try {
      this.currentSpk ??= (await this.deps.store.kv.get<PrekeyState>(this.deps.aid, PREKEY_STATE))?.current;
    } catch (err) {
      this.deps.log?.(`prekey state unreadable, rotation left for a later message: ${(err as Error).message}`);
      return;
    }
    if (this.currentSpk === spkId) void this.rotatePrekey(spkId).catch((e: unknown) => this.deps.log?.(`prekey rotation failed: ${(e as Error).message}`));
  }
}
