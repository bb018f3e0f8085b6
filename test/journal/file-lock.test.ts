/**
 * file-lock.ts: the file journal's advisory append lock, on node:fs in a temporary directory.
 * Other holders are written by hand (identity file + link), as another process would leave them.
 */
import assert from 'node:assert/strict';
import { link, mkdtemp, readFile, readdir, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { JournalLockedError } from '../../src/journal/errors.js';
import { DirectoryLock, holderIsDead, type LockHolder } from '../../src/journal/file-lock.js';
import { nodeStorage, type JournalStorage } from '../../src/journal/storage.js';

/** Far above any Linux pid_max: no such process. */
const NO_SUCH_PID = 2 ** 30;
const BOOT = nodeStorage.bootId?.() ?? '';
const PID_NS = nodeStorage.pidNamespace?.() ?? '';

function holder(overrides: Partial<LockHolder> = {}): LockHolder {
  return {
    pid: process.pid,
    host: hostname(),
    bootId: BOOT,
    pidNamespace: PID_NS,
    token: 'abcdef0123456789',
    ...overrides,
  };
}

describe('journal file lock', () => {
  let dir: string;
  const locks: DirectoryLock[] = [];
  const lock = (leaseMs?: number, storage: JournalStorage = nodeStorage): DirectoryLock => {
    const made = new DirectoryLock(storage, dir, 'test/journal', leaseMs);
    locks.push(made);
    return made;
  };
  /** Writes another process's identity file and, with `asLock`, links it as the lock. */
  const plant = async (who: LockHolder, asLock = 'lock'): Promise<string> => {
    const identity = join(dir, `lock.${who.token}`);
    await writeFile(identity, JSON.stringify(who), { flag: 'wx' }).catch(() => undefined);
    await link(identity, join(dir, asLock));
    return identity;
  };
  const inode = async (path: string): Promise<bigint> => (await stat(path, { bigint: true })).ino;
  const exists = (path: string): Promise<boolean> =>
    stat(path).then(
      () => true,
      () => false,
    );

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'recoverylog-lock-'));
  });
  afterEach(async () => {
    for (const made of locks.splice(0)) await made.dispose().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  });

  describe('holderIsDead', () => {
    it('a holder on another host is never judged dead (only the lease can take its lock)', () => {
      assert.equal(
        holderIsDead(holder({ host: 'elsewhere', pid: NO_SUCH_PID }), BOOT, PID_NS),
        false,
      );
    });

    it('a holder from an earlier boot of this host is dead', () => {
      assert.equal(holderIsDead(holder({ bootId: 'an-earlier-boot' }), 'this-boot', PID_NS), true);
    });

    it('a holder in another pid namespace is not judged by its pid', () => {
      assert.equal(
        holderIsDead(holder({ pid: NO_SUCH_PID, pidNamespace: 'pid:[1]' }), BOOT, 'pid:[2]'),
        false,
      );
    });

    it('without our pid namespace, a pid proves nothing', () => {
      assert.equal(holderIsDead(holder({ pid: NO_SUCH_PID }), BOOT, ''), false);
    });

    it('a live pid in our namespace is alive', () => {
      assert.equal(holderIsDead(holder({ pidNamespace: 'ns' }), BOOT, 'ns'), false);
    });

    it('a pid that does not exist in our namespace is dead', () => {
      assert.equal(
        holderIsDead(holder({ pid: NO_SUCH_PID, pidNamespace: 'ns' }), BOOT, 'ns'),
        true,
      );
    });
  });

  describe('DirectoryLock', () => {
    it('acquiring links this process identity file as `lock`', async () => {
      const mine = lock();
      assert.deepEqual(await mine.acquire(0), { brokeStale: false });
      assert.equal(mine.held, true);
      const identity = join(dir, `lock.${mine.token}`);
      assert.equal(await inode(join(dir, 'lock')), await inode(identity));
      const written = JSON.parse(await readFile(identity, 'utf8')) as Record<string, unknown>;
      assert.equal(written.pid, process.pid);
      assert.equal(written.host, hostname());
      assert.equal(written.token, mine.token);
      assert.equal(written.journal, 'test/journal');
    });

    it('a second attempt while held is JournalLockedError naming the live holder', async () => {
      const first = lock();
      await first.acquire(0);
      await assert.rejects(lock().acquire(0), (error: unknown) => {
        assert.ok(error instanceof JournalLockedError);
        assert.equal(error.holderPid, process.pid);
        assert.equal(error.holderHost, hostname());
        return true;
      });
    });

    it('acquiring a lock already held by this object does nothing', async () => {
      const mine = lock();
      await mine.acquire(0);
      assert.deepEqual(await mine.acquire(0), { brokeStale: false });
    });

    it('release removes the lock; releasing again does nothing', async () => {
      const mine = lock();
      await mine.acquire(0);
      await mine.release();
      assert.equal(mine.held, false);
      assert.equal(await exists(join(dir, 'lock')), false);
      await mine.release();
    });

    it('release leaves alone a lock that is no longer ours', async () => {
      const mine = lock();
      await mine.acquire(0);
      await rm(join(dir, 'lock'));
      const other = await plant(holder());
      await mine.release();
      assert.equal(await inode(join(dir, 'lock')), await inode(other));
    });

    it('dispose releases the lock and removes the identity file', async () => {
      const mine = lock();
      await mine.acquire(0);
      await mine.dispose();
      assert.deepEqual(await readdir(dir), []);
    });

    it('writes its identity again when it was removed meanwhile', async () => {
      const mine = lock();
      await mine.acquire(0);
      await mine.release();
      await rm(join(dir, `lock.${mine.token}`));
      await mine.acquire(0);
      assert.equal(await inode(join(dir, 'lock')), await inode(join(dir, `lock.${mine.token}`)));
    });

    it('breaks the lock of a dead holder at once, and removes its identity', async () => {
      const dead = await plant(holder({ pid: NO_SUCH_PID, pidNamespace: 'ns' }));
      const mine = lock(undefined, { ...nodeStorage, pidNamespace: () => 'ns' });
      assert.deepEqual(await mine.acquire(0), { brokeStale: true });
      assert.equal(await exists(dead), false);
      assert.equal(await inode(join(dir, 'lock')), await inode(join(dir, `lock.${mine.token}`)));
    });

    it('breaks the lock of a holder from an earlier boot', async () => {
      const storage: JournalStorage = { ...nodeStorage, bootId: () => 'this-boot' };
      await plant(holder({ bootId: 'an-earlier-boot' }));
      assert.deepEqual(await lock(undefined, storage).acquire(0), { brokeStale: true });
    });

    it('does not break a fresh unreadable lock file (a holder still writing it)', async () => {
      await writeFile(join(dir, 'lock'), '{"pid":');
      await assert.rejects(lock().acquire(0), (error: unknown) => {
        assert.ok(error instanceof JournalLockedError);
        assert.equal(error.holderPid, undefined);
        return true;
      });
    });

    it('breaks an unreadable lock file once it is old (a leftover of an OS crash)', async () => {
      await writeFile(join(dir, 'lock'), '{"pid":');
      const old = new Date(Date.now() - 60_000);
      await utimes(join(dir, 'lock'), old, old);
      assert.deepEqual(await lock().acquire(0), { brokeStale: true });
    });

    it('takes the lock of a live holder that leaves the doorbell unanswered for a lease, keeping its identity', async () => {
      const paused = await plant(holder());
      const mine = lock(30);
      assert.deepEqual(await mine.acquire(2_000), { brokeStale: true });
      assert.equal(await exists(paused), true, 'a holder that lost its lease may be alive');
      assert.equal(await exists(join(dir, 'lock-want')), false, 'the doorbell is taken down');
    });

    it('rings the doorbell while waiting; the holder sees it and its release hands over the lock', async () => {
      const holding = lock();
      await holding.acquire(0);
      const waiting = lock();
      const acquired = waiting.acquire(5_000);
      while (!(await holding.othersWaiting())) await new Promise((r) => setTimeout(r, 2));
      await holding.release();
      assert.deepEqual(await acquired, { brokeStale: false });
      assert.equal(waiting.held, true);
      assert.equal(await exists(join(dir, 'lock-want')), false);
    });

    it('does not take a free lock while another live process rings the doorbell', async () => {
      await plant(holder(), 'lock-want');
      await assert.rejects(lock().acquire(0), JournalLockedError);
      assert.equal(await exists(join(dir, 'lock')), false);
    });

    it('othersWaiting ignores a doorbell that is our own identity', async () => {
      const mine = lock();
      await mine.acquire(0);
      await link(join(dir, `lock.${mine.token}`), join(dir, 'lock-want'));
      assert.equal(await mine.othersWaiting(), false);
    });

    it('othersWaiting takes down the doorbell of a dead waiter', async () => {
      await plant(holder({ pid: NO_SUCH_PID, pidNamespace: 'ns' }), 'lock-want');
      const mine = lock(undefined, { ...nodeStorage, pidNamespace: () => 'ns' });
      assert.equal(await mine.othersWaiting(), false);
      assert.equal(await exists(join(dir, 'lock-want')), false);
    });

    it('othersWaiting counts a fresh unreadable doorbell as a waiter', async () => {
      await writeFile(join(dir, 'lock-want'), '');
      assert.equal(await lock().othersWaiting(), true);
    });

    it('puts back a fresh lock taken between its inspection and its break, and keeps waiting', async () => {
      const fresh = holder({ token: '0123456789abcdef' });
      // The fresh holder's identity exists before the stale lock goes (as with a real process).
      const freshIdentity = join(dir, `lock.${fresh.token}`);
      await writeFile(freshIdentity, JSON.stringify(fresh));
      let swapped = false;
      const racing: JournalStorage = {
        ...nodeStorage,
        rename: async (from, to) => {
          if (!swapped && from === join(dir, 'lock')) {
            // Between the breaker's look and its rename, the stale lock goes and a live one comes.
            swapped = true;
            await rm(from);
            await link(freshIdentity, from);
          }
          return nodeStorage.rename(from, to);
        },
      };
      await writeFile(join(dir, 'lock'), 'unreadable');
      const old = new Date(Date.now() - 60_000);
      await utimes(join(dir, 'lock'), old, old);
      await assert.rejects(lock(undefined, racing).acquire(0), JournalLockedError);
      assert.ok(swapped);
      assert.equal(await inode(join(dir, 'lock')), await inode(freshIdentity));
      assert.deepEqual(
        (await readdir(dir)).filter((entry) => entry.startsWith('lock-broken.')),
        [],
      );
    });

    it('sweepLeftovers removes dead holders identities and interrupted breaks, nothing else', async () => {
      const storage: JournalStorage = { ...nodeStorage, bootId: () => 'this-boot' };
      const dead = join(dir, 'lock.1111111111111111');
      const alive = join(dir, 'lock.2222222222222222');
      await writeFile(
        dead,
        JSON.stringify(holder({ bootId: 'earlier', token: '1111111111111111' })),
      );
      await writeFile(
        alive,
        JSON.stringify(holder({ bootId: 'this-boot', token: '2222222222222222' })),
      );
      await writeFile(join(dir, 'lock-broken.3333333333333333'), '');
      await writeFile(join(dir, 'journal.json'), '{}');
      const mine = lock(undefined, storage);
      await mine.acquire(0);
      await mine.sweepLeftovers();
      assert.deepEqual(
        (await readdir(dir)).sort(),
        ['journal.json', 'lock', 'lock.2222222222222222', `lock.${mine.token}`].sort(),
      );
    });
  });
});
