// Typed keystore failures. Every message names the database, the operation or the record, and
// says what the caller can do about it; `data` carries the same facts for code to branch on.

import { AunError } from '../../protocol/errors.ts';

/** A keystore operation failed: bad input from the caller, a closed store, a storage error. */
export class StoreError extends AunError {
  override name = 'StoreError';
}

/**
 * Another tab or worker keeps an older version of the database open and did not close it when
 * asked, so the upgrade cannot run. Retryable once the other pages of the app are closed.
 */
export class StoreBlockedError extends StoreError {
  override name = 'StoreBlockedError';
}

/** A stored record failed validation or authentication; `data.store` and `data.key` name it. */
export class StoreCorruptError extends StoreError {
  override name = 'StoreCorruptError';
}

/** `store["a","b"]`: how messages name one record. */
export function recordName(store: string, ...key: string[]): string {
  return `${store}[${key.map((k) => JSON.stringify(k)).join(',')}]`;
}

export function corrupt(store: string, key: string[], why: string, cause?: unknown): StoreCorruptError {
  const err = new StoreCorruptError(`${recordName(store, ...key)} is corrupt: ${why}`, undefined, { store, key });
  if (cause !== undefined) err.cause = cause;
  return err;
}
