// An app that connects a tab: the client in the entry chunk, a part of the app loaded later in a
// chunk of its own (the compile hint of `eagerClient` belongs on the first only).
import workers from 'virtual:aun-worker';
import { AunClient } from '../../../../client-stub/index.ts';

const client = new AunClient({ worker: workers });
(globalThis as Record<string, unknown>).aunClientFixture = client;
document.addEventListener('click', () => void import('./later.ts').then((m) => m.later(client)));
