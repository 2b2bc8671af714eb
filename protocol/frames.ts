// JSON-RPC 2.0 frames as AUN uses them (spec/protocol.md §1.1).

import { randomHex } from './bytes.ts';
import { ValidationError } from './errors.ts';

export type JsonPrimitive = string | number | boolean | null;
export type JsonValue = JsonPrimitive | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export type RpcId = string | number;

export interface RequestFrame<M extends string = string, P = unknown> {
  jsonrpc: '2.0';
  id: RpcId;
  method: M;
  params: P;
}

export interface RpcErrorBody {
  code: number;
  message: string;
  data?: unknown;
}

export interface SuccessFrame<R = unknown> {
  jsonrpc: '2.0';
  id: RpcId;
  result: R;
}

export interface ErrorFrame {
  jsonrpc: '2.0';
  id: RpcId | null;
  error: RpcErrorBody;
}

export type ResponseFrame<R = unknown> = SuccessFrame<R> | ErrorFrame;

/** Server→client notification: the `challenge`, an `event/…`, or anything else without an id. */
export interface NotificationFrame<M extends string = string, P = unknown> {
  jsonrpc: '2.0';
  method: M;
  params: P;
}

export type IncomingFrame =
  | { kind: 'response'; frame: ResponseFrame }
  | { kind: 'challenge'; frame: NotificationFrame<'challenge', ChallengeParams> }
  | { kind: 'event'; name: string; frame: NotificationFrame }
  | { kind: 'notification'; frame: NotificationFrame };

export interface ChallengeParams {
  nonce: string;
  server?: string;
  protocol?: { min: string; max: string };
  auth_methods?: string[];
  capabilities?: Record<string, unknown>;
  server_time?: number;
}

export const EVENT_PREFIX = 'event/';
export const CHALLENGE_METHOD = 'challenge';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Classifies a server frame the way the reference client routes it: a frame with an `id` key is a
 * response; otherwise `challenge`, `event/…`, or a generic notification. Returns null for anything
 * that is not a JSON-RPC object, so callers can report it instead of crashing.
 */
export function classifyServerFrame(value: unknown): IncomingFrame | null {
  if (!isRecord(value)) return null;
  if ('id' in value) {
    const hasResult = 'result' in value;
    const err = value.error;
    if (!hasResult && !(isRecord(err) && typeof err.code === 'number')) return null;
    return { kind: 'response', frame: value as unknown as ResponseFrame };
  }
  if (typeof value.method !== 'string') return null;
  const frame = value as unknown as NotificationFrame;
  if (frame.method === CHALLENGE_METHOD) {
    const p = frame.params;
    if (!isRecord(p) || typeof p.nonce !== 'string') return null;
    return { kind: 'challenge', frame: frame as NotificationFrame<'challenge', ChallengeParams> };
  }
  if (frame.method.startsWith(EVENT_PREFIX)) {
    return { kind: 'event', name: frame.method.slice(EVENT_PREFIX.length), frame };
  }
  return { kind: 'notification', frame };
}

export function isErrorFrame(frame: ResponseFrame): frame is ErrorFrame {
  return 'error' in frame;
}

/**
 * `value` as JSON text. A ValidationError naming `what` for what JSON cannot write (a BigInt, a
 * cycle) or a value with no JSON at all.
 */
export function jsonText(value: unknown, what: string): string {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    throw new ValidationError(`${what} is not JSON: ${(err as Error).message}`);
  }
  if (text === undefined) throw new ValidationError(`${what} is not JSON: it has no JSON form`);
  return text;
}

/**
 * `value` as a receiver reads it from the wire (JSON written and read back): a value JSON has not
 * (a Date, NaN, a member that is undefined) takes its JSON form. Throws as jsonText does.
 */
export function jsonForm<T>(value: T, what: string): T {
  return JSON.parse(jsonText(value, what)) as T;
}

/** `rpc-` + 16 hex characters (8 random bytes), as the reference client makes them. */
export function newRpcId(): string {
  return `rpc-${randomHex(8)}`;
}

/** Short pre-auth RPCs use the fixed id `pre-<method>`. */
export function preAuthId(method: string): string {
  return `pre-${method}`;
}

/** Largest frame either side sends or accepts, in UTF-8 bytes (spec §1.1). */
export const MAX_FRAME_BYTES = 1_000_000;
