// The demo's issue-14 panels, driven through the UI in real Chromium across two identities (each
// its own browser profile) and several tabs: recall from a message's menu (gone from every tab,
// also one opened afterwards), the typing indicator, the group panel (invite code made by the
// owner and joined by code in the other identity, role changes, settings, suspend, search) and
// named groups.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { openTab, startStack, until, type Stack } from './support.ts';

let stack: Stack;
let ctxA: BrowserContext;
let ctxB: BrowserContext;
let alice1: Page;
let alice2: Page;
let bob1: Page;
let bob2: Page;
let alice: string;
let bob: string;
let issuer: string;
const suffix = String(Date.now() % 1e8);
/** Uncaught exceptions and console errors of every page. */
const problems: string[] = [];

function watch(ctx: BrowserContext, label: string): void {
  ctx.on('page', (page) => {
    page.on('console', (m) => { if (m.type() === 'error') problems.push(`[${label}] console error: ${m.text()}`); });
    page.on('pageerror', (e) => problems.push(`[${label}] uncaught: ${e.message}`));
  });
}

beforeAll(async () => {
  stack = await startStack();
  issuer = stack.gateway.config.issuer;
  alice = `palice${suffix}.${issuer}`;
  bob = `pbob${suffix}.${issuer}`;
  ctxA = await stack.browser.newContext({ viewport: { width: 1100, height: 800 } });
  ctxB = await stack.browser.newContext({ viewport: { width: 1100, height: 800 } });
  watch(ctxA, 'alice');
  watch(ctxB, 'bob');
  // All four at once, as a browser restoring a session opens them (two per new identity).
  [alice1, alice2, bob1, bob2] = await Promise.all([openTab(ctxA, stack, alice), openTab(ctxA, stack, alice), openTab(ctxB, stack, bob), openTab(ctxB, stack, bob)]);
});
afterAll(async () => {
  await ctxA?.close();
  await ctxB?.close();
  await stack?.close();
});

const conv = (key: string) => `#conversations [data-key="${key}"]`;
const short = (aid: string) => aid.split('.')[0]!;

async function openConversation(page: Page, key: string): Promise<void> {
  await page.locator(conv(key)).click();
  await page.locator(`${conv(key)}[aria-current="true"]`).waitFor();
}

async function startChat(page: Page, peer: string): Promise<void> {
  await page.fill('#contact-aid', peer);
  await page.press('#contact-aid', 'Enter');
  await page.locator(`${conv(`p2p:${peer}`)}[aria-current="true"]`).waitFor();
}

async function typeMessage(page: Page, text: string): Promise<void> {
  await page.fill('#compose-text', text);
  await page.press('#compose-text', 'Enter');
}

/** The conversation bubble with `text`, and its message id once the gateway took it. */
async function sentId(page: Page, text: string): Promise<string> {
  const b = page.locator('#conv-log .msg.mine', { hasText: text });
  await b.locator('.delivery', { hasText: 'sent' }).waitFor({ timeout: 20_000 });
  return (await b.getAttribute('data-message-id'))!;
}

/** Waits until a bubble (conversation) or line (feed) of message `id` says "message recalled" and `text` is nowhere in the page. */
async function recalledIn(page: Page, id: string, where: '#conv-log' | '#messages', text: string): Promise<void> {
  const part = where === '#conv-log' ? '.body' : '.text';
  await page.waitForFunction(([sel, t]) => {
    const node = document.querySelector(sel);
    return node?.textContent === 'message recalled' && !document.body.textContent!.includes(t);
  }, [`${where} li[data-message-id="${id}"] ${part}`, text] as const, { timeout: 20_000 });
}

async function recallFromMenu(page: Page, id: string): Promise<void> {
  const bubble = page.locator(`#conv-log li[data-message-id="${id}"]`);
  await bubble.locator('.menu-button').click();
  await bubble.locator('.menu-recall').click();
}

/** Creates a group from the sidebar (named when `handle` is given) and returns its id. */
async function createGroup(page: Page, name: string, handle = ''): Promise<string> {
  await page.fill('#group-name', name);
  await page.fill('#group-handle', handle);
  await page.click('#new-group-form button[type="submit"]');
  const current = page.locator('#conversations [aria-current="true"][data-kind="group"]');
  await page.waitForFunction((n) => document.querySelector('#conversations [aria-current="true"][data-kind="group"] .conv-name')?.textContent?.startsWith(n), name);
  return (await current.getAttribute('data-key'))!.replace(/^group:/, '');
}

