// The "all messages" feed: every message, group message and undecryptable notice of the AID, in
// log order, whatever conversation is open. Its markup is a contract with the e2e tests and the
// benchmarks: `li` className = direction, data-seq, data-message-id, data-encrypted, and the
// children .lock, .from (`[group name] ` prefix for group messages, the id in its title), .text.

import type { GroupInboundMessage, InboundMessage, UndecryptableMessage } from '../../client-stub/index.ts';
import { bottomAppender, byId, el, shownQueue } from './dom.ts';
import { RECALLED_TEXT, textOf } from './chats.ts';
import { markRecalled } from './recall.ts';

/** Pages of 100: a feed of thousands costs a frame what a page or two in view cost. */
const append = bottomAppender(() => byId('messages'), 100);
/** A background tab builds its lines in one go, not one per message (see shownQueue). */
const lines = shownQueue();

/** `groupLabel` names a group for people (its name, never its raw id). */
export function feedMessage(m: InboundMessage | GroupInboundMessage, groupLabel: (groupId: string) => string): void {
  lines.add(() => append(line(m, groupLabel)));
}

function line(m: InboundMessage | GroupInboundMessage, groupLabel: (groupId: string) => string): HTMLLIElement {
  const groupName = 'groupId' in m ? groupLabel(m.groupId) : null;
  const group = groupName === null ? '' : `[${groupName}] `;
  const who = m.direction === 'inbound' ? m.from : `→ ${'groupId' in m ? groupName : m.to}`;
  const li = el('li', {
    'data-seq': m.seq, 'data-message-id': m.messageId, 'data-encrypted': String(m.encrypted), 'data-group-id': 'groupId' in m ? m.groupId : false,
  },
    el('span', { class: 'lock', title: m.encrypted ? 'end-to-end encrypted' : 'plaintext' }),
    el('span', { class: 'from', title: 'groupId' in m ? m.groupId : m.from }, group + who),
    el('span', { class: 'text' }, m.recalled ? RECALLED_TEXT : textOf(m.payload)));
  li.className = m.direction;
  if (m.recalled) li.classList.add('recalled');
  return li;
}

/** Group names became known (or two now share a name): the feed's group lines follow. */
export function relabelFeed(groupLabel: (groupId: string) => string): void {
  for (const li of byId('messages').querySelectorAll<HTMLLIElement>('li[data-group-id]')) {
    const from = li.querySelector('.from');
    const name = groupLabel(li.dataset.groupId!);
    const text = li.classList.contains('inbound') ? `[${name}] ${from?.textContent?.replace(/^\[[^\]]*\] /, '')}` : `[${name}] → ${name}`;
    if (from && from.textContent !== text) from.textContent = text;
  }
}

export function feedUndecryptable(u: UndecryptableMessage): void {
  lines.add(() => append(el('li', { class: 'undecryptable', 'data-seq': u.seq },
    `⚠ a message from ${u.from} could not be decrypted (${u.reason})`)));
}

/** Recalled messages: their lines (the feed's, built or still to be, and the conversation's) say so. */
export function feedRecalled(messageIds: readonly string[]): void {
  lines.add(() => markRecalled(messageIds));
}

export function clearFeed(): void {
  lines.clear();
  byId('messages').replaceChildren();
}
