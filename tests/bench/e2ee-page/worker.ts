// The E2EE bench, inside a SharedWorker like the real owner: worker/e2ee's encryptP2P,
// encryptGroup and decryptEnvelope on a 1 KB payload, and, in the same worker, the bare WebCrypto
// calls those operations make. Keys are held as worker/runtime.ts holds the IK: non-extractable
// WebCrypto handles and no scalar (so signatures use WebCrypto, not RFC 6979 in JS).

import * as Comlink from 'comlink';
import {
  canonicalJson,
  decryptEnvelope,
  encryptGroup,
  encryptP2P,
  fromBase64,
  generatePrivateKey,
  privateKeyFromScalar,
  spkIdOf,
  type DecryptKeys,
  type Envelope,
  type P256PrivateKey,
  type Sender,
  type Target,
} from '../../../worker/e2ee/index.ts';
import type { BenchInfo, E2eeBenchApi, Primitive, Rate, Scenario, ScenarioResult, Timing } from './api.ts';

const PAYLOAD_BYTES = 1024;
const subtle = crypto.subtle;

/** A `{type, text}` message whose canonical JSON is exactly PAYLOAD_BYTES long. */
function makePayload(): Record<string, unknown> {
  const empty = canonicalJson({ text: '', type: 'text' }).length;
  const words = 'the quick brown fox jumps over the lazy dog ';
  const text = words.repeat(Math.ceil(PAYLOAD_BYTES / words.length)).slice(0, PAYLOAD_BYTES - empty);
  const payload = { type: 'text', text };
  if (canonicalJson(payload).length !== PAYLOAD_BYTES) throw new Error('payload is not 1 KB');
  return payload;
}

/** A key as the worker holds it after unwrapping from the keystore: handles only. */
async function workerKey(): Promise<P256PrivateKey> {
  const { publicSpki, ecdh, ecdsa } = await generatePrivateKey();
  return { publicSpki, ecdh, ecdsa };
}

/** The pure-@noble path: the scalar only, so ECDH and signing run in JS (verification and AES stay WebCrypto). */
async function nobleKey(): Promise<P256PrivateKey> {
  const { scalar } = await generatePrivateKey();
  return privateKeyFromScalar(scalar!);
}

type KeyMaker = () => Promise<P256PrivateKey>;

/** Sequential calls for `warmupMs`, then counted for at least `ms`. */
async function rate(fn: () => Promise<unknown>, t: Timing): Promise<Rate> {
  let start = performance.now();
  while (performance.now() - start < t.warmupMs) await fn();
  let ops = 0;
  let now: number;
  start = performance.now();
  do {
    await fn();
    ops++;
    now = performance.now();
  } while (now - start < t.ms);
  return { ops, ms: now - start, perSec: (ops * 1000) / (now - start) };
}

interface Built {
  targets: Target[];
  encrypt(): Promise<Envelope>;
  reader: DecryptKeys;
}

interface Fixture {
  payload: Record<string, unknown>;
  scenarios: Record<Scenario, Built>;
}

const SENDER_AID = 'alice.bench.aid';
const GROUP_ID = 'grp-bench.bench.aid';

async function spkTarget(newKey: KeyMaker, aid: string, deviceId: string, ik: P256PrivateKey, keySource: 'peer_device_prekey' | 'group_device_prekey'): Promise<{ target: Target; spk: P256PrivateKey }> {
  const spk = await newKey();
  return { spk, target: { aid, deviceId, ikSpki: ik.publicSpki, keySource, spkId: spkIdOf(spk.publicSpki), spkSpki: spk.publicSpki } };
}

