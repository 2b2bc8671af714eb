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

/** One event of an AID's local log. `lsn` counts 1, 2, 3… per AID and never goes back while the AID exists. */
export interface LogEntry {
  lsn: number;
  /** Dedup key, unique per AID, e.g. "p2p:<message_id>". */
  key: string;
  kind: string;
  /** Structured-cloned as given; the store does not look inside. */
  data: unknown;
  /** ms since the epoch, when the entry was committed */
  at: number;
}

export interface LogInput {
  key: string;
  kind: string;
  data: unknown;
}

/** A send the gateway has not acknowledged yet. `body` is structured-cloned, not checked. */
export interface OutboxItem {
  /** The message_id. */
  id: string;
  kind: string;
  body: unknown;
  createdAt: number;
  attempts: number;
  /** The order the sends were made in (worker/delivery/outbox.ts); absent on rows stored before it existed. */
  seq?: number;
}

export interface Store {
  /** The IndexedDB database name. */
  readonly name: string;
  /** Random, created on the first open of this database, then stable; matches ^[A-Za-z0-9._-]{1,128}$. */
  deviceId(): Promise<string>;
  /**
   * Resolves once what earlier transactions wrote is on disk, not only handed to the OS: one
   * small transaction with durability 'strict' (the default is 'relaxed' in Chromium 121+, Firefox
   * and Safari), whose flush takes the database's earlier writes with it. For a step that cannot be
   * taken back, such as acking rows to the gateway, which then serves them no more.
   */
  sync(): Promise<void>;
  identities: {
    list(): Promise<IdentityRecord[]>;
    get(aid: string): Promise<IdentityRecord | undefined>;
    put(rec: IdentityRecord): Promise<void>;
    /** Also removes the AID's keys, tokens, cursors, kv, log and outbox rows, in one transaction. */
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
  /** Small per-AID state (SPK metadata, trust roots); values are structured-cloned, not checked. */
  kv: {
    get<T>(aid: string, key: string): Promise<T | undefined>;
    put(aid: string, key: string, value: unknown): Promise<void>;
    delete(aid: string, key: string): Promise<void>;
  };
  /** The bounded local event log of each AID: what the worker handed (or will hand) to tabs. */
  log: {
    /**
     * One readwrite transaction over `log` and `cursors`: sets cursors(aid, ns) = seq for each
     * given cursor (one, several for a batch, or none); appends each input whose key is not in the log yet
     * (nor earlier in `inputs`) with lsn = last + 1, + 2, …; returns, per input, the stored entry
     * or null for a duplicate, which takes no lsn. All or nothing: on any error nothing is written.
     */
    commit(aid: string, cursor: { ns: string; seq: number } | { ns: string; seq: number }[] | null, inputs: LogInput[]): Promise<(LogEntry | null)[]>;
    /** Entries with lsn > afterLsn, ascending, at most `limit` (a positive integer). */
    since(aid: string, afterLsn: number, limit: number): Promise<LogEntry[]>;
    /** The highest lsn of the AID, 0 when its log is empty. */
    last(aid: string): Promise<number>;
    /**
     * Replaces the data of the entry with this key by `patch(data)`, keeping its lsn and key (a
     * recalled message loses its plaintext); resolves with that lsn, or null when no entry has the key.
     */
    redact(aid: string, key: string, patch: (data: unknown) => unknown): Promise<number | null>;
    /**
     * Deletes the oldest entries so that at most `keep` remain; returns how many it deleted.
     * `keep` must be at least 1: the newest entry is what carries the lsn sequence on.
     */
    prune(aid: string, keep: number): Promise<number>;
  };
  /** Sends not yet acknowledged by the gateway. */
  outbox: {
    /** Inserts or overwrites the item with the same id (e.g. to count an attempt). */
    put(aid: string, item: OutboxItem): Promise<void>;
    /** Oldest first: rows without a seq by createdAt then id, then the rest by seq. */
    list(aid: string): Promise<OutboxItem[]>;
    /** No-op when absent. */
    remove(aid: string, id: string): Promise<void>;
  };
  /** Idempotent. Later calls on this Store reject with StoreError. */
  close(): void;
}
