// The reference approach as one browser tab runs it, the baseline of tests/bench/ladder.ts: the
// tab owns its WebSocket and does the full two-phase login itself (auth.aid_login1 on a short
// socket, the auth server's certificate chain and signature checked, auth.aid_login2 on another
// short socket), then opens its long connection and sends auth.connect. It runs this repo's own
// login code (worker/auth), so the comparison is about where the session lives, not whose code
// logs in. When the long connection drops, the tab does the same fresh login again.
// Marks like the demo: `aun:connect` right before logging in; #state data-state="ready" when up.

import { fromBase64 } from '../../../protocol/bytes.ts';
import { importSigningKey } from '../../../worker/auth/identity.ts';
import { login } from '../../../worker/auth/login.ts';
import { openChallenged } from '../../../worker/net/socket.ts';
import { TrustStore } from '../../../worker/auth/trust.ts';
import { connectParams } from '../../../worker/session/connect.ts';
import type { RefTabParams, RefTabRecord } from './ref-api.ts';

const params = JSON.parse(decodeURIComponent(location.hash.slice(1))) as RefTabParams;
const record: RefTabRecord = { recoveries: [] };
Object.assign(globalThis, { ref: record });
const pill = document.getElementById('state')!;

function show(state: string): void {
  pill.dataset.state = state;
  pill.textContent = state;
}

type Frame = { id?: string; result?: { status?: string }; error?: { message: string } };

/** A fresh login (new trust store: nothing cached) and a new authenticated long connection. */
async function up(key: CryptoKey, rootPem: string): Promise<WebSocket> {
  const trust = new TrustStore([rootPem]);
  const tokens = await login({ aid: params.aid, certPem: params.cert, privateKey: key }, { url: params.gateway, trust });
  const { socket, challenge } = await openChallenged(params.gateway, { timeoutMs: 10_000 });
  const id = 'ref-connect';
  const hello = await new Promise<Frame>((resolve, reject) => {
    socket.onmessage = (ev: MessageEvent) => {
      const f = JSON.parse(String(ev.data)) as Frame;
      if (f.id === id) resolve(f);
    };
    socket.onclose = (ev: CloseEvent) => reject(new Error(`long connection closed before hello (${ev.code})`));
    const body = connectParams(challenge.nonce, tokens.accessToken, { deviceId: params.deviceId, slotId: 'default' });
    socket.send(JSON.stringify({ jsonrpc: '2.0', id, method: 'auth.connect', params: body }));
  });
  if (hello.error || hello.result?.status !== 'ok') throw new Error(`auth.connect: ${hello.error?.message ?? JSON.stringify(hello.result)}`);
  socket.onmessage = null;
  return socket;
}

async function main(): Promise<void> {
  // Like demo/connect.ts: the dev root CA is fetched before the mark.
  const http = params.gateway.replace(/^ws/, 'http').replace(/\/ws$/, '');
  const rootPem = await (await fetch(`${http}/pki/root.crt`)).text();
  performance.mark('aun:connect');
  const key = await importSigningKey(fromBase64(params.pkcs8));
  const watch = (socket: WebSocket) => {
    socket.onclose = () => {
      const lostAt = Date.now();
      show('connecting');
      up(key, rootPem).then((next) => {
        record.recoveries.push({ lostAt, readyAt: Date.now() });
        show('ready');
        watch(next);
      }, (err: unknown) => {
        record.error = String(err);
        show('error');
      });
    };
  };
  const socket = await up(key, rootPem);
  record.readyAt = Date.now();
  show('ready');
  watch(socket);
}

main().catch((err: unknown) => {
  record.error = String(err);
  show('error');
});
