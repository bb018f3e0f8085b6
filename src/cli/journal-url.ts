/**
 * The CLI's remote locations: `--journal nats://HOST:PORT[,HOST:PORT...]/NAME` (a
 * JetStreamJournal; NAME is the journal name, slashes allowed) and
 * `--hints kv://HOST:PORT[,HOST:PORT...]/[BUCKET/]STORE` (a KvHintsStore; bucket
 * `recoverylog-hints` when omitted). Bad URLs are BadLocationUrlError (a usage error, exit 2)
 * with examples in the message.
 */
import { FileJournal } from '../journal/file.js';
import { JetStreamJournal } from '../journal/jetstream.js';
import type { Journal } from '../journal/journal.js';
import { KvHintsStore } from '../kv-hints-store.js';
import { required, UsageError } from './args.js';
import { openReadOnly } from './read-only.js';
import type { FSMHints } from '../wire/types.js';
import { RecoveryLogError } from '../errors.js';

/** A KV hints store given as hints holds none. */
export class NoStoredHintsError extends RecoveryLogError {
  constructor(location: string) {
    super(
      `${location} holds no hints (neither a primary nor a backup); store some first, e.g. ` +
        'with "recoverylog hints ... --out kv://..."',
    );
  }
}

const JOURNAL_EXAMPLES =
  'e.g. nats://127.0.0.1:4222/examples/shard-000 or ' +
  'nats://10.0.0.1:4222,10.0.0.2:4222,10.0.0.3:4222/examples/shard-000';
const HINTS_EXAMPLES =
  'e.g. kv://127.0.0.1:4222/shard-000 (bucket recoverylog-hints) or ' +
  'kv://10.0.0.1:4222,10.0.0.2:4222/my-bucket/shard-000';

/** A --journal or --hints URL that cannot be used. */
export class BadLocationUrlError extends UsageError {
  readonly url: string;
  constructor(flag: string, url: string, problem: string, examples: string) {
    super(`${flag} ${JSON.stringify(url)}: ${problem} (${examples})`);
    this.url = url;
  }
}

export interface JournalUrl {
  /** `nats://HOST:PORT` for each server. */
  readonly servers: string[];
  readonly name: string;
}

export interface HintsUrl {
  readonly servers: string[];
  readonly bucket?: string;
  readonly store: string;
}

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

