// The reference tab (ref.html): what tests/bench/ladder.ts passes it and reads back.

/** JSON in the URL fragment, so the page needs no round trip to get it. */
export interface RefTabParams {
  /** ws://…/ws of the gateway. */
  gateway: string;
  aid: string;
  /** The AID's certificate (PEM), as an SDK keeps it next to the key. */
  cert: string;
  /** The AID's P-256 private key, PKCS#8 DER in base64 (an SDK loads it from its keystore). */
  pkcs8: string;
  /** One per tab, as the reference SDK opens one long connection per tab. */
  deviceId: string;
}

export interface RefRecovery {
  /** Date.now() when the page saw its long connection close. */
  lostAt: number;
  /** Date.now() when the fresh login and the new long connection were up again. */
  readyAt: number;
}

/** `globalThis.ref` in the page. */
export interface RefTabRecord {
  /** Date.now() when the first login and long connection were up. */
  readyAt?: number;
  recoveries: RefRecovery[];
  error?: string;
}
