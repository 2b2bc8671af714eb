// Starts a dev gateway in-process for a test file, plus identities logged in against it.

import { startGateway, type Gateway, type GatewayOptions } from '../../gateway/server.ts';
import { adminFetch, adminStats } from './admin.ts';
import { Identity, Session, type ConnectOptions } from './aun-client.ts';

let counter = 0;

/** A fresh AID name under the gateway's issuer. */
export function newAid(prefix = 'agent', issuer = 'aun.local'): string {
  counter++;
  return `${prefix}${process.pid}x${counter}${Math.floor(Math.random() * 1e6)}.${issuer}`;
}

/** A throwaway gateway with its admin API on (tests drive faults through it). */
export async function testGateway(options: GatewayOptions = {}): Promise<Gateway> {
  return startGateway({ dataDir: ':memory:', admin: true, ...options });
}

/** Registers and logs in a new identity. */
export async function loggedIn(gw: Gateway, prefix = 'agent'): Promise<Identity> {
  const id = new Identity(newAid(prefix, gw.config.issuer));
  await id.register(gw.url);
  await id.login(gw.url, gw.httpUrl, gw.rootPem);
  return id;
}

export async function online(gw: Gateway, prefix = 'agent', opts: ConnectOptions = {}): Promise<Session> {
  return Session.open(gw.url, await loggedIn(gw, prefix), opts);
}

export async function adminPost(gw: Gateway, action: string, body: unknown = {}): Promise<Response> {
  return adminFetch(gw.httpUrl, gw.adminToken, action, body);
}

export async function stats(gw: Gateway): Promise<Record<string, unknown> & { connections: { aid: string | null; kind: string; device_id: string }[] }> {
  return adminStats(gw.httpUrl, gw.adminToken);
}
