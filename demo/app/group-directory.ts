// Finding and joining groups from the sidebar: "join by code" (an invite code, or a link carrying
// ?join=<code>) and a search over public groups.

import type { AunClient, GroupSearchItem } from '../../client-stub/index.ts';
import { byId, clearError, el, showError } from './dom.ts';

export interface DirectoryActions {
  /** A group was joined: list it and open it. */
  joined(groupId: string, name: string): void;
}

/** The code of an invite link (`…?join=<code>`) or the code itself. */
export function inviteCodeOf(text: string): string {
  const t = text.trim();
  try {
    return new URL(t).searchParams.get('join') ?? t;
  } catch {
    return t;
  }
}

export class GroupDirectory {
  constructor(private readonly client: AunClient, private readonly actions: DirectoryActions) {
    const joinForm = byId<HTMLFormElement>('join-form');
    joinForm.addEventListener('submit', (ev) => {
      ev.preventDefault();
      const code = inviteCodeOf(byId<HTMLInputElement>('join-code').value);
      if (code) void this.join(code).then((ok) => ok && joinForm.reset());
    });
    byId<HTMLFormElement>('group-search-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      void this.search(byId<HTMLInputElement>('group-search').value.trim());
    });
  }

  /** Joins with an invite code; false (and the error shown) when it was refused. */
  async join(code: string): Promise<boolean> {
    try {
      const r = await this.client.groups.join(code);
      clearError();
      this.actions.joined(r.group.group_id, r.group.name);
      return true;
    } catch (err) {
      showError(err);
      return false;
    }
  }

  private async search(query: string): Promise<void> {
    const list = byId('group-search-results');
    if (!query) {
      list.replaceChildren();
      return;
    }
    let items: GroupSearchItem[];
    try {
      items = await this.client.groups.search(query);
    } catch (err) {
      showError(err);
      return;
    }
    list.replaceChildren(...(items.length === 0
      ? [el('li', { class: 'none' }, `no public group matches "${query}"`)]
      : items.map((g) => el('li', { 'data-group-id': g.group_id, title: g.group_id },
        el('span', { class: 'name' }, g.name),
        el('small', {}, ` ${g.member_count} member${g.member_count === 1 ? '' : 's'} · ${g.group_id}`),
        g.description && el('small', { class: 'description' }, g.description)))));
  }
}
