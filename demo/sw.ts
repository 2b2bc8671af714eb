// The demo's service worker: only offline push (aun-worker/push-sw). A click opens the demo on
// the conversation with the first sender; `?gateway=` on the script URL is passed on to the page.

import { installPushHandlers } from '../client-stub/push-sw.ts';

declare const self: ServiceWorkerGlobalScope;

const gateway = new URL(self.location.href).searchParams.get('gateway');

installPushHandlers(self, {
  icon: '/favicon.svg',
  url: (p) => {
    const q = new URLSearchParams({ ...(gateway ? { gateway } : {}), aid: p.target_aid, autologin: '1', ...(p.senders[0] ? { chat: p.senders[0] } : {}) });
    return new URL(`/?${q}`, self.location.origin).href;
  },
});
