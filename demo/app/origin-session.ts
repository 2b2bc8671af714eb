// The demo follows the origin's session: which AID this origin is using (so a new or reloaded tab
// opens into it without ?aid), which conversation each tab had open, and the origin-wide news
// "this AID logged out" / "this identity was removed", told to every tab on a BroadcastChannel.

import type { AunClient } from '../../client-stub/index.ts';

const CURRENT = 'aun-demo:current';
const openKey = (aid: string) => `aun-demo:${aid}:open`;

export type OriginNews = { type: 'logout' | 'removed' | 'created'; aid: string };

const channel = typeof BroadcastChannel === 'function' ? new BroadcastChannel('aun-demo') : null;

/** Tells every other tab of the origin. */
export function announce(news: OriginNews): void {
  channel?.postMessage(news);
}

export function onNews(handler: (news: OriginNews) => void): void {
  channel?.addEventListener('message', (ev: MessageEvent<unknown>) => {
    const d = ev.data as Partial<OriginNews> | null;
    if (d && (d.type === 'logout' || d.type === 'removed' || d.type === 'created') && typeof d.aid === 'string') handler(d as OriginNews);
  });
}

export function rememberAid(aid: string): void {
  localStorage.setItem(CURRENT, aid);
}

/** After a logout or a removal: a new tab opens on the picker again. */
export function forgetCurrent(aid: string): void {
  if (localStorage.getItem(CURRENT) === aid) localStorage.removeItem(CURRENT);
}

/**
 * The AID a tab opened without ?aid logs in to: one with a live session in the owner (other tabs
 * use it), the remembered one first; else the remembered one if it still exists; else none.
 */
export async function followedAid(client: AunClient): Promise<string | null> {
  const remembered = localStorage.getItem(CURRENT);
  const [owner, identities] = await Promise.all([client.inspect(), client.identities.list()]);
  const live = owner.sessions.filter((s) => s.tabs > 0 && s.state !== 'closed').map((s) => s.aid);
  if (remembered && live.includes(remembered)) return remembered;
  if (live[0]) return live[0];
  return remembered && identities.some((i) => i.aid === remembered) ? remembered : null;
}

/** The conversation a tab has open: this tab's (kept over a reload), else the last one any tab opened. */
export function saveOpenConversation(aid: string, id: string | null): void {
  for (const store of [sessionStorage, localStorage]) {
    if (id) store.setItem(openKey(aid), id);
    else store.removeItem(openKey(aid));
  }
}

export function openConversationOf(aid: string): string | null {
  return sessionStorage.getItem(openKey(aid)) ?? localStorage.getItem(openKey(aid));
}
