// The conversation list: contacts and groups, most recent first, with a preview and an unread
// badge each.

import { shortName, type Chats, type Conversation } from './chats.ts';
import { byId, el } from './dom.ts';

export function renderConversations(chats: Chats, select: (id: string) => void): void {
  const open = chats.open?.id;
  const items = chats.list().map((c) => {
    const button = el('button', { type: 'button', class: 'conv', 'data-key': c.id, 'data-kind': c.kind, 'aria-current': c.id === open ? 'true' : false },
      el('span', { class: `avatar ${c.kind}`, 'aria-hidden': 'true' }, c.kind === 'group' ? '#' : c.name.charAt(0).toUpperCase()),
      el('span', { class: 'conv-main' },
        el('span', { class: 'conv-name', title: c.kind === 'group' ? c.peer : c.name }, chats.label(c)),
        el('span', { class: 'conv-preview' }, preview(c))),
      c.unread > 0 && el('span', { class: 'badge', title: `${c.unread} unread` }, String(c.unread)));
    button.addEventListener('click', () => select(c.id));
    return el('li', {}, button);
  });
  byId('conversations').replaceChildren(...items);
}

function preview(c: Conversation): string {
  const last = c.messages[c.messages.length - 1];
  if (!last) return c.kind === 'group' ? 'group' : 'no messages yet';
  if (last.system) return last.text;
  if (last.mine) return `you: ${last.text}`;
  return c.kind === 'group' ? `${shortName(last.from)}: ${last.text}` : last.text;
}
