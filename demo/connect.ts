// The one place the demo pages attach to the owner: the gateway from `?gateway=`, the rung from
// `?rung=shared|leader|single` (tests and Safari force one; default: picked by capability).
// Owned by the runtime work (issue 6); pages call startClient() or openClient() and nothing else.

import workers from 'virtual:aun-worker';
import { AunClient } from '../client-stub/index.ts';

declare const __AUN_DEFAULT_GATEWAY__: string;

export const query = new URLSearchParams(location.search);
export const gateway = query.get('gateway') ?? __AUN_DEFAULT_GATEWAY__;

/**
 * connect() made in two steps: the client at once, its attach in flight, so a page builds its
 * views while the owner answers; `attached` settles as connect() would (the hello, or its error).
 * `devRoot: false` for pages that never create or log in an identity (the inspector).
 */
export async function startClient(opts: { devRoot?: boolean } = {}): Promise<{ client: AunClient; attached: Promise<void> }> {
  const http = gateway.replace(/^ws/, 'http').replace(/\/ws$/, '');
  // Dev convenience: trust the root the local dev gateway serves. Against a real gateway, ship
  // its root CA with the app instead of fetching it.
  const rootCa = opts.devRoot === false ? undefined : await (await fetch(`${http}/pki/root.crt`)).text();
  const rung = query.get('rung');
  // Marks for the benchmarks: attach start, and the first time this tab's session is ready.
  performance.mark('aun:connect');
  // What connect() does: the client, then its attach (ready()).
  const client = new AunClient({
    // Both kinds of worker, from the aun-worker Vite plugin, so every rung of the ladder can run.
    worker: workers,
    ...(rung === 'shared' || rung === 'leader' || rung === 'single' ? { rung } : {}),
    gateway,
    ...(rootCa ? { rootCa } : {}),
  });
  const attached = client.ready().then(() => {
    performance.mark('aun:attached');
    // A newer build took over the owner (or was running first): this page keeps working, but it
    // should be reloaded to run the new code.
    const showUpdate = () => {
      if (document.getElementById('update-banner')) return;
      const bar = document.createElement('div');
      bar.id = 'update-banner';
      bar.setAttribute('role', 'status');
      bar.textContent = 'A new version of this app is running. ';
      const reload = document.createElement('button');
      reload.textContent = 'Reload';
      reload.onclick = () => location.reload();
      bar.append(reload);
      document.body.prepend(bar);
    };
    client.on('update-required', showUpdate);
    const offReady = client.on('state', (snap) => {
      if (snap.state !== 'ready') return;
      performance.mark('aun:session-ready');
      offReady();
    });
    if (client.updateRequired) showUpdate();
  });
  return { client, attached };
}

/** startClient(), resolved once attached (pages with nothing to build meanwhile). */
export async function openClient(opts: { devRoot?: boolean } = {}): Promise<AunClient> {
  const { client, attached } = await startClient(opts);
  await attached;
  return client;
}