async function buildFixture(newKey: KeyMaker): Promise<Fixture> {
  const payload = makePayload();
  const alice = await newKey();
  const sender: Sender = { aid: SENDER_AID, deviceId: 'alice-d1', ik: alice };
  const reader = (aid: string, deviceId: string, ik: P256PrivateKey, spk?: P256PrivateKey): DecryptKeys => ({
    selfAid: aid, selfDeviceId: deviceId, ik, senderIkSpki: alice.publicSpki, ...(spk ? { spk } : {}),
  });
  const p2p = (targets: Target[], keys: DecryptKeys): Built => ({ targets, reader: keys, encrypt: () => encryptP2P(sender, targets, payload) });

  const bob = await newKey();
  const bobAid = 'bob.bench.aid';
  const oneDh: Target = { aid: bobAid, deviceId: 'bob-d1', ikSpki: bob.publicSpki };
  const threeDh = await spkTarget(newKey, bobAid, 'bob-d1', bob, 'peer_device_prekey');
  // One AID, three devices: they share the AID's IK and each has its own SPK.
  const devices = await Promise.all(['bob-d1', 'bob-d2', 'bob-d3'].map((d) => spkTarget(newKey, bobAid, d, bob, 'peer_device_prekey')));
  const members = await Promise.all(
    Array.from({ length: 10 }, async (_, i) => {
      const ik = await newKey();
      return { ik, ...(await spkTarget(newKey, `m${i}.bench.aid`, `m${i}-d1`, ik, 'group_device_prekey')) };
    }),
  );
  const me = members[3]!;
  const groupTargets = members.map((m) => m.target);
  const stateCommitment = { state_version: 7, state_hash: 'ab'.repeat(32), state_chain: 'cd'.repeat(32) };
  return {
    payload,
    scenarios: {
      'p2p-1dh': p2p([oneDh], reader(bobAid, 'bob-d1', bob)),
      'p2p-3dh': p2p([threeDh.target], reader(bobAid, 'bob-d1', bob, threeDh.spk)),
      'p2p-3dev': p2p(devices.map((d) => d.target), reader(bobAid, 'bob-d2', bob, devices[1]!.spk)),
      'group-10': {
        targets: groupTargets,
        reader: reader(me.target.aid, me.target.deviceId, me.ik, me.spk),
        encrypt: () => encryptGroup(sender, groupTargets, payload, { groupId: GROUP_ID, epoch: 3, stateCommitment }),
      },
    },
  };
}

let fixture: Promise<Fixture> | undefined;
let nobleFixture: Promise<Fixture> | undefined;
const getFixture = () => (fixture ??= buildFixture(workerKey));
const getNobleFixture = () => (nobleFixture ??= buildFixture(nobleKey));

// ---- which WebCrypto calls an operation makes: counted, not assumed ----

type SubtleMethod = 'deriveBits' | 'generateKey' | 'exportKey' | 'sign' | 'verify' | 'encrypt' | 'decrypt' | 'importKey';
const COUNTED: SubtleMethod[] = ['deriveBits', 'generateKey', 'exportKey', 'sign', 'verify', 'encrypt', 'decrypt', 'importKey'];

function algorithmName(a: unknown): string {
  return typeof a === 'string' ? a : String((a as { name?: string } | undefined)?.name ?? '');
}

function classify(method: SubtleMethod, args: unknown[]): Primitive | null {
  const bytes = (x: unknown) => (x as ArrayBufferView | ArrayBuffer).byteLength;
  switch (method) {
    case 'deriveBits': return 'ecdhDerive';
    case 'generateKey': return algorithmName(args[0]) === 'ECDH' ? 'ecdhKeygen' : null;
    case 'exportKey': return null; // the ephemeral key's SPKI, part of ecdhKeygen
    case 'sign': return 'ecdsaSign';
    case 'verify': return 'ecdsaVerify';
    case 'encrypt': return bytes(args[2]) > 64 ? 'aesEncrypt1k' : 'aesWrap';
    case 'decrypt': return bytes(args[2]) > 64 ? 'aesDecrypt1k' : 'aesUnwrap';
    case 'importKey': {
      if (args[0] === 'raw') return 'importAesRaw';
      return algorithmName(args[2]) === 'ECDSA' ? 'importEcdsaSpki' : 'importEcdhSpki';
    }
  }
}

type Counts = Partial<Record<Primitive, number>>;

function sameBytes(a: unknown, b: Uint8Array | undefined): boolean {
  if (!b || !(ArrayBuffer.isView(a) || a instanceof ArrayBuffer)) return false;
  const x = ArrayBuffer.isView(a) ? new Uint8Array(a.buffer, a.byteOffset, a.byteLength) : new Uint8Array(a);
  return x.length === b.length && x.every((v, i) => v === b[i]);
}

/**
 * Runs `fn` once with crypto.subtle instrumented and returns how often each primitive was called:
 * in `uses` what the operation must call, in `avoidable` the SPKI imports of any key but the
 * message's own ephemeral key `ephSpki` (peer keys, which a cache would keep).
 */
async function countCalls(fn: () => Promise<unknown>, ephSpki?: Uint8Array): Promise<{ uses: Counts; avoidable: Counts }> {
  const uses: Counts = {};
  const avoidable: Counts = {};
  const unknown: string[] = [];
  const target = subtle as unknown as Record<SubtleMethod, (...a: unknown[]) => Promise<unknown>>;
  for (const m of COUNTED) {
    const original = SubtleCrypto.prototype[m] as (...a: unknown[]) => Promise<unknown>;
    target[m] = function (this: SubtleCrypto, ...args: unknown[]) {
      const p = classify(m, args);
      const into = m === 'importKey' && args[0] === 'spki' && !sameBytes(args[1], ephSpki) ? avoidable : uses;
      if (p) into[p] = (into[p] ?? 0) + 1;
      else if (m !== 'exportKey') unknown.push(`${m}(${algorithmName(args[0])})`);
      return original.apply(this, args);
    };
  }
  try {
    await fn();
  } finally {
    for (const m of COUNTED) delete (target as Partial<typeof target>)[m];
  }
  if (unknown.length) throw new Error(`uncounted WebCrypto calls: ${unknown.join(', ')}`);
  return { uses, avoidable };
}

