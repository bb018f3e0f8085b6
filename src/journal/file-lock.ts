/**
 * The file journal's advisory append lock. It is for speed only: two writers that both believe
 * they hold it are kept apart by fencing (each writer epoch writes only its own fragment, see
 * fragment-writer.ts), so a wrong guess here costs a take-over, never an acknowledged byte.
 *
 * - Each process (each open journal) first writes an identity file `lock.<token>` holding its pid,
 *   host name, boot id, pid namespace and a random token. Acquiring is `link(identity, "lock")`:
 *   atomic, fails with EEXIST when held, and the lock never exists half-written. Releasing
 *   unlinks `lock` after checking (by inode) that it is still ours.
 * - Fairness: a process that fails to get the lock rings a doorbell (`lock-want`, a link to its
 *   identity). A live holder releases the lock after its current batch when the doorbell rings,
 *   and does not take it again while someone else's doorbell is up.
 * - Stale locks: a holder that does not answer the doorbell within the lease (paused, partitioned,
 *   dead, or a pid reused by another process) loses the lock: the waiter breaks it. As a fast
 *   path, a holder on this host, in this boot and in OUR pid namespace whose pid does not exist
 *   is dead at once; a holder in another pid namespace (a container sharing the volume) is never
 *   judged by its pid, only by the lease. The lease is measured on the waiter's own monotonic
 *   clock (it watches the same lock inode stay put), so clock skew between hosts cannot shorten it.
 * - A breaker renames `lock` aside to a name of its own, then checks by inode that it moved the
 *   very file it judged stale; if it moved a fresh lock instead, it links that file back.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { randomBytes } from 'node:crypto';
import { JournalLockedError, errorCode } from './errors.js';
import type { JournalStorage } from './storage.js';

export interface LockHolder {
  readonly pid: number;
  readonly host: string;
  readonly bootId: string;
  /** The holder's pid namespace ('' when unknown): its pid means nothing in another one. */
  readonly pidNamespace: string;
  readonly token: string;
}

const LOCK_FILE = 'lock';
const WANT_FILE = 'lock-want';
const IDENTITY_PREFIX = 'lock.';
const BROKEN_PREFIX = 'lock-broken.';
const TOKEN_PATTERN = /^[0-9a-f]{16}$/;
/** A lock file we cannot parse is a leftover of an OS crash once it is this old. */
const UNREADABLE_STALE_MS = 2000;
const MAX_BACKOFF_MS = 16;
/** Default lease: a holder that leaves the doorbell unanswered this long loses the lock. */
export const DEFAULT_LOCK_LEASE_MS = 2000;

function parseHolder(text: string): LockHolder | undefined {
  try {
    const value: unknown = JSON.parse(text);
    if (typeof value !== 'object' || value === null) return undefined;
    const { pid, host, bootId: boot, token, pidNamespace } = value as Record<string, unknown>;
    if (
      typeof pid !== 'number' ||
      typeof host !== 'string' ||
      typeof boot !== 'string' ||
      typeof token !== 'string' ||
      !TOKEN_PATTERN.test(token)
    ) {
      return undefined;
    }
    return {
      pid,
      host,
      bootId: boot,
      token,
      pidNamespace: typeof pidNamespace === 'string' ? pidNamespace : '',
    };
  } catch {
    return undefined;
  }
}

/**
 * True only when we can tell for sure that the holder's process no longer exists: same host and
 * either an earlier boot, or the same boot and pid namespace and no such pid.
 */
export function holderIsDead(holder: LockHolder, ourBootId: string, ourPidNamespace = ''): boolean {
  if (holder.host !== hostname()) return false;
  const ours = ourBootId;
  if (ours !== '' && holder.bootId !== '' && holder.bootId !== ours) return true;
  // A pid is only meaningful inside its namespace: unknown or different, trust only the lease.
  if (ourPidNamespace === '' || holder.pidNamespace !== ourPidNamespace) return false;
  try {
    process.kill(holder.pid, 0);
    return false;
  } catch (error) {
    return errorCode(error) === 'ESRCH';
  }
}

interface Inspection {
  readonly holder: LockHolder | undefined;
  readonly ino: bigint;
  readonly dev: bigint;
  readonly stale: boolean;
}

