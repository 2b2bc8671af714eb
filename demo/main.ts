// The demo: a multi-tab chat on client-stub alone. Pick or create an identity, log in, talk 1:1
// (end-to-end encrypted by default) or in groups. Every tab of the origin shares one session per
// AID through the worker: open several and watch them stay in step. Own messages can be recalled
// from their menu; typing shows in the peer's tabs; a group has a panel for roles, settings and
// invite codes; the sidebar joins by code, searches public groups and creates named groups.
// A tab opened without ?aid follows the origin: it opens into the AID the other tabs use (or the
// last one used), on the conversation it had open; log out and removal reach every tab.
// Query: ?gateway=ws://host:port/ws &aid=<aid> &autologin=1 (creates the identity if needed)

import type { GroupInboundMessage, InboundMessage, JsonObject, SessionSnapshot } from '../client-stub/index.ts';
import { AID_RULES, aidProblem } from '../protocol/aid.ts';
import { gateway, query, startClient } from './connect.ts';
import { Chats, type Conversation, type SendOutcome } from './app/chats.ts';
import { ConnectionIndicator } from './app/connection.ts';
import { ConversationView } from './app/conversation.ts';
import { byId, clearError, errorText, showError, throttle, whenShown } from './app/dom.ts';
import { clearFeed, feedMessage, feedRecalled, feedUndecryptable, relabelFeed } from './app/feed.ts';
import { GroupDirectory } from './app/group-directory.ts';
import { TypingIndicator } from './app/typing.ts';
import { renderIdentities } from './app/identities.ts';
import {
  announce, followedAid, forgetCurrent, onNews, openConversationOf, rememberAid, saveOpenConversation,
} from './app/origin-session.ts';
import { PushToggle } from './app/push.ts';
import { renderConversations } from './app/sidebar.ts';
import { addContact, forgetAid, loadContacts, loadReadMarks, saveReadMark, watchStorage } from './app/storage.ts';

/** How long a send from the UI waits for the gateway before it is reported queued. */
const SEND_TIMEOUT_MS = 10_000;

function onSubmit(id: string, handler: (form: HTMLFormElement) => void): void {
  const form = byId<HTMLFormElement>(id);
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    handler(form);
  });
}

function value(id: string): string {
  return byId<HTMLInputElement>(id).value.trim();
}

/** Every AID field says what is wrong with what is typed, by the one set of rules (protocol/aid.ts). */
function checkAidInputs(): void {
  for (const input of document.querySelectorAll<HTMLInputElement>('input[data-aid-input]')) {
    input.title = AID_RULES;
    input.addEventListener('input', () => {
      const value = input.value.trim();
      input.setCustomValidity(value === '' ? '' : aidProblem(value) ?? '');
    });
  }
}

