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

/**
 * The label the feed's lines of each group show, by group id; null when its lines show more than
 * one (a line drawn after the label changed and before relabelFeed ran). relabelFeed asks only
 * these groups for their label and touches only the lines of a group whose label moved: a list
 * render then costs the number of groups, not the number of lines the feed ever got.
 */
const shown = new Map<string, string | null>();

function line(m: InboundMessage | GroupInboundMessage, groupLabel: (groupId: string) => string): HTMLLIElement {
  const groupName = 'groupId' in m ? groupLabel(m.groupId) : null;
  if ('groupId' in m) {
    const before = shown.get(m.groupId);
    shown.set(m.groupId, before === undefined || before === groupName ? groupName : null);
  }
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
  const feed = byId('messages');
  for (const [groupId, label] of shown) {
    const name = groupLabel(groupId);
    if (name === label) continue;
    shown.set(groupId, name);
    for (const li of feed.querySelectorAll<HTMLLIElement>(`li[data-group-id="${CSS.escape(groupId)}"]`)) {
      const from = li.querySelector('.from');
      const text = li.classList.contains('inbound') ? `[${name}] ${from?.textContent?.replace(/^\[[^\]]*\] /, '')}` : `[${name}] → ${name}`;
      if (from && from.textContent !== text) from.textContent = text;
    }
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
  shown.clear();
  byId('messages').replaceChildren();
}
