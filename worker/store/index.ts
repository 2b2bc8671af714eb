// The worker's IndexedDB keystore. See schema.ts for the layout and migrations, wrapping.ts for
// how private keys are kept at rest.

export type { IdentityRecord, KeyPairHandles, LogEntry, LogInput, OutboxItem, Store, TokenRecord } from './types.ts';
export { openStore, type OpenStoreOptions } from './store.ts';
export { StoreBlockedError, StoreCorruptError, StoreError } from './errors.ts';
export { DB_VERSION } from './schema.ts';