describe('recall from the message menu', () => {
  it('a P2P message recalled from its menu becomes "message recalled" in every tab of both identities, and in a tab opened afterwards', async () => {
    await startChat(alice1, bob);
    await startChat(bob1, alice);
    const text = `regret ${suffix}`;
    await typeMessage(alice1, text);
    const id = await sentId(alice1, text);
    // Everyone sees it first: both of bob's tabs (the conversation and the feed), alice's other tab.
    await bob1.locator(`#conv-log li[data-message-id="${id}"] .body`, { hasText: text }).waitFor();
    await bob2.locator(`#messages li[data-message-id="${id}"] .text`, { hasText: text }).waitFor();
    await openConversation(alice2, `p2p:${bob}`);
    await alice2.locator(`#conv-log li[data-message-id="${id}"] .body`, { hasText: text }).waitFor();
    // Only one's own messages have a menu.
    expect(await bob1.locator(`#conv-log li[data-message-id="${id}"] .menu-button`).count()).toBe(0);

    await recallFromMenu(alice1, id);
    await recalledIn(alice1, id, '#conv-log', text);
    await recalledIn(alice2, id, '#conv-log', text);
    await recalledIn(bob1, id, '#conv-log', text);
    await recalledIn(bob2, id, '#messages', text);
    expect(await alice1.locator(`#conv-log li[data-message-id="${id}"].recalled .menu-button`).count()).toBe(0);
    expect(await alice1.textContent('#error')).toBe('');

    // A tab opened after the recall replays the history: the message is there, recalled, and its text nowhere.
    const later = await openTab(ctxB, stack, bob);
    await recalledIn(later, id, '#messages', text);
    await openConversation(later, `p2p:${alice}`);
    await recalledIn(later, id, '#conv-log', text);
    await later.close();
  });

  it('a group message recalled from its menu becomes "message recalled" in the other member\'s tabs', async () => {
    const gid = await createGroup(alice1, `recall room ${suffix}`);
    await alice1.fill('#member-aid', bob);
    await alice1.press('#member-aid', 'Enter');
    await alice1.locator(`#members li[data-aid="${bob}"]`).waitFor({ timeout: 30_000 });
    const text = `group oops ${suffix}`;
    await typeMessage(alice1, text);
    const id = await sentId(alice1, text);
    await openConversation(bob1, `group:${gid}`);
    await bob1.locator(`#conv-log li[data-message-id="${id}"] .body`, { hasText: text }).waitFor();
    await bob2.locator(`#messages li[data-message-id="${id}"] .text`, { hasText: text }).waitFor();
    await recallFromMenu(alice1, id);
    await recalledIn(alice1, id, '#conv-log', text);
    await recalledIn(bob1, id, '#conv-log', text);
    await recalledIn(bob2, id, '#messages', text);
  });
});

describe('typing indicator', () => {
  it('typing in one identity\'s composer shows "… is typing…" in the peer\'s open tabs, and it goes away', async () => {
    await openConversation(alice1, `p2p:${bob}`);
    await openConversation(bob1, `p2p:${alice}`);
    await openConversation(bob2, `p2p:${alice}`);
    expect(await bob1.isHidden('#typing')).toBe(true);
    await alice1.locator('#compose-text').pressSequentially('hel', { delay: 30 });
    const expected = `${short(alice)} is typing…`;
    for (const p of [bob1, bob2]) {
      await p.locator('#typing', { hasText: expected }).waitFor({ timeout: 10_000 });
      expect(await p.textContent('#typing')).toBe(expected);
    }
    // Not in the typist's own tabs, nor in a conversation with someone else.
    expect(await alice2.isHidden('#typing')).toBe(true);
    // A few seconds after the last keystroke it goes away by itself.
    const shownAt = Date.now();
    for (const p of [bob1, bob2]) await p.locator('#typing').waitFor({ state: 'hidden', timeout: 10_000 });
    expect(Date.now() - shownAt).toBeGreaterThan(1_000);
    await alice1.fill('#compose-text', '');
  });
});

