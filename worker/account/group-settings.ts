// Writing group settings (spec groups-and-more §3.13): indexed keys go with a `group.index` this
// AID signs, merged over the current one and sent with its etag (compare and swap); a lost race
// reads the index again and retries, and a second loss surfaces as VersionConflictError.

import { toBase64, utf8 } from '../../protocol/bytes.ts';
import { canonicalJsonText } from '../../protocol/canonical.ts';
import { VersionConflictError, ValidationError } from '../../protocol/errors.ts';
import type { MethodName, ParamsOf, ResultOf } from '../../protocol/methods.ts';
import { sha256Hex, signDer } from '../auth/sign.ts';

export const INDEX_KEY = 'group.index';
const SCHEMA = 'aun.group.index.v1';
const ATTEMPTS = 2;
const PLAIN: ReadonlySet<string> = new Set(['name', 'description', 'visibility', 'dispatch_mode']);

export interface GroupSettingsDeps {
  aid: string;
  ecdsa: CryptoKey;
  rpc<M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>>;
  now?(): number;
}

interface Entry { etag: string; key: string; last_modified: number; source: string }

/** Entries of an index body (every line after the meta line). */
function entriesOf(body: unknown): Entry[] {
  if (typeof body !== 'string') return [];
  return body.split('\n').slice(1).filter((l) => l !== '').map((l) => JSON.parse(l) as Entry);
}

/** The signed index over `entries` (sorted by key), as the browser SDK sends it: {body, meta, entries}. */
export async function signGroupIndex(signer: { aid: string; ecdsa: CryptoKey }, groupAid: string, entries: Entry[], now: number) {
  const sorted = [...entries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const entryText = sorted.map((e) => canonicalJsonText(e) + '\n').join('');
  const hex = await sha256Hex(utf8(entryText));
  const meta: Record<string, unknown> = {
    type: 'index_meta', group_aid: groupAid, etag: `"sha256:${hex}"`, last_modified: now, schema: SCHEMA,
    body_hash: `sha256:${hex}`, signed_by: signer.aid, sig_alg: 'ECDSA-P256-SHA256',
  };
  meta.signature = toBase64(await signDer(signer.ecdsa, utf8(canonicalJsonText(meta) + '\n' + entryText)));
  return { body: canonicalJsonText(meta) + '\n' + entryText, meta, entries: sorted };
}

/** Writes `settings`; returns the keys the gateway reports as updated. */
export async function setGroupSettings(deps: GroupSettingsDeps, groupId: string, settings: Record<string, unknown>): Promise<string[]> {
  if (typeof settings !== 'object' || settings === null || Array.isArray(settings) || Object.keys(settings).length === 0) {
    throw new ValidationError('settings must be an object with at least one key');
  }
  if (INDEX_KEY in settings) throw new ValidationError(`${INDEX_KEY} is built and signed by the runtime; pass the settings themselves`);
  const indexed = Object.keys(settings).filter((k) => !PLAIN.has(k));
  const ref = { group_id: groupId, group_aid: groupId };
  if (indexed.length === 0) return (await deps.rpc('group.set_settings', { ...ref, settings })).updated_keys;
  for (let attempt = 1; ; attempt++) {
    const read = await deps.rpc('group.get_settings', { ...ref, keys: [INDEX_KEY] });
    const current = read.settings.find((s) => s.key === INDEX_KEY)?.value as { body?: unknown } | null | undefined;
    const now = deps.now?.() ?? Date.now();
    const kept = entriesOf(current?.body).filter((e) => !indexed.includes(e.key));
    const fresh = await Promise.all(indexed.map(async (key): Promise<Entry> => ({
      etag: `"sha256:${await sha256Hex(utf8(canonicalJsonText(settings[key])))}"`, key, last_modified: now, source: 'db',
    })));
    const index = await signGroupIndex(deps, groupId, [...kept, ...fresh], now);
    const expected = current?.body ? String((JSON.parse(String(current.body).split('\n')[0]!) as { etag?: unknown }).etag ?? '') : '';
    try {
      return (await deps.rpc('group.set_settings', { ...ref, settings: { ...settings, [INDEX_KEY]: index }, expected_index_etag: expected })).updated_keys;
    } catch (err) {
      if (!(err instanceof VersionConflictError) || attempt >= ATTEMPTS) throw err;
    }
  }
}