export class DirectoryLock {
  readonly token = randomBytes(8).toString('hex');
  readonly lockPath: string;
  private readonly wantPath: string;
  private readonly identityPath: string;
  private identityIno: bigint | undefined;
  private isHeld = false;

  constructor(
    private readonly storage: JournalStorage,
    private readonly dir: string,
    private readonly journal: string,
    private readonly leaseMs = DEFAULT_LOCK_LEASE_MS,
  ) {
    this.lockPath = join(dir, LOCK_FILE);
    this.wantPath = join(dir, WANT_FILE);
    this.identityPath = join(dir, IDENTITY_PREFIX + this.token);
  }

  get held(): boolean {
    return this.isHeld;
  }

  /**
   * Takes the lock, waiting with backoff up to `timeoutMs` (0: a single attempt). `brokeStale`
   * tells the caller that the previous holder's lock was broken (dead, or its lease ran out).
   */
  async acquire(timeoutMs: number): Promise<{ brokeStale: boolean }> {
    if (this.isHeld) return { brokeStale: false };
    let identityIno = await this.ensureIdentity();
    const started = Date.now();
    let backoff = 1;
    let brokeStale = false;
    let rangDoorbell = false;
    let lastHolder: LockHolder | undefined;
    /** The lock inode we are watching and since when (our monotonic clock): the lease. */
    let watched: { ino: bigint; since: number } | undefined;
    // We let another waiter go first, but not for longer than a lease (it may be paused itself).
    const politeUntil = performance.now() + this.leaseMs;
    try {
      for (;;) {
        if (rangDoorbell || !(await this.othersWaiting()) || performance.now() >= politeUntil) {
          try {
            await this.storage.link(this.identityPath, this.lockPath);
            this.isHeld = true;
            return { brokeStale };
          } catch (error) {
            if (errorCode(error) === 'ENOENT') {
              // Our identity file is gone (removed by hand, or by an older version's breaker):
              // write it again rather than failing every later append.
              this.identityIno = undefined;
              identityIno = await this.ensureIdentity();
              continue;
            }
            if (errorCode(error) !== 'EEXIST') throw error;
          }
          const inspection = await this.inspect();
          if (inspection === undefined) continue; // released meanwhile: try again at once
          lastHolder = inspection.holder;
          const now = performance.now();
          if (watched?.ino !== inspection.ino) watched = { ino: inspection.ino, since: now };
          // The same lock stayed put for a whole lease while a doorbell was up (ours or another
          // waiter's): a live holder would have released it after its current batch.
          const leaseOver = timeoutMs > 0 && now - watched.since >= this.leaseMs;
          if (inspection.stale || leaseOver) {
            if (await this.breakStale(inspection)) {
              brokeStale = true;
              continue;
            }
          } else if (!rangDoorbell && timeoutMs > 0) {
            rangDoorbell = await this.ringDoorbell();
          }
        }
        const waited = Date.now() - started;
        if (waited >= timeoutMs) {
          throw new JournalLockedError(this.journal, this.lockPath, waited, lastHolder);
        }
        await sleep(Math.min(backoff * (0.5 + Math.random()), timeoutMs - waited));
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      }
    } finally {
      if (rangDoorbell) await this.removeIfOurs(this.wantPath, identityIno);
    }
  }

  async release(): Promise<void> {
    if (!this.isHeld) return;
    this.isHeld = false;
    if (this.identityIno !== undefined) await this.removeIfOurs(this.lockPath, this.identityIno);
  }

  /** True when another live process rang the doorbell: it should get the lock next. */
  async othersWaiting(): Promise<boolean> {
    let info;
    try {
      info = await this.storage.stat(this.wantPath, { bigint: true });
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return false;
      throw error;
    }
    if (info.ino === this.identityIno) return false;
    const holder = await this.readHolder(this.wantPath);
    if (holder !== undefined && !holderIsDead(holder, this.bootId(), this.pidNamespace()))
      return true;
    if (holder === undefined && Date.now() - Number(info.mtimeMs) < UNREADABLE_STALE_MS) {
      return true;
    }
    // The waiter died: take its doorbell down (a live waiter whose fresh doorbell this removes
    // by accident simply rings again on its next attempt).
    await this.storage.unlink(this.wantPath).catch(() => undefined);
    return false;
  }

  /** Releases the lock if held and removes this process's identity file. */
  async dispose(): Promise<void> {
    await this.release();
    if (this.identityIno !== undefined) {
      await this.storage.unlink(this.identityPath).catch(() => undefined);
      this.identityIno = undefined;
    }
  }

