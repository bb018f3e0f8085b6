import { join } from 'node:path';
import { makeDirectoryDurable, writeFileAtomically } from './durable-file.js';
import { errorCode, errorMessage, RecoveryLogError } from './errors.js';
import { nodeStorage, type JournalStorage } from './journal/storage.js';
import { decodeHints, encodeHints, liveLogSegments, type HintsFormat } from './hints.js';
import type { FSMHints } from './wire/types.js';

/** A stored hints file that cannot be used (undecodable, inconsistent, or for another log). */
export class StoredHintsError extends RecoveryLogError {
  constructor(
    readonly file: string,
    detail: string,
    options?: { cause?: unknown },
  ) {
    super(
      `hints file ${file}: ${detail}. Remove or replace this file; ` +
        'recovery falls back to the next backup, or to replaying the log from offset 0.',
      options,
    );
  }
}

/** Storing hints failed (permissions, a full disk, ...); the previous hints are unchanged. */
export class HintsWriteError extends RecoveryLogError {
  constructor(
    readonly file: string,
    cause: unknown,
  ) {
    super(
      `could not store hints as ${file} (${errorMessage(cause)}). ` +
        'The previously stored hints are unchanged; fix the storage and store them again.',
      { cause },
    );
  }
}

export interface HintsStoreOptions {
  /** How many recovered-hints backups to keep (Gazette's hint_backups). Default 2. */
  backups?: number;
  /** Encoding of written hints. Reading accepts both. Default 'json' (what Gazette stores). */
  format?: HintsFormat;
  /**
   * The file system to use (default node:fs): the file journal's storage port, so that tests
   * crash the hints files on the same simulated disk as the journal.
   */
  storage?: JournalStorage;
}

/** The hints found in a store: the primary and each backup slot (most recent first). */
export interface StoredHints {
  primary?: FSMHints;
  backups: (FSMHints | undefined)[];
}

/**
 * Durable FSMHints on local disk, with Gazette's primary + rotated backups scheme:
 * `<dir>/<name>.primary` is refreshed by the recording primary (Recorder.buildHints), while
 * `<dir>/<name>.backup.<i>` keep the hints a Player recovered with, most recent at 0, so that a
 * bad primary still leaves a known-good starting point. Every file is written atomically
 * (temp file, fsync, rename, fsync of the directory; a directory it creates is made durable in
 * its parent too), so a crash leaves either the old or the new hints, never a torn file, and
 * hints once stored are never lost.
 */
export class HintsStore {
  readonly backups: number;
  readonly format: HintsFormat;
  readonly storage: JournalStorage;

  constructor(
    readonly dir: string,
    readonly name = 'hints',
    options: HintsStoreOptions = {},
  ) {
    this.backups = options.backups ?? 2;
    this.format = options.format ?? 'json';
    this.storage = options.storage ?? nodeStorage;
    if (!Number.isInteger(this.backups) || this.backups < 0) {
      throw new RangeError(`backups must be a non-negative integer, got ${this.backups}`);
    }
  }

  get primaryPath(): string {
    return join(this.dir, `${this.name}.primary`);
  }

  backupPath(i: number): string {
    return join(this.dir, `${this.name}.backup.${i}`);
  }

  /** Replaces the primary hints (from a live Recorder). */
  async storePrimary(hints: FSMHints): Promise<void> {
    await this.#typedWrite(this.primaryPath, () =>
      this.writeAtomically(this.primaryPath, encodeHints(hints, this.format)),
    );
  }

  /**
   * Stores hints a Player recovered with as backup 0, shifting older backups up one slot and
   * dropping the oldest. As in Gazette, the shift stops at the first empty slot, so a gap in
   * the backups is kept rather than filled with older hints.
   */
  async storeRecovered(hints: FSMHints): Promise<void> {
    if (this.backups === 0) return;
    await this.#typedWrite(this.backupPath(0), () => this.#rotateAndStore(hints));
  }

  async #rotateAndStore(hints: FSMHints): Promise<void> {
    const present = await Promise.all(
      Array.from({ length: this.backups }, (_, i) => this.#exists(this.backupPath(i))),
    );
    let firstEmpty = present.indexOf(false);
    if (firstEmpty === -1) firstEmpty = this.backups - 1; // all full: the last slot is overwritten
    for (let i = firstEmpty; i > 0; i--) {
      await this.storage.rename(this.backupPath(i - 1), this.backupPath(i));
    }
    await this.writeAtomically(this.backupPath(0), encodeHints(hints, this.format));
  }

  /**
   * Reads every stored hints file. Each must decode, describe a consistent history, and (when
   * `log` is given) name that log; otherwise a StoredHintsError names the file.
   */
  async fetch(log?: string): Promise<StoredHints> {
    const primary = await this.readOne(this.primaryPath, log);
    const backups: (FSMHints | undefined)[] = [];
    for (let i = 0; i < this.backups; i++)
      backups.push(await this.readOne(this.backupPath(i), log));
    return { primary, backups };
  }

  /** The hints to recover `log` with: the primary, else the newest backup, else replay from 0. */
  async pick(log: string): Promise<FSMHints> {
    const stored = await this.fetch(log);
    return (
      stored.primary ??
      stored.backups.find((h) => h !== undefined) ?? { log, liveNodes: [], properties: [] }
    );
  }

  private async readOne(file: string, log?: string): Promise<FSMHints | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await this.storage.readFile(file);
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return undefined;
      throw new StoredHintsError(file, `cannot be read (${errorMessage(err)})`, {
        cause: err,
      });
    }
    let hints: FSMHints;
    try {
      hints = decodeHints(bytes);
      liveLogSegments(hints);
    } catch (err) {
      throw new StoredHintsError(file, errorMessage(err), { cause: err });
    }
    if (log !== undefined && hints.log !== log) {
      throw new StoredHintsError(file, `hints are for log ${hints.log}, not ${log}`);
    }
    return hints;
  }

  /** Turns an operating-system error while storing hints into a HintsWriteError. */
  async #typedWrite(file: string, task: () => Promise<void>): Promise<void> {
    try {
      await task();
    } catch (err) {
      if (err instanceof RecoveryLogError) throw err;
      throw new HintsWriteError(file, err);
    }
  }

  private async writeAtomically(file: string, bytes: Uint8Array): Promise<void> {
    await makeDirectoryDurable(this.dir, this.storage);
    await writeFileAtomically(file, bytes, this.storage);
  }

  async #exists(file: string): Promise<boolean> {
    try {
      await (await this.storage.open(file, 'r')).close();
      return true;
    } catch (err) {
      if (errorCode(err) === 'ENOENT') return false;
      throw err;
    }
  }
}
