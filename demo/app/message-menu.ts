// A message's menu: a small "⋯" button on one's own sent messages that opens a list of actions.
// For now the one action is Recall, offered while the gateway still accepts it (two minutes after
// sending); the recall itself reaches every tab of both identities as a recall event.

import type { ChatMessage } from './chats.ts';
import { el } from './dom.ts';

/** The gateway refuses a recall later than this after the message was sent (spec groups-and-more). */
export const RECALL_WINDOW_MS = 120_000;

/** Whether the menu offers Recall for `m` at `now`. */
export function recallable(m: ChatMessage, now = Date.now()): boolean {
  return m.mine && !m.system && !m.recalled && m.messageId !== null && m.delivery === 'sent' && now - m.at < RECALL_WINDOW_MS;
}

/** The menu of an own message; null when it has no action. Only one menu is open at a time. */
export function messageMenu(m: ChatMessage, recall: (messageId: string) => void): HTMLElement | null {
  if (!recallable(m)) return null;
  const list = el('div', { class: 'menu-list', role: 'menu', hidden: true });
  const toggle = el('button', { type: 'button', class: 'menu-button', 'aria-haspopup': 'menu', 'aria-expanded': 'false', title: 'message actions' }, '⋯');
  const item = el('button', { type: 'button', role: 'menuitem', class: 'menu-recall' }, 'Recall');
  list.append(item);
  const close = () => {
    list.hidden = true;
    toggle.setAttribute('aria-expanded', 'false');
  };
  toggle.addEventListener('click', (ev) => {
    ev.stopPropagation();
    const opening = list.hidden;
    for (const other of document.querySelectorAll<HTMLElement>('.menu-list:not([hidden])')) other.hidden = true;
    // The window may have closed since the bubble was drawn.
    item.toggleAttribute('disabled', !recallable(m));
    item.title = recallable(m) ? 'withdraw this message from every device' : 'messages can only be recalled within two minutes';
    list.hidden = !opening;
    toggle.setAttribute('aria-expanded', String(opening));
  });
  item.addEventListener('click', () => {
    close();
    if (m.messageId && recallable(m)) recall(m.messageId);
  });
  return el('span', { class: 'menu' }, toggle, list);
}

/** A click anywhere else closes an open menu. */
export function closeMenusOnOutsideClick(): void {
  document.addEventListener('click', (ev) => {
    for (const list of document.querySelectorAll<HTMLElement>('.menu-list:not([hidden])')) {
      if (!list.parentElement?.contains(ev.target as Node)) list.hidden = true;
    }
  });
}
