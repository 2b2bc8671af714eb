// The offline-push config the owner carries on every (re)connect (spec push.md §2): the last one
// the app set with push.update_config, sent again as top-level auth.connect params so that this
// browser's token wins over another device's (the gateway keeps one row per AID, last connect wins).

export interface OfflinePushConfig {
  push_notify_aid: string;
  push_token: string;
}

/** What a successful push.update_config call means for the config to carry: a config, null (cleared), or undefined (unchanged). */
export function pushConfigFromUpdate(params: unknown): OfflinePushConfig | null | undefined {
  if (typeof params !== 'object' || params === null) return undefined;
  const { push_notify_aid: aid, push_token: token } = params as Record<string, unknown>;
  if (typeof aid === 'string' && typeof token === 'string') return { push_notify_aid: aid, push_token: token };
  if ((aid === undefined || aid === null) && (token === undefined || token === null)) return null;
  return undefined;
}