async function nobleRates(s: Scenario, t: Timing): Promise<{ nobleEncrypt: Rate; nobleDecrypt: Rate }> {
  const f = await getNobleFixture();
  const built = f.scenarios[s];
  const sample = await built.encrypt();
  const got = await decryptEnvelope(sample, built.reader);
  if ((got.payload as { text?: string }).text !== f.payload.text) throw new Error(`${s}: the @noble path decrypted another payload`);
  if (built.reader.ik.ecdh || built.reader.ik.ecdsa) throw new Error(`${s}: the @noble fixture holds WebCrypto handles`);
  return { nobleEncrypt: await rate(() => built.encrypt(), t), nobleDecrypt: await rate(() => decryptEnvelope(sample, built.reader), t) };
}

// ---- the API ----

const ECDH = { name: 'ECDH', namedCurve: 'P-256' } as const;
const ECDSA = { name: 'ECDSA', namedCurve: 'P-256' } as const;
const random = (n: number) => crypto.getRandomValues(new Uint8Array(n));

/** Each WebCrypto primitive on inputs of a real message's sizes, keys imported beforehand. */
async function buildPrimitiveCalls(): Promise<Record<Primitive, () => Promise<unknown>>> {
  const f = await getFixture();
  // Inputs of the sizes a real message has: the 1 KB body under its real AAD, the 32-byte
  // master key, and the sign input ct ‖ tag ‖ canonical(aad) ‖ digest.
  const env = await f.scenarios['p2p-3dh'].encrypt();
  // WebCrypto's types want ArrayBuffer-backed views; these are.
  const aad = canonicalJson(env.aad) as Uint8Array<ArrayBuffer>;
  const body = canonicalJson(f.payload) as Uint8Array<ArrayBuffer>;
  const signInput = random(body.length + 16 + aad.length + 32);
  const mine = await subtle.generateKey(ECDH, false, ['deriveBits']);
  const peer = await subtle.generateKey(ECDH, true, ['deriveBits']);
  const peerSpki = await subtle.exportKey('spki', peer.publicKey);
  const signer = await subtle.generateKey(ECDSA, false, ['sign', 'verify']);
  const signature = await subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, signer.privateKey, signInput);
  const aesRaw = random(32);
  const aes = await subtle.importKey('raw', aesRaw, 'AES-GCM', false, ['encrypt', 'decrypt']);
  const iv = random(12);
  const gcm = { name: 'AES-GCM', iv, additionalData: aad, tagLength: 128 };
  const gcmWrap = { name: 'AES-GCM', iv, additionalData: new Uint8Array(0), tagLength: 128 };
  const sealed = await subtle.encrypt(gcm, aes, body);
  const wrapped = await subtle.encrypt(gcmWrap, aes, random(32));
  return {
    ecdhDerive: () => subtle.deriveBits({ name: 'ECDH', public: peer.publicKey }, mine.privateKey, 256),
    ecdhKeygen: async () => subtle.exportKey('spki', (await subtle.generateKey(ECDH, false, ['deriveBits'])).publicKey),
    ecdsaSign: () => subtle.sign({ name: 'ECDSA', hash: 'SHA-256' }, signer.privateKey, signInput),
    ecdsaVerify: () => subtle.verify({ name: 'ECDSA', hash: 'SHA-256' }, signer.publicKey, signature, signInput),
    aesEncrypt1k: () => subtle.encrypt(gcm, aes, body),
    aesDecrypt1k: () => subtle.decrypt(gcm, aes, sealed),
    aesWrap: () => subtle.encrypt(gcmWrap, aes, aesRaw),
    aesUnwrap: () => subtle.decrypt(gcmWrap, aes, wrapped),
    importEcdhSpki: () => subtle.importKey('spki', peerSpki, ECDH, false, []),
    importEcdsaSpki: () => subtle.importKey('spki', peerSpki, ECDSA, false, ['verify']),
    importAesRaw: () => subtle.importKey('raw', aesRaw, 'AES-GCM', false, ['encrypt']),
  };
}

let primitiveCalls: Promise<Record<Primitive, () => Promise<unknown>>> | undefined;
const getPrimitiveCalls = () => (primitiveCalls ??= buildPrimitiveCalls());