async function main(): Promise<void> {
  checkAidInputs();
  const { client, attached } = await startClient();
  Object.assign(globalThis, { aun: client });

  /** The conversations of the AID this tab is logged in as. */
  let chats: Chats | null = null;
  /** Events of an AID this tab just logged out of may still be in flight: they are dropped. */
  let loggedOutOf: string | null = null;
  let stateSeen = false;

  const indicator = new ConnectionIndicator({
    reconnect: (aid) => void login(aid, client.cursor).catch((err: unknown) => {
      // The identity is gone (removed in another tab): back to the picker, saying why.
      if ((err as Error).name === 'NotFoundError') gone(aid, `The identity ${aid} no longer exists in this browser.`);
      else showError(err);
    }),
    retryNow: () => void client.reconnectNow().catch(showError),
  });
  const view = new ConversationView(client, {
    send,
    label: (c) => chats?.label(c) ?? c.name,
    encryptedThroughout: (c) => chats?.encryptedThroughout(c) ?? true,
    recall: (c, id) => {
      const done = c.kind === 'group' ? client.groups.recall(c.peer, id) : client.recall(id);
      done.then((r) => {
        const refused = r.errors.find((e) => e.messageId === id);
        if (refused) showError(`Recall refused: ${refused.error}`);
        else clearError();
      }, showError);
    },
  });
  const typing = new TypingIndicator(client, () => view.open);
  const directory = new GroupDirectory(client, {
    joined: (groupId, name) => {
      if (!chats) return;
      select(chats.ensure('group', groupId, name).id);
      void refreshGroups();
    },
  });
  const groupLabel = (groupId: string) => chats?.groupLabel(groupId) ?? groupId;
  // At most ~20 list renders a second, however fast messages arrive; the first after a quiet
  // spell as soon as the message that asked for it is handled. None in a background tab until it
  // is shown.
  const refreshList = throttle(whenShown(() => {
    if (!chats) return;
    renderConversations(chats, select);
    relabelFeed(groupLabel);
  }), 50);
  const picker = {
    login: (aid: string) => void login(aid).catch(showError),
    removed: (aid: string) => {
      forgetAid(aid);
      forgetCurrent(aid);
      saveOpenConversation(aid, null);
      announce({ type: 'removed', aid });
    },
  };
  const notify = new PushToggle(client, PushToggle.agentFrom(query), query.get('gateway') ?? gateway);

  function enter(aid: string): Chats {
    const c = new Chats(aid, {
      message: (conv, m, op) => view.apply(conv, m, op),
      list: () => {
        refreshList();
        view.syncTitle();
      },
      contactAdded: (peer) => addContact(aid, peer),
      read: (conv, lsn) => saveReadMark(aid, conv.id, lsn),
    }, loadReadMarks(aid));
    chats = c;
    rememberAid(aid);
    notice(null);
    for (const peer of loadContacts(aid)) c.ensure('p2p', peer);
    clearFeed();
    view.show(null);
    byId('whoami').textContent = aid;
    byId('logout').hidden = false;
    byId('notify-closed-label').hidden = !('serviceWorker' in navigator);
    notify.show(aid);
    document.body.dataset.view = 'chat';
    refreshList();
    return c;
  }

  function leave(): void {
    chats = null;
    clearFeed();
    view.show(null);
    byId('conversations').replaceChildren();
    byId('whoami').textContent = '';
    byId('logout').hidden = true;
    byId('notify-closed-label').hidden = true;
    notify.show(null);
    document.body.dataset.view = 'picker';
    indicator.show(null);
    void renderIdentities(client, picker).catch(showError);
  }

  /** A line above the app that says what happened elsewhere (another tab logged out, …). */
  function notice(text: string | null): void {
    const p = byId('notice');
    p.textContent = text ?? '';
    p.hidden = !text;
  }

  /** This tab's AID was logged out or removed elsewhere: to the picker, saying so. */
  function gone(aid: string, why: string): void {
    if (chats?.self !== aid && loggedOutOf !== aid) return;
    loggedOutOf = aid;
    // Unbinds this tab in the owner (already done if the identity is gone).
    void client.logout().catch(() => {});
    leave();
    notice(why);
  }

  /** The conversations for an event's AID: a login this tab did not start (window.aun.login) is followed too. */
  function route(aid: string): Chats | null {
    if (aid === loggedOutOf) return null;
    return chats?.self === aid ? chats : enter(aid);
  }

  async function login(aid: string, history: boolean | number = true): Promise<void> {
    loggedOutOf = null;
    stateSeen = false;
    const snap = await client.login(aid, { history });
    // A state event that came meanwhile is newer than the login's answer.
    if (route(snap.aid) && !stateSeen) indicator.show(snap);
    clearError();
    if (snap.state === 'ready') void refreshGroups();
  }

  /** Reopens the conversation this tab (or, for a new tab, the origin) had open for `aid`. */
  function reopen(aid: string): void {
    const id = openConversationOf(aid);
    const m = id ? /^(p2p|group):(.+)$/.exec(id) : null;
    if (!m || !chats || chats.self !== aid) return;
    select(chats.ensure(m[1] as 'p2p' | 'group', m[2]!).id);
  }

  async function refreshGroups(): Promise<void> {
    const c = chats;
    if (!c) return;
    try {
      const groups = await client.groups.list();
      for (const g of groups) c.ensure('group', g.group_id, g.name);
    } catch {
      // Offline or logged out meanwhile: the next `ready` tries again.
    }
  }

  function select(id: string): void {
    if (!chats) return;
    view.show(chats.openConversation(id));
    typing.render();
    saveOpenConversation(chats.self, id);
  }

  function send(conv: Conversation, text: string, encrypt: boolean): void {
    const c = chats;
    if (!c) return;
    const at = Date.now();
    // Down already: the send will wait in the outbox, so it says "queued" now, not at the deadline.
    const key = c.startSend(conv, text, encrypt, { at, delivery: indicator.online ? 'sending' : 'queued' });
    const payload: JsonObject = { type: 'text', text, sentAt: at };
    const opts = { encrypt, timeoutMs: SEND_TIMEOUT_MS };
    const sent: Promise<SendOutcome> = conv.kind === 'group'
      ? client.groups.send(conv.peer, payload, opts).then((r) => ({ messageId: r.messageId, queued: r.status === 'queued' }))
      : client.send(conv.peer, payload, opts).then((r) => ({ messageId: r.message_id, queued: r.status === 'queued' }));
    sent.then((outcome) => {
      c.settleSend(conv, key, outcome);
      clearError();
    }, (err: unknown) => {
      c.settleSend(conv, key, { error: errorText(err) });
      showError(err);
    });
  }

  watchStorage(() => chats?.self ?? null, (what) => {
    if (!chats) return;
    if (what === 'read') chats.applyReadMarks(loadReadMarks(chats.self));
    else for (const peer of loadContacts(chats.self)) chats.ensure('p2p', peer);
  });

  byId('logout').addEventListener('click', () => {
    const aid = chats?.self ?? null;
    loggedOutOf = aid;
    client.logout().then(() => {
      leave();
      if (!aid) return;
      // Log out means the AID, not this tab: every tab of it follows, and a new tab starts on the picker.
      forgetCurrent(aid);
      announce({ type: 'logout', aid });
    }, (err: unknown) => {
      loggedOutOf = null;
      showError(err);
    });
  });
  onSubmit('create-form', (form) => {
    const aid = value('new-aid');
    client.identities.create(aid).then(() => {
      form.reset();
      clearError();
      announce({ type: 'created', aid });
      return renderIdentities(client, picker);
    }).catch(showError);
  });
  onSubmit('add-contact-form', (form) => {
    const aid = value('contact-aid');
    if (!chats || !aid) return;
    select(chats.ensure('p2p', aid).id);
    form.reset();
  });
  onSubmit('new-group-form', (form) => {
    const c = chats;
    if (!c) return;
    const name = value('group-name');
    const handle = value('group-handle');
    // A named group's id is `{named id}.{issuer}` (the gateway's domain), e.g. team-x.aun.local.
    const created = handle
      ? client.call('group.create', { name, group_name: handle }).then((r) => r.group)
      : client.groups.create(name);
    created.then((g) => {
      form.reset();
      clearError();
      if (chats === c) select(c.ensure('group', g.group_id, g.name).id);
    }).catch(showError);
  });
  // A quick send to any AID, whatever conversation is open.
  onSubmit('send-form', () => {
    const to = value('to');
    const text = byId<HTMLInputElement>('text');
    if (!chats || !to || !text.value) return;
    send(chats.ensure('p2p', to), text.value, true);
    text.value = '';
  });

  const link = byId<HTMLAnchorElement>('inspector-link');
  if (query.has('gateway')) link.search = `?${new URLSearchParams({ gateway: query.get('gateway')! })}`;

  onNews((news) => {
    if (news.type === 'logout') gone(news.aid, `Logged out of ${news.aid} (in another tab).`);
    if (news.type === 'removed') gone(news.aid, `The identity ${news.aid} was removed (in another tab).`);
    if (!chats) void renderIdentities(client, picker).catch(showError);
  });

  // A page's first use of localStorage loads the origin's storage synchronously (2-8 ms in
  // tests/bench/ladder-trace.ts): done here, while the owner answers, not when the login's answer
  // shows the AID's views (enter()).
  void localStorage.length;

  // All of the above was built while the owner answered the attach. The handlers come after it:
  // added before, they would be subscribed by the attach itself, one more round trip before the
  // login can go; added now, their subscription and the login leave together.
  await attached;

  const onMessage = (m: InboundMessage | GroupInboundMessage) => {
    const c = route(m.aid);
    if (!c) return;
    feedMessage(m, groupLabel);
    // Inside the handler, the client's cursor is this event's position in the log.
    c.receive(m, client.cursor);
    if (m.direction === 'inbound') typing.stopped('groupId' in m ? `group:${m.groupId}` : `p2p:${m.from}`, m.from);
  };
  client.on('message', onMessage);
  client.on('group.message', onMessage);
  client.on('state', (snap: SessionSnapshot) => {
    if (!route(snap.aid)) return;
    stateSeen = true;
    indicator.show(snap);
    if (snap.state === 'ready') void refreshGroups();
    else if (snap.state !== 'connecting' && snap.state !== 'authenticating') chats?.queueSending();
  });
  client.on('group.changed', (ch) => {
    const c = route(ch.aid);
    if (!c) return;
    const known = c.conversations.has(`group:${ch.groupId}`);
    c.change(ch, client.cursor);
    view.membershipChanged(ch.groupId);
    if (!known) void refreshGroups();
  });
  client.on('undecryptable', (u) => {
    if (route(u.aid)) feedUndecryptable(u);
  });
  client.on('send.failed', (f) => route(f.aid)?.sendFailed(f.messageId, f.error.message));
  const onRecalled = (r: { aid: string; messageIds: string[] }) => {
    const c = route(r.aid);
    if (!c) return;
    c.recall(r.messageIds);
    feedRecalled(r.messageIds);
  };
  client.on('message.recalled', onRecalled);
  client.on('group.message_recalled', onRecalled);
  client.on('notify', (n) => {
    if (route(n.aid)) typing.received(n);
  });
  const aid = query.get('aid') ?? (await followedAid(client).catch(() => null));
  if (aid && !query.has('aid')) {
    await login(aid).catch(showError);
  } else if (aid && query.get('autologin') === '1') {
    // The usual case (a known identity) costs one call; a new one is created on the way.
    try {
      await login(aid);
    } catch (e) {
      if ((e as Error).name !== 'NotFoundError') throw e;
      await client.identities.create(aid);
      await login(aid);
    }
  }
  // A notification click opens ?chat=<sender>: that conversation; otherwise the one left open.
  // An invite link opens ?join=<code>: the group it belongs to is joined and opened.
  const chat = query.get('chat');
  const join = query.get('join');
  const c = chats as Chats | null;
  if (aid && c) {
    if (chat) select(c.ensure('p2p', chat).id);
    else reopen(aid);
    if (join) await directory.join(join);
  }
  await renderIdentities(client, picker);
  document.body.dataset.ready = '1';
}

main().catch(showError);
