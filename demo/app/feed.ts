// The "all messages" feed: every message, group message and undecryptable notice of the AID, in
// log order, whatever conversation is open. Its markup is a contract with the e2e tests and the
// benchmarks: `li` className = direction, data-seq, data-message-id, data-encrypted, and the
// children .lock, .from (`[group name] ` prefix for group messages, the id in its title), .text.
// Lines go in at the page's next render (app/render.ts), all that came since the last one at once,
// or as soon as FLUSH_AT of them wait.

import type { GroupInboundMessage, InboundMessage, UndecryptableMessage } from '../../client-stub/index.ts';
import { byId, el } from './dom.ts';
import { RECALLED_TEXT, textOf } from './chats.ts';
import { renderLoop } from './render.ts';

/** Pages of 100: a feed of thousands costs a frame what a page or two in view cost. */
const PAGE = 100;
/** How close to the bottom counts as "at the bottom" (the feed then follows new lines). */
const NEAR_BOTTOM_PX = 48;

/** Lines made since the last render. */
let queued: HTMLLIElement[] = [];
/** A scroll to the bottom is due: the feed was at the bottom when the last lines went in. */
let pinned = true;

/** At most this many lines wait for a render: a flood shows as it comes, 50 lines at a time. */
const FLUSH_AT = 50;

function render(inLoop = true): void {
  if (queued.length === 0) return;
  const box = byId('messages');
  // Read before the writes: in a render the layout is the last frame's, so this costs nothing.
  // While a scroll of ours is still due, the feed counts as at the bottom, whatever layout says
  // (a page that stops being drawn changes its height meanwhile).
  pinned ||= box.scrollHeight - box.scrollTop - box.clientHeight < NEAR_BOTTOM_PX;
  for (const li of queued) {
    const last = box.lastElementChild;
    (last && last.childElementCount < PAGE ? last : box.appendChild(el('ul', { class: 'page' }))).append(li);
  }
  queued = [];
  if (!pinned) return;
  if (inLoop) renderLoop.afterWrites(toBottom);
  else requestAnimationFrame(toBottom);
}

function toBottom(): void {
  if (!pinned) return;
  pinned = false;
  const box = byId('messages');
  box.scrollTop = box.scrollHeight;
}

function append(li: HTMLLIElement): void {
  queued.push(li);
  // A flood keeps a tab's main thread from its renders (their timer waits behind the flood's
  // events): past FLUSH_AT waiting lines they go in at once, and the next frame shows them.
  if (queued.length >= FLUSH_AT) render(false);
  else renderLoop.schedule(render);
}

/** `groupLabel` names a group for people (its name, never its raw id). */
export function feedMessage(m: InboundMessage | GroupInboundMessage, groupLabel: (groupId: string) => string): void {
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
  append(li);
}

/** Group names became known (or two now share a name): the feed's group lines follow. */
export function relabelFeed(groupLabel: (groupId: string) => string): void {
  for (const li of [...byId('messages').querySelectorAll<HTMLLIElement>('li[data-group-id]'), ...queued]) {
    if (li.dataset.groupId === undefined) continue;
    const from = li.querySelector('.from');
    const name = groupLabel(li.dataset.groupId);
    const text = li.classList.contains('inbound') ? `[${name}] ${from?.textContent?.replace(/^\[[^\]]*\] /, '')}` : `[${name}] → ${name}`;
    if (from && from.textContent !== text) from.textContent = text;
  }
}

export function feedUndecryptable(u: UndecryptableMessage): void {
  append(el('li', { class: 'undecryptable', 'data-seq': u.seq }, `⚠ a message from ${u.from} could not be decrypted (${u.reason})`));
}

/** Lines made but not yet in the page (they go in at the next render, or when FLUSH_AT wait). */
export function pendingFeedLines(): readonly HTMLLIElement[] {
  return queued;
}

export function clearFeed(): void {
  queued = [];
  pinned = true;
  byId('messages').replaceChildren();
}
