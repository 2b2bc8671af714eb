// The identity picker: the AIDs this origin holds (each key lives in the worker), log in to one,
// create one, remove one.

import type { AunClient, IdentityInfo } from '../../client-stub/index.ts';
import { byId, confirmButton, el, showError } from './dom.ts';

export interface PickerActions {
  login(aid: string): void;
  removed(aid: string): void;
}

export async function renderIdentities(client: AunClient, actions: PickerActions): Promise<void> {
  const ids = await client.identities.list();
  const items = ids.sort((a, b) => a.aid.localeCompare(b.aid)).map((id) => item(client, id, actions));
  byId('identities').replaceChildren(...items);
  byId('picker').dataset.count = String(ids.length);
}

function item(client: AunClient, id: IdentityInfo, actions: PickerActions): HTMLLIElement {
  const login = el('button', { type: 'button', class: 'login' }, 'Log in');
  login.addEventListener('click', () => actions.login(id.aid));
  const remove = confirmButton('Remove', 'Remove for good?', () => {
    client.identities.remove(id.aid).then(() => {
      actions.removed(id.aid);
      return renderIdentities(client, actions);
    }).catch(showError);
  });
  const since = new Date(id.createdAt).toLocaleDateString();
  return el('li', { 'data-aid': id.aid },
    el('span', { class: 'avatar', 'aria-hidden': 'true' }, id.aid.charAt(0).toUpperCase()),
    el('span', { class: 'who' },
      el('span', { class: 'aid' }, id.aid),
      el('small', {}, `created ${since}${id.hasToken ? ' · signed in before' : ''}`)),
    login, remove);
}
