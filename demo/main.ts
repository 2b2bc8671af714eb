// The first demo: pick or create an identity, log in, watch the shared session, send and receive
// plaintext messages. Open it in several tabs: they share one session through the worker.
// Query: ?gateway=ws://host:port/ws &aid=<aid> &autologin=1

import type { AunClient, GroupInboundMessage, InboundMessage, SessionSnapshot, UndecryptableMessage } from '../client-stub/index.ts';
import { openClient, query } from './connect.ts';
const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

function showError(err: unknown): void {
  $('error').textContent = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

function renderState(snap: SessionSnapshot | null): void {
  const el = $('state');
  const state = snap?.state ?? 'detached';
  if (state === 'ready' && performance.getEntriesByName('aun:ready').length === 0) performance.mark('aun:ready');
  el.dataset.state = state;
  const retry = typeof snap?.detail.nextRetryAt === 'number' ? ` (retry in ${Math.max(0, Math.round((snap.detail.nextRetryAt - Date.now()) / 1000))} s)` : '';
  el.textContent = state + retry;
  $('whoami').textContent = snap?.aid ?? '';
  $('logout').hidden = !snap;
}

function renderMessage(m: InboundMessage | GroupInboundMessage): void {
  const li = document.createElement('li');
  li.dataset.seq = String(m.seq);
  li.dataset.messageId = m.messageId;
  li.className = m.direction;
  li.dataset.encrypted = String(m.encrypted);
  const lock = document.createElement('span');
  lock.className = 'lock';
  lock.title = m.encrypted ? 'end-to-end encrypted' : 'plaintext';
  const from = document.createElement('span');
  from.className = 'from';
  const where = 'groupId' in m ? `[${m.groupId}] ` : '';
  from.textContent = where + (m.direction === 'inbound' ? m.from : `→ ${'to' in m ? m.to : m.groupId}`);
  const text = document.createElement('span');
  text.className = 'text';
  text.textContent = typeof m.payload.text === 'string' ? m.payload.text : JSON.stringify(m.payload);
  li.append(lock, from, text);
  $('messages').append(li);
}

function renderUndecryptable(u: UndecryptableMessage): void {
  const li = document.createElement('li');
  li.className = 'undecryptable';
  li.dataset.seq = String(u.seq);
  li.textContent = `⚠ a message from ${u.from} could not be decrypted (${u.reason})`;
  $('messages').append(li);
}

async function renderIdentities(client: AunClient): Promise<void> {
  const list = $('identities');
  list.replaceChildren();
  for (const id of await client.identities.list()) {
    const li = document.createElement('li');
    const name = document.createElement('span');
    name.textContent = id.aid;
    const login = document.createElement('button');
    login.textContent = 'Log in';
    login.onclick = () => void client.login(id.aid).then(renderState, showError);
    li.append(name, login);
    list.append(li);
  }
}

async function main(): Promise<void> {
  const client = await openClient();
  Object.assign(globalThis, { aun: client });
  client.on('state', renderState);
  client.on('message', renderMessage);
  client.on('group.message', renderMessage);
  client.on('undecryptable', renderUndecryptable);
  await renderIdentities(client);

  $<HTMLFormElement>('create-form').onsubmit = (ev) => {
    ev.preventDefault();
    const aid = $<HTMLInputElement>('new-aid').value.trim();
    client.identities.create(aid).then(() => renderIdentities(client), showError);
  };
  $('logout').onclick = () => void client.logout().then(() => renderState(null), showError);
  $<HTMLFormElement>('send-form').onsubmit = (ev) => {
    ev.preventDefault();
    const text = $<HTMLInputElement>('text');
    client.send($<HTMLInputElement>('to').value.trim(), { type: 'text', text: text.value }).then(() => (text.value = ''), showError);
  };

  const aid = query.get('aid');
  if (aid && query.get('autologin') === '1') {
    const known = (await client.identities.list()).some((i) => i.aid === aid);
    if (!known) await client.identities.create(aid);
    await renderIdentities(client);
    renderState(await client.login(aid, { history: true }));
  }
  document.body.dataset.ready = '1';
}

main().catch(showError);