/** One "floor operation": the calls an operation must make, each awaited in turn, and nothing else. */
function floorOp(calls: Record<Primitive, () => Promise<unknown>>, uses: Counts): () => Promise<void> {
  const list = (Object.entries(uses) as [Primitive, number][]).flatMap(([p, n]) => Array.from({ length: n }, () => calls[p]));
  return async () => {
    for (const call of list) await call();
  };
}

/** Sequential calls of `fn` for at least `ms`. */
async function runFor(fn: () => Promise<unknown>, ms: number): Promise<{ ops: number; ms: number }> {
  const start = performance.now();
  let ops = 0;
  let now: number;
  do {
    await fn();
    ops++;
    now = performance.now();
  } while (now - start < ms);
  return { ops, ms: now - start };
}

const SLICE_MS = 100;

/** The median slice's rate, with the ops and time of all slices. */
function medianRate(slices: { ops: number; ms: number }[]): Rate {
  const rates = slices.map((x) => (x.ops * 1000) / x.ms).sort((p, q) => p - q);
  const mid = rates.length >> 1;
  const perSec = rates.length % 2 ? rates[mid]! : (rates[mid - 1]! + rates[mid]!) / 2;
  return { ops: slices.reduce((n, x) => n + x.ops, 0), ms: slices.reduce((n, x) => n + x.ms, 0), perSec };
}

/**
 * `op` and `floor` in alternating slices of SLICE_MS until each ran `t.ms`, after a warm-up of
 * both: on a shared machine both then see the same load, which two passes minutes apart do not.
 * Each side's rate is its median slice's, so a burst of load in a few slices moves neither.
 */
async function interleaved(op: () => Promise<unknown>, floor: () => Promise<unknown>, t: Timing): Promise<{ op: Rate; floor: Rate }> {
  await runFor(op, t.warmupMs / 2);
  await runFor(floor, t.warmupMs / 2);
  const a: { ops: number; ms: number }[] = [];
  const b: { ops: number; ms: number }[] = [];
  for (let ms = 0; ms < t.ms; ms += SLICE_MS) {
    a.push(await runFor(op, SLICE_MS));
    b.push(await runFor(floor, SLICE_MS));
  }
  return { op: medianRate(a), floor: medianRate(b) };
}


const api: E2eeBenchApi = {
  async info(): Promise<BenchInfo> {
    const f = await getFixture();
    const reader = f.scenarios['p2p-1dh'].reader;
    return {
      scope: self.constructor.name,
      userAgent: navigator.userAgent,
      payloadBytes: canonicalJson(f.payload).length,
      keysWithoutScalar: reader.ik.scalar === undefined && reader.ik.ecdh !== undefined,
    };
  },

  async primitives(t: Timing): Promise<Record<Primitive, Rate>> {
    const calls = await getPrimitiveCalls();
    const out = {} as Record<Primitive, Rate>;
    for (const [name, call] of Object.entries(calls) as [Primitive, () => Promise<unknown>][]) out[name] = await rate(call, t);
    return out;
  },

  async scenario(s: Scenario, t: Timing): Promise<ScenarioResult> {
    const f = await getFixture();
    const built = f.scenarios[s];
    const sample = await built.encrypt();
    const got = await decryptEnvelope(sample, built.reader);
    if (canonicalJson(got.payload).length !== PAYLOAD_BYTES || (got.payload as { text?: string }).text !== f.payload.text) {
      throw new Error(`${s}: the decrypted payload differs from the one sent`);
    }
    const encrypt = await countCalls(() => built.encrypt());
    const decrypt = await countCalls(() => decryptEnvelope(sample, built.reader), fromBase64(sample.sender_session_pk));
    const calls = await getPrimitiveCalls();
    const interleavedRates = async () => {
      const e = await interleaved(() => built.encrypt(), floorOp(calls, encrypt.uses), t);
      const d = await interleaved(() => decryptEnvelope(sample, built.reader), floorOp(calls, decrypt.uses), t);
      return { encrypt: e.op, floorEncrypt: e.floor, decrypt: d.op, floorDecrypt: d.floor };
    };
    return {
      scenario: s,
      wrapProtocol: String(sample.aad.wrap_protocol),
      devices: built.targets.length,
      envelopeBytes: JSON.stringify(sample).length,
      ...(await interleavedRates()),
      ...(await nobleRates(s, t)),
      uses: { encrypt: encrypt.uses, decrypt: decrypt.uses },
      avoidable: { encrypt: encrypt.avoidable, decrypt: decrypt.avoidable },
    };
  },
};

(self as unknown as SharedWorkerGlobalScope).onconnect = (ev: MessageEvent) => Comlink.expose(api, ev.ports[0]!);
