// The "all messages" feed: every message, group message and undecryptable notice of the AID, in
// log order, whatever conversation is open. Its markup is a contract with the e2e tests and the
// benchmarks: `li` className = direction, data-seq, data-message-id, data-encrypted, and the
// children .lock, .from (`[group] ` prefix for group messages), .text.

import type { GroupInboundMessage, InboundMessage, UndecryptableMessage } from '../../client-stub/index.ts';
import { bottomAppender, byId, el } from './dom.ts';
import { textOf } from './chats.ts';

const append = bottomAppender(() => byId('messages'));

export function feedMessage(m: InboundMessage | GroupInboundMessage): void {
  const group = 'groupId' in m ? `[${m.groupId}] ` : '';
  const who = m.direction === 'inbound' ? m.from : `→ ${'groupId' in m ? m.groupId : m.to}`;
  const li = el('li', { 'data-seq': m.seq, 'data-message-id': m.messageId, 'data-encrypted': String(m.encrypted) },
    el('span', { class: 'lock', title: m.encrypted ? 'end-to-end encrypted' : 'plaintext' }),
    el('span', { class: 'from' }, group + who),
    el('span', { class: 'text' }, textOf(m.payload)));
  li.className = m.direction;
  append(li);
}

export function feedUndecryptable(u: UndecryptableMessage): void {
  const li = el('li', { class: 'undecryptable', 'data-seq': u.seq },
    `⚠ a message from ${u.from} could not be decrypted (${u.reason})`);
  append(li);
}

export function clearFeed(): void {
  byId('messages').replaceChildren();
}