describe('group panel', () => {
  let gid: string;

  it('an invite code made by the owner is joined by code in the other identity; a role change shows in every tab', async () => {
    gid = await createGroup(alice1, `panel team ${suffix}`);
    await alice1.click('#group-manage summary');
    await alice1.click('#invite-create');
    await alice1.locator('#invite-row').waitFor();
    const code = await alice1.inputValue('#invite-code');
    expect(code).toMatch(/^ic-[0-9a-f]{12}$/);
    const link = await alice1.inputValue('#invite-link');
    expect(new URL(link).searchParams.get('join')).toBe(code);

    // Bob joins by pasting the link (the code alone works the same).
    await bob1.fill('#join-code', link);
    await bob1.press('#join-code', 'Enter');
    await bob1.locator(`${conv(`group:${gid}`)}[aria-current="true"]`).waitFor({ timeout: 20_000 });
    await bob1.locator(`#members li[data-aid="${bob}"][data-role="member"]`).waitFor();
    expect(await bob1.textContent('#error')).toBe('');
    await bob1.click('#group-manage summary');
    // The owner's panel lists bob, with the owner's tools; bob's has none.
    await alice1.locator(`#members li[data-aid="${bob}"][data-role="member"]`).waitFor({ timeout: 20_000 });
    await alice1.locator('#conv-log .msg.system', { hasText: `${bob} joined with an invite code` }).waitFor();
    expect(await bob1.locator('#members button').count()).toBe(0);
    expect(await bob1.isHidden('#invite-create')).toBe(true);
    expect(await bob1.isVisible('#settings-form')).toBe(true);
    expect(await bob1.isDisabled('#setting-rules')).toBe(true);
    expect(await alice1.isVisible('#invite-create')).toBe(true);
    // A used one-use code is refused.
    await bob2.fill('#join-code', code);
    await bob2.press('#join-code', 'Enter');
    await until('the used code refused', async () => /invite/i.test((await bob2.textContent('#error')) ?? ''));

    await openConversation(bob2, `group:${gid}`);
    await bob2.click('#group-manage summary');
    await alice1.locator(`#members li[data-aid="${bob}"] button[data-action="promote"]`).click();
    for (const p of [bob1, bob2]) {
      await p.locator(`#members li[data-aid="${bob}"][data-role="admin"] .role`, { hasText: 'admin' }).waitFor({ timeout: 20_000 });
    }
    await alice1.locator(`#members li[data-aid="${bob}"][data-role="admin"] button[data-action="demote"]`).waitFor();
    // As an admin bob may now make invite codes and edit settings.
    await bob1.locator('#invite-create').waitFor();
    expect(await bob1.isEnabled('#setting-rules')).toBe(true);

    // The member who joined by code talks in the group (end-to-end encrypted), and typing shows there too.
    await bob1.locator('#compose-text').pressSequentially('hi', { delay: 30 });
    await alice1.locator('#typing', { hasText: `${short(bob)} is typing…` }).waitFor({ timeout: 10_000 });
    await bob1.press('#compose-text', 'Enter');
    await alice1.locator('#conv-log .msg.theirs[data-encrypted="true"] .body', { hasText: 'hi' }).waitFor({ timeout: 20_000 });
    // The sender's message ends the indication at once.
    expect(await alice1.isHidden('#typing')).toBe(true);
  });

  it('settings (announcement, rules in the signed index; visibility) saved by the owner reach the member; search finds the public group; suspend and resume', async () => {
    await alice1.fill('#setting-announcement', 'Standup at ten');
    await alice1.fill('#setting-rules', 'Be kind');
    await alice1.selectOption('#setting-visibility', 'public');
    await alice1.click('#settings-save');
    await alice1.locator('#settings-status', { hasText: 'saved' }).waitFor({ timeout: 20_000 });
    await bob1.waitForFunction(() => (document.getElementById('setting-announcement') as HTMLTextAreaElement).value === 'Standup at ten'
      && (document.getElementById('setting-rules') as HTMLTextAreaElement).value === 'Be kind', undefined, { timeout: 20_000 });

    await bob1.locator('#conv-log .msg.system', { hasText: `${alice} changed the group settings` }).waitFor();
    await bob1.fill('#group-search', `panel team ${suffix}`);
    await bob1.press('#group-search', 'Enter');
    await bob1.locator(`#group-search-results li[data-group-id="${gid}"]`).waitFor();

    await alice1.click('#group-suspend');
    await bob2.locator('#group-status[data-status="suspended"]').waitFor({ timeout: 20_000 });
    await alice1.click('#group-resume');
    await bob2.locator('#group-status[data-status="active"]').waitFor({ timeout: 20_000 });
    await bob2.locator('#conv-log .msg.system', { hasText: 'resumed the group' }).waitFor();
  });

  it('a settings write that loses the compare-and-swap shows the typed VersionConflictError and reloads the stored values', async () => {
    // Losing the race twice in a row needs three writers at the same instant; the panel's handling
    // of the typed error is checked by making this tab's settings.set answer with it.
    await bob1.evaluate(() => {
      const aun = (globalThis as unknown as { aun: { groups: { settings: { set: unknown } } } }).aun;
      const conflict = Object.assign(new Error('version conflict: group.index changed meanwhile'), { name: 'VersionConflictError' });
      aun.groups.settings.set = () => Promise.reject(conflict);
    });
    await bob1.fill('#setting-rules', 'Be quick');
    await bob1.click('#settings-save');
    const status = bob1.locator('#settings-status[data-outcome="VersionConflictError"]');
    await status.waitFor();
    expect(await status.textContent()).toMatch(/^VersionConflictError: version conflict/);
    await bob1.waitForFunction(() => (document.getElementById('setting-rules') as HTMLTextAreaElement).value === 'Be kind');
    // A reload brings back the real API (and the tab reopens the group it had open).
    await bob1.reload();
    await bob1.waitForSelector('#state[data-state="ready"]');
    await bob1.locator(`${conv(`group:${gid}`)}[aria-current="true"]`).waitFor();
    await bob1.click('#group-manage summary');
  });

  it('the owner hands the group over: the new owner gets the owner\'s tools; an invite link joins a third identity; the new owner dissolves the group', async () => {
    const transfer = alice1.locator(`#members li[data-aid="${bob}"] button[data-action="transfer"]`);
    await transfer.click();
    await transfer.click();
    await bob1.locator(`#members li[data-aid="${bob}"][data-role="owner"]`).waitFor({ timeout: 20_000 });
    await bob1.locator(`#members li[data-aid="${alice}"][data-role="admin"] button[data-action="demote"]`).waitFor();
    expect(await bob1.isHidden('#group-dissolve-slot')).toBe(false);
    await alice1.locator(`#members li[data-aid="${alice}"][data-role="admin"]`).waitFor();
    expect(await alice1.locator('#members button').count()).toBe(0);
    // An admin still makes invite codes; their link, opened by a third identity, joins it.
    // The link before the click: read after it, a busy machine may already show the new one.
    const before = await alice1.inputValue('#invite-link');
    await alice1.click('#invite-create');
    await alice1.waitForFunction((old) => (document.getElementById('invite-link') as HTMLInputElement).value !== old, before);
    const link = new URL(await alice1.inputValue('#invite-link'));
    expect(link.searchParams.get('gateway')).toBe(stack.gateway.url);
    const carol = `pcarol${suffix}.${issuer}`;
    const ctxC = await stack.browser.newContext();
    watch(ctxC, 'carol');
    const carolTab = await ctxC.newPage();
    link.searchParams.set('aid', carol);
    link.searchParams.set('autologin', '1');
    await carolTab.goto(link.href);
    await carolTab.locator(`${conv(`group:${gid}`)}[aria-current="true"]`).waitFor({ timeout: 30_000 });
    await carolTab.locator(`#members li[data-aid="${carol}"][data-role="member"]`).waitFor();
    await bob1.locator(`#members li[data-aid="${carol}"]`).waitFor({ timeout: 20_000 });
    await ctxC.close();

    // The new owner dissolves it (a second click confirms): the others are no longer members.
    const dissolve = bob1.locator('#group-dissolve-slot button');
    await dissolve.click();
    await dissolve.click();
    await alice1.locator('#conv-log .msg.system', { hasText: `${bob} dissolved the group` }).waitFor({ timeout: 20_000 });
    expect(await alice1.textContent('#conv-sub')).toBe('you are no longer a member');
    expect(await alice1.isHidden('#group-panel')).toBe(true);
  });
});

