// A few DOM helpers, so the views read as markup and never touch innerHTML.

export type Child = Node | string | null | undefined | false;
type Attrs = Record<string, string | number | boolean | null | undefined>;

/** `el('li', {class: 'x', 'data-seq': 3}, 'text', child)`; false/null attributes are left out. */
export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs)) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? '' : String(value));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) node.append(c);
  return node;
}

export function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`#${id} is missing from the page`);
  return node as T;
}

export function errorText(err: unknown): string {
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

/** Shows `err` in the page's #error line (cleared by the next successful action). */
export function showError(err: unknown): void {
  byId('error').textContent = errorText(err);
}

export function clearError(): void {
  byId('error').textContent = '';
}

/**
 * Runs fn once the task that asked is done (a microtask) when it last ran `ms` or more ago, else
 * once, `ms` after its last run: a burst of requests runs it at most every `ms`, and requests in
 * one task run it once, after that task's changes are all made. After a quiet spell what it draws
 * goes into the same frame as the rest of that task's changes (the conversation list that
 * follows a new message line is drawn with the line: one frame and one layout, not a frame of
 * its own 50 ms later).
 */
export function throttle(fn: () => void, ms: number): () => void {
  let last = -Infinity;
  let pending = false;
  const run = () => {
    pending = false;
    last = performance.now();
    fn();
  };
  return () => {
    if (pending) return;
    pending = true;
    const wait = last + ms - performance.now();
    if (wait <= 0) queueMicrotask(run);
    else setTimeout(run, wait);
  };
}

/**
 * How often a background tab brings its page up to date. A browser draws no background tab
 * (document.hidden) and runs no animation frames there; its timers run about once a second at
 * most. So what a background tab would draw waits and is built in one go: in the first frame once
 * shown, or after this long (so that the page, read by scripts or assistive tools, stays current).
 */
const BACKGROUND_DRAW_MS = 1000;

/** Runs `draw` in the next frame or, in a background tab, after BACKGROUND_DRAW_MS, whichever comes first; once. */
function soon(draw: () => void): void {
  let done = false;
  const once = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    draw();
  };
  requestAnimationFrame(once);
  const timer = document.hidden ? setTimeout(once, BACKGROUND_DRAW_MS) : undefined;
}

/**
 * Draws now in a tab the user sees. A background tab queues what it would draw, in order, and
 * builds it all at once (see BACKGROUND_DRAW_MS); while the queue waits, new drawing joins it,
 * keeping the order.
 */
export function shownQueue(): { add(draw: () => void): void; clear(): void } {
  let queue: (() => void)[] = [];
  let asked = false;
  const flush = () => {
    asked = false;
    const drawing = queue;
    queue = [];
    for (const draw of drawing) safely(draw);
  };
  return {
    add(draw) {
      if (!document.hidden && queue.length === 0) return safely(draw);
      queue.push(draw);
      if (!asked) {
        asked = true;
        soon(flush);
      }
    },
    clear() {
      queue = [];
    },
  };
}

/** `draw` now in a tab the user sees; in a background tab once, however often asked (see shownQueue). */
export function whenShown(draw: () => void): () => void {
  let waiting = false;
  return () => {
    if (!document.hidden) return draw();
    if (waiting) return;
    waiting = true;
    soon(() => {
      waiting = false;
      draw();
    });
  };
}

/** One drawing step: an exception is rethrown on its own and does not stop the steps after it. */
function safely(draw: () => void): void {
  try {
    draw();
  } catch (e) {
    queueMicrotask(() => { throw e; });
  }
}

/**
 * Appends to a scrolling list and keeps it scrolled to the bottom if it was there. Layout is read
 * once per animation frame, before the first append after the frame was drawn (so it is clean and
 * the read costs nothing), and the list is scrolled once in the next frame: a burst or a replay of
 * thousands of events, in any number of tasks, lays the list out once per frame, not per item.
 *
 * With `pageSize`, the items go into pages (`ul.page`, that many items each) inside the scroller.
 * A page out of view is skipped whole (`content-visibility: auto` in style.css), so a frame styles,
 * lays out and paints the pages in view: its cost no longer grows with every item the list ever
 * got, as it does when thousands of items sit in one container.
 */
export function bottomAppender(list: () => HTMLElement, pageSize = 0): (node: Node, scroll?: boolean) => void {
  let pinned: boolean | null = null;
  return (node, scroll = false) => {
    const box = list();
    if (pinned === null) {
      pinned = box.scrollHeight - box.scrollTop - box.clientHeight < 48;
      requestAnimationFrame(() => {
        if (pinned) box.scrollTop = box.scrollHeight;
        pinned = null;
      });
    }
    if (scroll) pinned = true;
    let into: Element = box;
    if (pageSize > 0) {
      const last = box.lastElementChild;
      into = last && last.childElementCount < pageSize ? last : box.appendChild(el('ul', { class: 'page' }));
    }
    into.append(node);
  };
}

export function clock(ms: number): string {
  return new Date(ms).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
}

/** A button that asks for a second click within 3 s before it runs `action` (no blocking confirm()). */
export function confirmButton(label: string, confirmLabel: string, action: () => void): HTMLButtonElement {
  const button = el('button', { type: 'button', class: 'ghost danger' }, label);
  let armed: ReturnType<typeof setTimeout> | null = null;
  button.addEventListener('click', () => {
    if (armed) {
      clearTimeout(armed);
      armed = null;
      action();
      return;
    }
    button.textContent = confirmLabel;
    button.classList.add('armed');
    armed = setTimeout(() => {
      armed = null;
      button.textContent = label;
      button.classList.remove('armed');
    }, 3000);
  });
  return button;
}
