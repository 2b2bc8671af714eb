// What the E2EE bench page exposes on `globalThis.e2eeBench` for the Node driver
// (tests/bench/e2ee.ts). Every figure is timed inside the SharedWorker, with performance.now().

/** The WebCrypto calls the E2EE operations make, each timed alone on pre-imported keys. */
export const PRIMITIVES = {
  ecdhDerive: 'ECDH P-256 deriveBits',
  ecdhKeygen: 'ECDH P-256 generateKey + export SPKI',
  ecdsaSign: 'ECDSA P-256 sign',
  ecdsaVerify: 'ECDSA P-256 verify',
  aesEncrypt1k: 'AES-GCM-256 encrypt 1 KB',
  aesDecrypt1k: 'AES-GCM-256 decrypt 1 KB',
  aesWrap: 'AES-GCM-256 encrypt 32 B',
  aesUnwrap: 'AES-GCM-256 decrypt 32 B',
  // Key imports. A fresh AES key (the master key, each wrap key) and, on decrypt, the message's
  // ephemeral key must be imported once per message: part of the floor. Peer identity keys and
  // prekeys come back with every message and can be cached: imports of those are counted apart.
  importEcdhSpki: 'importKey SPKI (ECDH)',
  importEcdsaSpki: 'importKey SPKI (ECDSA)',
  importAesRaw: 'importKey raw (AES-GCM)',
} as const;

export type Primitive = keyof typeof PRIMITIVES;

export interface Rate {
  ops: number;
  ms: number;
  perSec: number;
}

export interface Timing {
  warmupMs: number;
  ms: number;
}

export type Scenario = 'p2p-1dh' | 'p2p-3dh' | 'p2p-3dev' | 'group-10';

export interface ScenarioResult {
  scenario: Scenario;
  /** How the recipients are wrapped, as the envelope's `aad.wrap_protocol` says. */
  wrapProtocol: string;
  devices: number;
  envelopeBytes: number;
  /** Each operation alternates, in slices of 100 ms, with its floor (its WebCrypto calls alone): median slice rates. */
  encrypt: Rate;
  floorEncrypt: Rate;
  decrypt: Rate;
  floorDecrypt: Rate;
  /** The same operations with scalar-only keys: ECDH and signing in @noble, no WebCrypto EC handles. */
  nobleEncrypt: Rate;
  nobleDecrypt: Rate;
  /** How many times one encrypt / one decrypt calls each WebCrypto primitive the operation must make. */
  uses: { encrypt: Partial<Record<Primitive, number>>; decrypt: Partial<Record<Primitive, number>> };
  /** Imports of keys that outlive the message (peer IKs, SPKs): a cache would avoid them. */
  avoidable: { encrypt: Partial<Record<Primitive, number>>; decrypt: Partial<Record<Primitive, number>> };
}

export interface BenchInfo {
  scope: string;
  userAgent: string;
  /** Canonical JSON bytes of the payload every scenario encrypts. */
  payloadBytes: number;
  /** The key objects hold WebCrypto handles only (no scalar), as worker/runtime.ts holds the IK. */
  keysWithoutScalar: boolean;
}

export interface E2eeBenchApi {
  info(): Promise<BenchInfo>;
  primitives(t: Timing): Promise<Record<Primitive, Rate>>;
  scenario(s: Scenario, t: Timing): Promise<ScenarioResult>;
}