describe('named groups', () => {
  it('a group created with a named id is {name}.{issuer}', async () => {
    const handle = `team-${suffix}`;
    const gid = await createGroup(alice1, 'Named room', handle);
    expect(gid).toBe(`${handle}.${issuer}`);
    expect(await alice1.getAttribute('#conv-title', 'title')).toBe(`${handle}.${issuer}`);
    // Another tab of the owner lists it (after a reload: the worker's group list has it).
    await alice2.reload();
    await alice2.waitForSelector('#state[data-state="ready"]');
    await alice2.locator(`${conv(`group:${handle}.${issuer}`)} .conv-name`, { hasText: 'Named room' }).waitFor({ timeout: 20_000 });
    expect(await alice1.textContent('#error')).toBe('');
    // It is a group like any other: a member added to it reads the owner's messages and the owner theirs.
    await alice1.fill('#member-aid', bob);
    await alice1.press('#member-aid', 'Enter');
    await alice1.locator(`#members li[data-aid="${bob}"]`).waitFor({ timeout: 30_000 });
    await typeMessage(alice1, 'named hello');
    await openConversation(bob1, `group:${gid}`);
    await bob1.locator('#conv-log .msg.theirs[data-encrypted="true"] .body', { hasText: 'named hello' }).waitFor({ timeout: 20_000 });
    await typeMessage(bob1, 'named reply');
    await alice1.locator('#conv-log .msg.theirs[data-encrypted="true"] .body', { hasText: 'named reply' }).waitFor({ timeout: 20_000 });
  });

  it('no page logged an error or threw', () => {
    expect(problems).toEqual([]);
  });
});
