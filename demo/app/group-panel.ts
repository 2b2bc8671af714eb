// The open group's panel: its members with their roles and, for whoever may, the owner's and the
// admins' tools: promote/demote and hand over ownership (per member), suspend/resume and dissolve,
// the announcement, rules and visibility (indexed settings go with a signed group.index written by
// compare-and-swap: a lost race shows its typed error), and invite codes with a link to copy.

import type { AunClient, GroupGetInfoResult, GroupMember } from '../../client-stub/index.ts';
import { shortName } from './chats.ts';
import { byId, clearError, confirmButton, el, errorText, showError } from './dom.ts';

type Role = GroupMember['role'];

/** The settings the panel edits: key in the group → the field that shows it. */
const SETTINGS = { 'announcement.content': 'setting-announcement', 'rules.content': 'setting-rules', visibility: 'setting-visibility' } as const;
type SettingKey = keyof typeof SETTINGS;

const RANK: Record<Role, number> = { owner: 0, admin: 1, member: 2 };

export class GroupPanel {
  private groupId: string | null = null;
  private myRole: Role | null = null;
  /** The settings as last read, to write only what changed. */
  private loaded: Partial<Record<SettingKey, string>> = {};

  constructor(private readonly client: AunClient) {
    byId('invite-create').addEventListener('click', () => void this.createInvite());
    byId('invite-copy').addEventListener('click', () => void this.copyInvite());
    byId<HTMLFormElement>('settings-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.saveSettings();
    });
    byId('group-suspend').addEventListener('click', () => void this.run(() => this.client.groups.suspend(this.groupId!)));
    byId('group-resume').addEventListener('click', () => void this.run(() => this.client.groups.resume(this.groupId!)));
    byId('group-dissolve-slot').append(confirmButton('Dissolve', 'Click again to dissolve', () => void this.run(() => this.client.groups.dissolve(this.groupId!))));
  }

  /** A different conversation opened: the panel forgets the last group's codes and settings. */
  reset(groupId: string | null): void {
    if (groupId === this.groupId) return;
    this.groupId = groupId;
    this.myRole = null;
    this.loaded = {};
    byId<HTMLInputElement>('invite-code').value = '';
    byId<HTMLInputElement>('invite-link').value = '';
    byId('invite-row').hidden = true;
    byId('settings-status').textContent = '';
    for (const id of Object.values(SETTINGS)) byId<HTMLInputElement>(id).value = '';
  }

  /** Renders the members (sorted by role) and the tools this AID's role allows; loads info and settings. */
  async show(groupId: string, members: GroupMember[]): Promise<void> {
    this.reset(groupId);
    const self = this.client.loggedInAs;
    this.myRole = members.find((m) => m.aid === self)?.role ?? null;
    members.sort((a, b) => RANK[a.role] - RANK[b.role] || a.aid.localeCompare(b.aid));
    byId('members').replaceChildren(...members.map((m) => this.member(m, m.aid === self)));
    const manager = this.myRole === 'owner' || this.myRole === 'admin';
    byId('group-manage').dataset.role = this.myRole ?? 'none';
    byId('group-id').textContent = groupId;
    byId('invite-create').hidden = !manager;
    for (const id of Object.values(SETTINGS)) byId<HTMLInputElement>(id).disabled = !manager;
    byId('settings-save').hidden = !manager;
    byId('group-owner-tools').hidden = !manager;
    byId('group-dissolve-slot').hidden = this.myRole !== 'owner';
    await Promise.all([this.loadInfo(groupId), this.loadSettings(groupId)]);
  }

  private member(m: GroupMember, me: boolean): HTMLLIElement {
    const li = el('li', { 'data-aid': m.aid, 'data-role': m.role, title: m.aid },
      el('span', { class: 'avatar', 'aria-hidden': 'true' }, m.aid.charAt(0).toUpperCase()),
      el('span', { class: 'name' }, me ? `${shortName(m.aid)} (you)` : shortName(m.aid)),
      m.role !== 'member' && el('span', { class: 'role' }, m.role));
    if (this.myRole !== 'owner' || me || m.role === 'owner') return li;
    const gid = this.groupId!;
    const promote = m.role === 'member';
    const role = el('button', { type: 'button', class: 'ghost mini', 'data-action': promote ? 'promote' : 'demote' }, promote ? 'Make admin' : 'Demote');
    role.addEventListener('click', () => void this.run(() => this.client.groups.setRole(gid, m.aid, promote ? 'admin' : 'member')));
    const owner = confirmButton('Make owner', 'Hand over?', () => void this.run(() => this.client.groups.transferOwner(gid, m.aid)));
    owner.classList.add('mini');
    owner.dataset.action = 'transfer';
    li.append(role, owner);
    return li;
  }

  private async loadInfo(groupId: string): Promise<void> {
    let info: GroupGetInfoResult;
    try {
      info = await this.client.groups.info(groupId);
    } catch {
      return;
    }
    if (this.groupId !== groupId) return;
    const suspended = info.status === 'suspended';
    const status = byId('group-status');
    status.dataset.status = info.status;
    status.textContent = suspended ? 'suspended: nobody can send until it is resumed' : info.visibility === 'public' ? 'public group' : 'private group';
    byId('group-suspend').hidden = suspended;
    byId('group-resume').hidden = !suspended;
  }

  private async loadSettings(groupId: string): Promise<void> {
    let values: Record<string, unknown>;
    try {
      values = await this.client.groups.settings.get(groupId, Object.keys(SETTINGS));
    } catch {
      return;
    }
    if (this.groupId !== groupId) return;
    for (const [key, id] of Object.entries(SETTINGS) as [SettingKey, string][]) {
      const v = values[key];
      const text = typeof v === 'string' ? v : key === 'visibility' ? 'private' : '';
      this.loaded[key] = text;
      const field = byId<HTMLInputElement>(id);
      // A field being edited keeps what is typed.
      if (document.activeElement !== field) field.value = text;
    }
  }

  private async saveSettings(): Promise<void> {
    const gid = this.groupId;
    if (!gid) return;
    const changed: Record<string, string> = {};
    for (const [key, id] of Object.entries(SETTINGS) as [SettingKey, string][]) {
      const v = byId<HTMLInputElement>(id).value;
      if (v !== (this.loaded[key] ?? '')) changed[key] = v;
    }
    const status = byId('settings-status');
    if (Object.keys(changed).length === 0) {
      status.textContent = 'nothing changed';
      return;
    }
    status.textContent = 'saving…';
    try {
      await this.client.groups.settings.set(gid, changed);
      status.dataset.outcome = 'saved';
      status.textContent = 'saved';
      Object.assign(this.loaded, changed);
      clearError();
    } catch (err) {
      // A concurrent write won the compare-and-swap twice: say so by the error's name, then show what is there now.
      status.dataset.outcome = (err as Error).name;
      status.textContent = (err as Error).name === 'VersionConflictError'
        ? `${errorText(err)} (someone changed the settings meanwhile; reloaded, try again)`
        : errorText(err);
      this.loaded = {};
      for (const id of Object.values(SETTINGS)) byId<HTMLInputElement>(id).blur();
      await this.loadSettings(gid);
    }
  }

  private async createInvite(): Promise<void> {
    const gid = this.groupId;
    if (!gid) return;
    try {
      const invite = await this.client.groups.invite(gid);
      if (this.groupId !== gid) return;
      byId<HTMLInputElement>('invite-code').value = invite.code;
      // The link opens this demo (on the same gateway, when the page names one) and joins.
      const here = new URL(location.href);
      const link = new URL(here.pathname, here.origin);
      const gateway = here.searchParams.get('gateway');
      if (gateway) link.searchParams.set('gateway', gateway);
      link.searchParams.set('join', invite.code);
      byId<HTMLInputElement>('invite-link').value = link.href;
      byId('invite-row').hidden = false;
      byId('invite-copied').textContent = '';
      clearError();
    } catch (err) {
      showError(err);
    }
  }

  private async copyInvite(): Promise<void> {
    const link = byId<HTMLInputElement>('invite-link');
    try {
      await navigator.clipboard.writeText(link.value);
      byId('invite-copied').textContent = 'copied';
    } catch {
      // No clipboard permission: select it for a manual copy.
      link.select();
      byId('invite-copied').textContent = 'press Ctrl+C to copy';
    }
  }

  /** An admin action; the group.changed it causes refreshes the panel in every tab. */
  private async run(action: () => Promise<unknown>): Promise<void> {
    if (!this.groupId) return;
    try {
      await action();
      clearError();
    } catch (err) {
      showError(err);
    }
  }
}
