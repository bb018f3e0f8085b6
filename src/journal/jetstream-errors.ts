/**
 * Failures of the JetStream journal and hints store: how NATS client errors are classified
 * (retry, conflict, fatal) and the typed errors callers see.
 */
import { RecoveryLogError } from '../errors.js';

/** JetStream API error codes we act on. */
export const JS_WRONG_LAST_SEQUENCE = 10071;
export const JS_STREAM_NOT_FOUND = 10059;
export const JS_NO_MESSAGE_FOUND = 10037;

/** NATS JetStream did not answer within the retry deadline (no quorum, no leader, no server). */
export class JournalUnavailableError extends RecoveryLogError {
  readonly journal: string;
  constructor(journal: string, action: string, waitedMs: number, cause: unknown) {
    super(
      `journal ${JSON.stringify(journal)}: could not ${action}: NATS JetStream did not answer ` +
        `within ${Math.round(waitedMs / 1000)} s (last error: ${describe(cause)}). Check that a ` +
        'quorum of the cluster is up (nats-server logs, `/healthz`), then retry.',
      { cause },
    );
    this.journal = journal;
  }
}

/** The NATS client packages are not installed (they are optional peer dependencies). */
export class NatsClientMissingError extends RecoveryLogError {
  constructor(cause: unknown) {
    super(
      'the JetStream journal needs the NATS client: npm install @nats-io/transport-node ' +
        `@nats-io/jetstream @nats-io/kv (${describe(cause)}).`,
      { cause },
    );
  }
}

export function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return code === undefined ? error.message : `${error.message} [${String(code)}]`;
  }
  return String(error);
}

function apiCode(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined;
  // JetStreamApiError exposes the API's err_code as `code` (a number); ours use string codes.
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' && code >= 10000 ? code : undefined;
}

function apiStatus(error: unknown): number | undefined {
  const status = (error as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' ? status : undefined;
}

/** `Nats-Expected-Last-Subject-Sequence` did not hold: another writer appended first. */
export function isWrongLastSequence(error: unknown): boolean {
  return apiCode(error) === JS_WRONG_LAST_SEQUENCE;
}

export function isStreamNotFound(error: unknown): boolean {
  return apiCode(error) === JS_STREAM_NOT_FOUND;
}

/**
 * Errors worth retrying: timeouts, no responders / JetStream not enabled (a 503 while a stream or
 * meta leader is being elected), a connection being re-established, and API errors with status
 * 503 or 408. Everything else (bad request, permissions, ...) is not.
 */
export function isTransient(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const name = error.constructor?.name ?? error.name;
  if (
    name === 'TimeoutError' ||
    name === 'NoRespondersError' ||
    name === 'JetStreamNotEnabled' ||
    name === 'ConnectionError' ||
    name === 'RequestError'
  ) {
    return true;
  }
  const status = apiStatus(error);
  if (status === 503 || status === 408 || status === 500) return true;
  const code = apiCode(error);
  // 10008: JetStream system temporarily unavailable; 10005: no suitable peers for placement (a
  // node of the cluster is down or still joining).
  if (code === 10008 || code === 10005) return true;
  return /timeout|temporarily unavailable|no responders|leader|disconnect|reconnect|no quorum|no suitable peers/i.test(
    error.message,
  );
}

/** The connection was closed (by us or for good): nothing more will get through it. */
export function isClosedConnection(error: unknown): boolean {
  return error instanceof Error && (error.constructor?.name ?? '') === 'ClosedConnectionError';
}

export const sleep = (ms: number): Promise<void> =>
  new Promise((resolve) => setTimeout(resolve, ms));

/** Exponential backoff with jitter: 50 ms doubling up to 1 s. */
export function backoffMs(attempt: number): number {
  const base = Math.min(1000, 50 * 2 ** Math.min(attempt, 5));
  return base / 2 + Math.random() * (base / 2);
}
