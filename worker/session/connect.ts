// auth.connect on a freshly opened long connection (spec §3.4–§3.5), trying tokens from the
// cheapest to the dearest on the same socket and challenge nonce: the cached access token, then
// a refresh, then a full login. Only an AuthError from auth.connect moves to the next one.

import { AuthError, ErrorCode } from '../../protocol/errors.ts';
import { type ConnectResult, type ParamsOf } from '../../protocol/methods.ts';
import { SDK_LANG, SDK_VERSION } from '../auth/login.ts';
import type { OfflinePushConfig } from './push-config.ts';
import type { StateDetailMap } from './state.ts';
import type { TokenKeeper } from './token-keeper.ts';
import { isReusable } from './tokens.ts';
import type { Transport } from './transport.ts';

export type Strategy = StateDetailMap['ready']['strategy'];

export interface ClientIdentity {
  deviceId: string;
  slotId: string;
  /** Read at every connect: the offline-push config to carry, if any. */
  push?: () => OfflinePushConfig | null;
}

export function connectParams(nonce: string, token: string, who: ClientIdentity): ParamsOf<'auth.connect'> {
  return {
    nonce,
    auth: { method: 'kite_token', token },
    protocol: { min: '1.0', max: '1.0' },
    device: { id: who.deviceId, type: 'browser' },
    client: { slot_id: who.slotId, sdk_lang: SDK_LANG, sdk_version: SDK_VERSION },
    delivery_mode: { mode: 'fanout', routing: '', affinity_ttl_ms: 0 },
    capabilities: { e2ee: true, group_e2ee: true, supported_p2p_e2ee: ['e2ee_v2'], supported_group_e2ee: ['group_e2ee_v2'] },
    ...who.push?.(),
  };
}

export interface Authenticated {
  hello: ConnectResult;
  strategy: Strategy;
}

export async function authenticate(transport: Transport, keeper: TokenKeeper, who: ClientIdentity, now: number): Promise<Authenticated> {
  const connectWith = async (token: string, strategy: Strategy): Promise<Authenticated> => {
    const hello = await transport.call('auth.connect', connectParams(transport.challenge.nonce, token, who));
    if (hello?.status !== 'ok') throw new AuthError(`auth.connect answered status ${String(hello?.status)}`, ErrorCode.AuthFailed);
    return { hello, strategy };
  };
  const nextOnAuthError = (err: unknown): null => {
    if (err instanceof AuthError) return null;
    throw err;
  };

  const cached = await keeper.current();
  if (cached && isReusable(cached, now)) {
    const done = await connectWith(cached.accessToken, 'cached').catch(nextOnAuthError);
    if (done) return done;
    await keeper.expireAccess();
  }
  if (cached?.refreshToken) {
    // A refusal comes back as a result; an AuthError thrown by the service means the same.
    const refreshed = await keeper.refresh().catch(nextOnAuthError);
    if (refreshed?.ok) {
      const done = await connectWith(refreshed.record.accessToken, 'refreshed').catch(nextOnAuthError);
      if (done) return done;
    }
  }
  const record = await keeper.login();
  return connectWith(record.accessToken, 'login');
}
