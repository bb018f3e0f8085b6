/**
 * Where a journal lives in NATS JetStream: one stream per journal, holding one subject. Journal
 * names (Gazette rules: letters, digits, `-_+/.=%`) are not valid stream names or subject tokens
 * (`.` and `/` are not allowed), so they are encoded injectively: `[A-Za-z0-9-]` stays, every
 * other UTF-8 byte becomes `_XX` (hex). Names whose encoding is too long for a stream name (the
 * server stores a stream as a directory) keep a readable prefix and add a SHA-256 digest; the
 * stream's metadata records the journal name, and opening checks it.
 */
import { createHash } from 'node:crypto';

/** Longest stream name we derive (nats-server keeps each stream in a directory of that name). */
export const MAX_DERIVED_STREAM_NAME = 200;

/** Stream metadata key holding the journal name. */
export const JOURNAL_NAME_METADATA = 'recoverylog.journal';

/** The injective `[A-Za-z0-9_-]` encoding of `name` (see the module comment). */
export function encodeNameToken(name: string): string {
  let out = '';
  for (const byte of new TextEncoder().encode(name)) {
    const ch = String.fromCharCode(byte);
    out += /[A-Za-z0-9-]/.test(ch) ? ch : `_${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The token, shortened with a digest when it would make a stream name too long. */
function boundedToken(name: string, room: number): string {
  const token = encodeNameToken(name);
  if (token.length <= room) return token;
  const digest = createHash('sha256').update(name, 'utf8').digest('hex').slice(0, 32);
  // Cut outside an `_XX` escape so the readable part stays well-formed.
  let cut = room - digest.length - 1;
  const escape = token.lastIndexOf('_', cut);
  if (escape !== -1 && escape > cut - 3) cut = escape;
  return `${token.slice(0, cut)}-${digest}`;
}

export interface JetStreamLocation {
  readonly stream: string;
  readonly subject: string;
}

/** Default stream and subject of journal `name`: `RL_<token>` and `recoverylog.<token>`. */
export function jetStreamLocation(name: string): JetStreamLocation {
  const token = boundedToken(name, MAX_DERIVED_STREAM_NAME - 3);
  return { stream: `RL_${token}`, subject: `recoverylog.${token}` };
}

/** KV key of a hints store named `name` (KV keys allow `[-/_=.A-Za-z0-9]`). */
export function hintsKey(name: string): string {
  return boundedToken(name, 400);
}
