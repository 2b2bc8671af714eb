// Typed E2EE failures. Messages keep the reference SDK's error tokens (spec/e2ee-v2.md §6.1, §9
// item 11) so logs and cross-SDK tests read the same; code branches on `reason`, never on text.

import { AunError } from '../../protocol/errors.ts';

export type E2eeErrorReason =
  | 'sender_signature'
  | 'recipients_digest'
  | 'recipient_missing'
  | 'spk_missing'
  | 'wrap_key_decrypt_failed'
  | 'body_decrypt_failed'
  | 'header_auth_failed'
  | 'context_auth_failed'
  | 'aad_binding'
  | 'replay'
  | 'duplicate'
  | 'malformed';

/** A message that cannot be accepted, or an envelope that cannot be built from the given input. */
export class E2eeError extends AunError {
  override name = 'E2eeError';
  readonly reason: E2eeErrorReason;
  constructor(reason: E2eeErrorReason, message: string, options?: { cause?: unknown }) {
    super(message, undefined, { reason });
    this.reason = reason;
    if (options?.cause !== undefined) this.cause = options.cause;
  }
}

/** §4.4 rejections of a bootstrap device entry; `reason` is the reference's token. */
export type SpkRejection =
  | 'spk_key_source_invalid'
  | 'spk_public_key_missing'
  | 'spk_id_mismatch'
  | 'spk_ik_mismatch'
  | 'spk_signature_missing'
  | 'spk_signature_invalid_base64'
  | 'spk_timestamp_missing'
  | 'spk_timestamp_invalid'
  | 'spk_signature_invalid';

/** A peer's signed prekey failed verification; the whole send must stop (§4.4). */
export class SpkVerificationError extends AunError {
  override name = 'SpkVerificationError';
  readonly reason: SpkRejection;
  constructor(reason: SpkRejection, detail: { aid: string; deviceId: string; spkId: string }) {
    super(`${reason}: aid=${detail.aid} device_id=${detail.deviceId} spk_id=${detail.spkId}`, undefined, { reason });
    this.reason = reason;
  }
}

/** Short text of a caught value, for the `cause=` suffix the reference appends. */
export function describeCause(exc: unknown): string {
  if (exc instanceof Error) return exc.message ? `${exc.name}: ${exc.message}` : exc.name;
  return String(exc);
}
