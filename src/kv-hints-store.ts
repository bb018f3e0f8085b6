/**
 * KvHintsStore: FSMHints in a NATS JetStream KV bucket (replicated, R3 by default), with the
 * primary + rotated backups scheme of HintsStore, for recorders whose journal lives on JetStream.
 *
 * All hints of one store name (primary and backups) are ONE KV entry, a JSON document, so a
 * rotation is a single compare-and-set (KV revision) and two writers can never interleave
 * half-rotations. Every read goes to the stream leader (a KV "direct get" may be served by a
 * lagging replica), every write is a CAS on the revision just read, retried on conflict.
 *
 * It never goes backwards (gazette/core#350: a backup newer than the primary). Hints may carry
 * the journal write head they were built at (`{ writeHead }`, e.g. `recorder.writeHead` after
 * `buildHints()`, or the head a Player finished at): a store refuses hints older than the newest
 * it holds for the same log (HintsRegressionError: typically a fenced recorder still storing
 * hints after a hand-off), and `pick` returns the newest of primary and backups rather than the
 * primary blindly.
 */
import { RecoveryLogError } from './errors.js';
import { decodeHints, hintsFromJSON, hintsToJSON, liveLogSegments } from './hints.js';
import { HintsWriteError, StoredHintsError, type StoredHints } from './hints-store.js';
import {
  openNatsSession,
  type NatsConnectOptions,
  type NatsSession,
} from './journal/jetstream-client.js';
import {
  backoffMs,
  describe,
  isTransient,
  isWrongLastSequence,
  sleep,
} from './journal/jetstream-errors.js';
import { hintsKey } from './journal/jetstream-names.js';
import type { FSMHints } from './wire/types.js';

/** Where hints were built: the journal write head at that moment. */
export interface HintsPosition {
  writeHead?: number;
}

export interface KvHintsStoreOptions extends NatsConnectOptions {
  /** KV bucket (default `recoverylog-hints`; created when missing). */
  bucket?: string;
  /** The store's name in the bucket, e.g. a shard id (default `hints`). */
  name?: string;
  /** Backups kept (Gazette's hint_backups; default 2). */
  backups?: number;
  /** Replicas of a bucket this call creates (default 3). */
  replicas?: number;
  /** How long transient failures (elections) are retried, ms (default 60 s). */
  retryDeadlineMs?: number;
}

/** Hints older than ones already stored for the same log; nothing was written. */
export class HintsRegressionError extends RecoveryLogError {
  readonly log: string;
  readonly writeHead: number;
  readonly storedWriteHead: number;
  constructor(where: string, log: string, writeHead: number, stored: number, slot: string) {
    super(
      `${where}: refusing to store hints of log ${JSON.stringify(log)} built at write head ` +
        `${writeHead}: the store already holds hints of that log at write head ${stored} ` +
        `(${slot}). Storing them would make recovery go backwards; the writer is probably a ` +
        'recorder that another process has taken over (fenced): stop it.',
    );
    this.log = log;
    this.writeHead = writeHead;
    this.storedWriteHead = stored;
  }
}

interface Slot {
  hints: unknown;
  writeHead?: number;
  storedAt: string;
}

interface Document {
  version: 1;
  primary?: Slot;
  backups: (Slot | null)[];
}

const EMPTY_DOCUMENT: Document = { version: 1, backups: [] };

export class KvHintsStore {
  readonly bucket: string;
  readonly name: string;
  readonly backups: number;
  private readonly key: string;
  private readonly deadlineMs: number;

  private constructor(
    private readonly session: NatsSession,
    private readonly kv: import('@nats-io/kv').KV,
    options: KvHintsStoreOptions,
  ) {
    this.bucket = options.bucket ?? 'recoverylog-hints';
    this.name = options.name ?? 'hints';
    this.backups = options.backups ?? 2;
    this.key = hintsKey(this.name);
    this.deadlineMs = options.retryDeadlineMs ?? 60_000;
  }