function splitUrl(
  flag: string,
  url: string,
  scheme: string,
  examples: string,
): { servers: string[]; path: string } {
  const bad = (problem: string): BadLocationUrlError =>
    new BadLocationUrlError(flag, url, problem, examples);
  if (!url.startsWith(`${scheme}://`)) throw bad(`must start with ${scheme}://`);
  const rest = url.slice(scheme.length + 3);
  const slash = rest.indexOf('/');
  if (slash === -1) throw bad('no name after the servers');
  const hosts = rest.slice(0, slash);
  const path = rest.slice(slash + 1);
  if (hosts === '') throw bad('no HOST:PORT');
  const servers: string[] = [];
  for (const host of hosts.split(',')) {
    const match = HOST_PORT.exec(host);
    if (match === null) throw bad(`"${host}" is not HOST:PORT`);
    const port = Number(match[2]);
    if (port < 1 || port > 65535) throw bad(`port ${match[2]} is out of range`);
    servers.push(`nats://${host}`);
  }
  if (path === '' || path.endsWith('/')) throw bad('no name after the servers');
  if (/[?#\s]/.test(path)) throw bad('the name may not hold "?", "#" or white space');
  return { servers, path };
}

/** Parses `nats://HOST:PORT[,HOST:PORT...]/NAME`. */
export function parseJournalUrl(url: string, flag = '--journal'): JournalUrl {
  const { servers, path } = splitUrl(flag, url, 'nats', JOURNAL_EXAMPLES);
  return { servers, name: path };
}

/** Parses `kv://HOST:PORT[,HOST:PORT...]/[BUCKET/]STORE`. */
export function parseHintsUrl(url: string, flag = '--hints'): HintsUrl {
  const { servers, path } = splitUrl(flag, url, 'kv', HINTS_EXAMPLES);
  const parts = path.split('/');
  if (parts.length > 2 || parts.some((part) => part === '')) {
    throw new BadLocationUrlError(flag, url, 'expected /STORE or /BUCKET/STORE', HINTS_EXAMPLES);
  }
  return parts.length === 2
    ? { servers, bucket: parts[0], store: parts[1] }
    : { servers, store: parts[0] };
}

/** Whether a --hints value names a KV store rather than a file. */
export const isHintsUrl = (value: string): boolean => value.startsWith('kv://');

/**
 * Opens the JetStream journal a --journal URL names. Read-only: the stream must exist, and
 * nothing but barriers (which write nothing) is accepted.
 */
export async function openJournalUrl(
  url: string,
  options: { readOnly: boolean },
): Promise<JetStreamJournal> {
  const { servers, name } = parseJournalUrl(url);
  return JetStreamJournal.open(name, {
    servers,
    readOnly: options.readOnly,
    create: !options.readOnly,
  });
}

/** Opens the KV hints store a --hints URL names. */
export async function openHintsUrl(url: string, flag = '--hints'): Promise<KvHintsStore> {
  const { servers, bucket, store } = parseHintsUrl(url, flag);
  return KvHintsStore.open({ servers, bucket, name: store });
}

/**
 * The journal of a verb taking `--log DIR` or `--journal nats://...` (exactly one of them).
 * Read-only opens take no lock and append nothing.
 */
export async function openLogOrJournal(
  flags: { log?: string; journal?: string },
  options: { readOnly: boolean },
): Promise<Journal> {
  if (flags.log !== undefined && flags.journal !== undefined) {
    throw new UsageError('give either --log DIR or --journal nats://HOST:PORT/NAME, not both');
  }
  if (flags.journal !== undefined) return openJournalUrl(flags.journal, options);
  if (flags.log === undefined || flags.log === '') {
    throw new UsageError('missing --log DIR (or --journal nats://HOST:PORT/NAME)');
  }
  return options.readOnly ? openReadOnly(flags.log) : FileJournal.open(flags.log);
}

/**
 * Checks a verb's journal flags before anything else is read: a --journal URL must parse, or
 * --log DIR be given (openLogOrJournal opens them later).
 */
export function checkLogOrJournal(flags: { log?: string; journal?: string }): void {
  if (flags.journal !== undefined) parseJournalUrl(flags.journal);
  else required(flags.log, '--log DIR');
}

/** Usage lines shared by the verbs. */
export const JOURNAL_FLAG_HELP =
  '  --journal URL    a JetStream journal instead of --log: nats://HOST:PORT[,HOST:PORT...]/NAME';
export const KV_HINTS_HELP = 'kv://HOST:PORT[,HOST:PORT...]/[BUCKET/]STORE (a KV hints store)';

/**
 * Every hints value a KV store holds (primary first, then the backups), for verbs that must keep
 * all of them recoverable (prune). Refuses an empty store.
 */
export async function allStoredHints(url: string, flag = '--hints'): Promise<FSMHints[]> {
  const store = await openHintsUrl(url, flag);
  try {
    const stored = await store.fetch();
    const list = [stored.primary, ...stored.backups].filter(
      (hints): hints is FSMHints => hints !== undefined,
    );
    if (list.length === 0) throw new NoStoredHintsError(store.location);
    return list;
  } finally {
    await store.close();
  }
}

/**
 * The hints to recover `log` with from a KV store (the newest of primary and backups, see
 * KvHintsStore.pick); `log` undefined: the primary, else the newest backup.
 */
export async function pickStoredHints(url: string, log?: string): Promise<FSMHints> {
  const store = await openHintsUrl(url);
  try {
    if (log !== undefined) return await store.pick(log);
    const stored = await store.fetch();
    const any = stored.primary ?? stored.backups.find((b) => b !== undefined);
    if (any === undefined) throw new NoStoredHintsError(store.location);
    return await store.pick(any.log);
  } finally {
    await store.close();
  }
}
