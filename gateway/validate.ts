// Param readers for handlers: each returns the typed value or throws -32602 naming the field.

import { ErrorCode } from '../protocol/errors.ts';
import { RpcError } from './context.ts';

type Params = object;

function invalid(field: string, want: string): never {
  throw new RpcError(ErrorCode.InvalidParams, `invalid params: ${field} must be ${want}`, { field });
}

export function str(p: Params, field: string, opts: { optional?: false; max?: number; pattern?: RegExp }): string;
export function str(p: Params, field: string, opts: { optional: true; max?: number; pattern?: RegExp }): string | undefined;
export function str(p: Params, field: string, opts: { optional?: boolean; max?: number; pattern?: RegExp } = {}): string | undefined {
  const v = (p as Record<string, unknown>)[field];
  if (v === undefined || v === null) {
    if (opts.optional) return undefined;
    invalid(field, 'a string');
  }
  if (typeof v !== 'string') invalid(field, 'a string');
  if (opts.max !== undefined && v.length > opts.max) invalid(field, `at most ${opts.max} characters`);
  if (opts.pattern && !opts.pattern.test(v)) invalid(field, `a string matching ${opts.pattern}`);
  return v;
}

export function int(p: Params, field: string, opts: { optional?: false; min?: number; max?: number }): number;
export function int(p: Params, field: string, opts: { optional: true; min?: number; max?: number }): number | undefined;
export function int(p: Params, field: string, opts: { optional?: boolean; min?: number; max?: number } = {}): number | undefined {
  const v = (p as Record<string, unknown>)[field];
  if (v === undefined || v === null) {
    if (opts.optional) return undefined;
    invalid(field, 'an integer');
  }
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) invalid(field, 'an integer');
  if (opts.min !== undefined && v < opts.min) invalid(field, `>= ${opts.min}`);
  if (opts.max !== undefined && v > opts.max) invalid(field, `<= ${opts.max}`);
  return v;
}

export function obj(p: Params, field: string, opts: { optional?: false }): Record<string, unknown>;
export function obj(p: Params, field: string, opts: { optional: true }): Record<string, unknown> | undefined;
export function obj(p: Params, field: string, opts: { optional?: boolean } = {}): Record<string, unknown> | undefined {
  const v = (p as Record<string, unknown>)[field];
  if (v === undefined || v === null) {
    if (opts.optional) return undefined;
    invalid(field, 'an object');
  }
  if (typeof v !== 'object' || Array.isArray(v)) invalid(field, 'an object');
  return v as Record<string, unknown>;
}

export function bool(p: Params, field: string): boolean {
  const v = (p as Record<string, unknown>)[field];
  if (v === undefined || v === null) return false;
  if (typeof v !== 'boolean') invalid(field, 'a boolean');
  return v;
}

/** AID syntax (spec §4.1): the one rule, in protocol/aid.ts. */
export { AID_PATTERN } from '../protocol/aid.ts';
export const DEVICE_ID_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
export const SLOT_ID_PATTERN = /^[A-Za-z0-9._-][A-Za-z0-9._/ :-]{0,127}$/;

/** Limits shared by the services. */
export const MAX_AID = 255;
export const MAX_MESSAGE_ID = 256;
export const MAX_PAYLOAD_BYTES = 1_048_576;
