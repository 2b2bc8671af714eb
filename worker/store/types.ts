// The records the keystore hands out. Timestamps are milliseconds since the epoch.

export interface IdentityRecord {
  aid: string;
  certPem: string;
  gatewayUrl: string;
  createdAt: number;
  updatedAt: number;
}

export interface TokenRecord {
  accessToken: string;
  /** ms since the epoch */
  accessExpiresAt: number;
  refreshToken: string;
  obtainedAt: number;
}

/** Both private keys are non-extractable; `publicSpki` is the 91-byte P-256 SPKI DER. */
export interface KeyPairHandles {
  ecdsa: CryptoKey;
  ecdh: CryptoKey;
  publicSpki: Uint8Array;
}

export interface Store {
  /** The IndexedDB database name. */
  readonly name: string;
  /** Random, created on the first open of this database, then stable; matches ^[A-Za-z0-9._-]{1,128}$. */
  deviceId(): Promise<string>;
  identities: {
    list(): Promise<IdentityRecord[]>;
    get(aid: string): Promise<IdentityRecord | undefined>;
    put(rec: IdentityRecord): Promise<void>;
    /** Also removes the AID's keys, tokens, cursors and kv rows, in one transaction. */
    remove(aid: string): Promise<void>;
  };
  keys: {
    /** `keyId` such as 'ik', 'spk:<id>', 'gspk:<group>:<id>'; `pkcs8` is a P-256 private key. */
    put(aid: string, keyId: string, pkcs8: Uint8Array): Promise<void>;
    load(aid: string, keyId: string): Promise<KeyPairHandles | undefined>;
    list(aid: string): Promise<string[]>;
    remove(aid: string, keyId: string): Promise<void>;
  };
  tokens: {
    get(aid: string): Promise<TokenRecord | undefined>;
    put(aid: string, t: TokenRecord): Promise<void>;
    clear(aid: string): Promise<void>;
  };
  /** Dumb storage: a put overwrites whatever is there; the delivery layer decides what moves. */
  cursors: {
    /** 0 when nothing is stored for (aid, ns). */
    get(aid: string, ns: string): Promise<number>;
    put(aid: string, ns: string, seq: number): Promise<void>;
    all(aid: string): Promise<Record<string, number>>;
  };
  /** Small per-AID state (SPK metadata, outbox markers); values are structured-cloned, not checked. */
  kv: {
    get<T>(aid: string, key: string): Promise<T | undefined>;
    put(aid: string, key: string, value: unknown): Promise<void>;
    delete(aid: string, key: string): Promise<void>;
  };
  /** Idempotent. Later calls on this Store reject with StoreError. */
  close(): void;
}