  /** Opens the store (creating its bucket when missing). */
  static async open(options: KvHintsStoreOptions): Promise<KvHintsStore> {
    const backups = options.backups ?? 2;
    if (!Number.isInteger(backups) || backups < 0) {
      throw new RangeError(`backups must be a non-negative integer, got ${backups}`);
    }
    const session = await openNatsSession(options);
    try {
      const kvm = new session.modules.kv.Kvm(session.js);
      const bucket = options.bucket ?? 'recoverylog-hints';
      const started = Date.now();
      for (let attempt = 0; ; attempt += 1) {
        try {
          const kv = await kvm.create(bucket, {
            replicas: options.replicas ?? 3,
            history: 5,
            storage: session.modules.jetstream.StorageType.File,
            allow_direct: false,
          });
          return new KvHintsStore(session, kv, options);
        } catch (error) {
          if (!isTransient(error) || Date.now() - started > (options.retryDeadlineMs ?? 60_000)) {
            throw error;
          }
          await sleep(backoffMs(attempt));
        }
      }
    } catch (error) {
      await session.close().catch(() => undefined);
      throw error;
    }
  }

  /** `kv://bucket/name`, for messages. */
  get location(): string {
    return `kv://${this.bucket}/${this.name}`;
  }

  /** Replaces the primary hints (from the live Recorder). */
  async storePrimary(hints: FSMHints, position: HintsPosition = {}): Promise<void> {
    await this.update((document) => {
      this.refuseRegression(document, hints, position);
      return { ...document, primary: this.slot(hints, position) };
    });
  }

  /**
   * Stores hints a Player recovered with as backup 0, shifting older backups up one slot (the
   * shift stops at the first empty slot, as in Gazette) — all in one CAS.
   */
  async storeRecovered(hints: FSMHints, position: HintsPosition = {}): Promise<void> {
    if (this.backups === 0) return;
    await this.update((document) => {
      this.refuseRegression(document, hints, position);
      const backups = Array.from({ length: this.backups }, (_, i) => document.backups[i] ?? null);
      let firstEmpty = backups.indexOf(null);
      if (firstEmpty === -1) firstEmpty = this.backups - 1;
      for (let i = firstEmpty; i > 0; i -= 1) backups[i] = backups[i - 1] ?? null;
      backups[0] = this.slot(hints, position);
      return { ...document, backups };
    });
  }

  /** Every stored hints value (validated; `log` given: each must name it). */
  async fetch(log?: string): Promise<StoredHints> {
    const { document } = await this.read();
    return {
      primary: this.decodeSlot(document.primary, 'primary', log),
      backups: Array.from({ length: this.backups }, (_, i) =>
        this.decodeSlot(document.backups[i] ?? undefined, `backup.${i}`, log),
      ),
    };
  }

  /**
   * The hints to recover `log` with: the newest by write head among primary and backups (the
   * primary on ties, and when none has a write head), else replay from offset 0.
   */
  async pick(log: string): Promise<FSMHints> {
    const { document } = await this.read();
    const slots: [Slot | undefined, string][] = [
      [document.primary, 'primary'],
      ...document.backups.map((slot, i): [Slot | undefined, string] => [
        slot ?? undefined,
        `backup.${i}`,
      ]),
    ];
    let best: { hints: FSMHints; head: number } | undefined;
    for (const [slot, label] of slots) {
      const hints = this.decodeSlot(slot, label, log);
      if (hints === undefined) continue;
      const head = slot?.writeHead ?? -1;
      if (best === undefined || head > best.head) best = { hints, head };
    }
    return best?.hints ?? { log, liveNodes: [], properties: [] };
  }

  /** Closes the connection if the store opened it. */
  async close(): Promise<void> {
    await this.session.close();
  }

  private slot(hints: FSMHints, position: HintsPosition): Slot {
    liveLogSegments(hints); // refuse inconsistent hints before storing them
    const { writeHead } = position;
    if (writeHead !== undefined && (!Number.isSafeInteger(writeHead) || writeHead < 0)) {
      throw new RangeError(`writeHead must be a non-negative integer, got ${writeHead}`);
    }
    return {
      hints: JSON.parse(hintsToJSON(hints)) as unknown,
      ...(writeHead === undefined ? {} : { writeHead }),
      storedAt: new Date().toISOString(),
    };
  }