  /** Removes identity files of dead processes and leftovers of interrupted lock breaks. */
  async sweepLeftovers(): Promise<void> {
    for (const entry of await this.storage.readdir(this.dir)) {
      const path = join(this.dir, entry);
      if (entry.startsWith(IDENTITY_PREFIX) && entry !== IDENTITY_PREFIX + this.token) {
        const holder = await this.readHolder(path);
        if (holder !== undefined && holderIsDead(holder, this.bootId(), this.pidNamespace()))
          await this.storage.unlink(path).catch(() => undefined);
      } else if (entry.startsWith(BROKEN_PREFIX)) {
        await this.storage.unlink(path).catch(() => undefined);
      }
    }
  }

  private bootId(): string {
    return this.storage.bootId?.() ?? '';
  }

  private pidNamespace(): string {
    return this.storage.pidNamespace?.() ?? '';
  }

  private async ensureIdentity(): Promise<bigint> {
    if (this.identityIno !== undefined) return this.identityIno;
    const holder: LockHolder = {
      pid: process.pid,
      host: hostname(),
      bootId: this.bootId(),
      pidNamespace: this.storage.pidNamespace?.() ?? '',
      token: this.token,
    };
    await this.storage.writeFile(
      this.identityPath,
      JSON.stringify({ ...holder, journal: this.journal }),
      {
        flag: 'wx',
      },
    );
    this.identityIno = (await this.storage.stat(this.identityPath, { bigint: true })).ino;
    return this.identityIno;
  }

  private async ringDoorbell(): Promise<boolean> {
    try {
      await this.storage.link(this.identityPath, this.wantPath);
      return true;
    } catch (error) {
      if (errorCode(error) === 'EEXIST') return false; // someone is already waiting
      throw error;
    }
  }

  private async readHolder(path: string): Promise<LockHolder | undefined> {
    try {
      return parseHolder(await readFileText(this.storage, path));
    } catch {
      return undefined;
    }
  }

  /** Reads the lock file and its inode together (through one descriptor). */
  private async inspect(): Promise<Inspection | undefined> {
    let handle;
    try {
      handle = await this.storage.open(this.lockPath, 'r');
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return undefined;
      throw error;
    }
    try {
      const info = await handle.stat({ bigint: true });
      const holder = parseHolder(await handle.readFile('utf8'));
      const stale =
        holder === undefined
          ? Date.now() - Number(info.mtimeMs) >= UNREADABLE_STALE_MS
          : holderIsDead(holder, this.bootId(), this.pidNamespace());
      return { holder, ino: info.ino, dev: info.dev, stale };
    } finally {
      await handle.close();
    }
  }

  /** Moves a stale lock out of the way; true when exactly the inspected stale file was removed. */
  private async breakStale(stale: Inspection): Promise<boolean> {
    const aside = join(this.dir, BROKEN_PREFIX + this.token);
    try {
      await this.storage.rename(this.lockPath, aside);
    } catch (error) {
      if (errorCode(error) === 'ENOENT') return false; // another breaker or the holder got there
      throw error;
    }
    const moved = await this.storage.stat(aside, { bigint: true });
    if (moved.ino === stale.ino && moved.dev === stale.dev) {
      await this.storage.unlink(aside);
      // Only a dead holder's identity goes: one whose lease ran out may be alive (paused), and
      // will want its identity to take the lock again.
      if (stale.holder !== undefined && stale.stale) {
        await this.storage
          .unlink(join(this.dir, IDENTITY_PREFIX + stale.holder.token))
          .catch(() => undefined);
      }
      return true;
    }
    // We displaced a fresh lock someone took after our inspection: put it back.
    await this.storage.link(aside, this.lockPath).catch(() => undefined);
    await this.storage.unlink(aside);
    return false;
  }

  private async removeIfOurs(path: string, ino: bigint): Promise<void> {
    try {
      if ((await this.storage.stat(path, { bigint: true })).ino === ino)
        await this.storage.unlink(path);
    } catch (error) {
      if (errorCode(error) !== 'ENOENT') throw error;
    }
  }
}

async function readFileText(storage: JournalStorage, path: string): Promise<string> {
  const handle = await storage.open(path, 'r');
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
