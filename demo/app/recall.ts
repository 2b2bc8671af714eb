// Recalled messages in the demo: wherever a recalled message is shown (the feed, a conversation),
// its text becomes "message recalled". Works for live recalls and for replayed history alike,
// since the worker logs the recall event after the (redacted) original.

import { RECALLED_TEXT } from './chats.ts';

export function markRecalled(messageIds: readonly string[]): void {
  for (const id of messageIds) {
    for (const li of document.querySelectorAll<HTMLElement>(`li[data-message-id="${CSS.escape(id)}"]`)) {
      li.classList.add('recalled');
      const text = li.querySelector('.text');
      if (text) text.textContent = RECALLED_TEXT;
    }
  }
}