  private refuseRegression(document: Document, hints: FSMHints, position: HintsPosition): void {
    const { writeHead } = position;
    if (writeHead === undefined) return;
    const slots: [Slot | null | undefined, string][] = [
      [document.primary, 'primary'],
      ...document.backups.map((slot, i): [Slot | null, string] => [slot, `backup.${i}`]),
    ];
    for (const [slot, label] of slots) {
      if (slot?.writeHead === undefined || slot.writeHead <= writeHead) continue;
      const stored = this.tryDecode(slot);
      if (stored !== undefined && stored.log === hints.log) {
        throw new HintsRegressionError(this.location, hints.log, writeHead, slot.writeHead, label);
      }
    }
  }

  private tryDecode(slot: Slot): FSMHints | undefined {
    try {
      return hintsFromJSON(JSON.stringify(slot.hints));
    } catch {
      return undefined;
    }
  }

  private decodeSlot(slot: Slot | undefined, label: string, log?: string): FSMHints | undefined {
    if (slot === undefined || slot === null) return undefined;
    const where = `${this.location} (${label})`;
    let hints: FSMHints;
    try {
      hints = decodeHints(new TextEncoder().encode(JSON.stringify(slot.hints)));
      liveLogSegments(hints);
    } catch (error) {
      throw new StoredHintsError(where, (error as Error).message, { cause: error });
    }
    if (log !== undefined && hints.log !== log) {
      throw new StoredHintsError(where, `hints are for log ${hints.log}, not ${log}`);
    }
    return hints;
  }

  /** The document and its KV revision (0: none yet), read from the stream leader. */
  private async read(): Promise<{ document: Document; revision: number }> {
    const message = await this.retry(() =>
      this.session.jsm.streams.getMessage(`KV_${this.bucket}`, {
        last_by_subj: `$KV.${this.bucket}.${this.key}`,
      }),
    );
    if (message === null) return { document: EMPTY_DOCUMENT, revision: 0 };
    const operation = message.header?.has('KV-Operation') ? message.header.get('KV-Operation') : '';
    if (operation === 'DEL' || operation === 'PURGE') {
      return { document: EMPTY_DOCUMENT, revision: message.seq };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(new TextDecoder().decode(message.data));
    } catch (error) {
      throw new StoredHintsError(this.location, 'the stored document is not JSON', {
        cause: error,
      });
    }
    const document = parsed as Partial<Document>;
    if (document.version !== 1 || !Array.isArray(document.backups)) {
      throw new StoredHintsError(this.location, 'the stored document has an unknown layout');
    }
    return { document: document as Document, revision: message.seq };
  }

  /** Read, change, compare-and-set; again on a conflicting writer. */
  private async update(change: (document: Document) => Document): Promise<void> {
    for (let attempt = 0; attempt < 50; attempt += 1) {
      const { document, revision } = await this.read();
      const next = new TextEncoder().encode(JSON.stringify(change(document)));
      try {
        await this.retry(() =>
          revision === 0
            ? this.kv.create(this.key, next)
            : this.kv.update(this.key, next, revision),
        );
        return;
      } catch (error) {
        if (isWrongLastSequence(error) || /wrong last sequence/i.test(describe(error))) {
          await sleep(backoffMs(Math.min(attempt, 3)));
          continue;
        }
        if (error instanceof RecoveryLogError) throw error;
        throw new HintsWriteError(this.location, error);
      }
    }
    throw new HintsWriteError(
      this.location,
      new Error('other writers kept changing the hints (50 attempts)'),
    );
  }

  private async retry<T>(task: () => Promise<T>): Promise<T> {
    const started = Date.now();
    for (let attempt = 0; ; attempt += 1) {
      try {
        return await task();
      } catch (error) {
        if (!isTransient(error) || Date.now() - started > this.deadlineMs) throw error;
        await sleep(backoffMs(attempt));
      }
    }
  }
}
