/**
 * Blocking reads parked until the committed head passes their offset. Shared by the journal
 * implementations; the file journal uses the first/last-waiter callbacks to watch the directory
 * for other processes' commits only while someone is actually waiting.
 */
import { invalidReadOffset, JournalReadAbortedError } from './errors.js';

interface Waiter {
  readonly offset: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

export interface HeadWaitersEvents {
  /** A first reader started waiting. */
  onFirstWaiter?: () => void;
  /** The last waiting reader left (woken, aborted or rejected). */
  onNoWaiters?: () => void;
}

export class HeadWaiters {
  private readonly waiters = new Set<Waiter>();

  constructor(
    private readonly journal: string,
    private readonly events: HeadWaitersEvents = {},
  ) {}

  get size(): number {
    return this.waiters.size;
  }

  /** Resolves once `notify` reports a head beyond `offset`; rejects when `signal` aborts. */
  wait(offset: number, signal: AbortSignal | undefined): Promise<void> {
    if (signal?.aborted) {
      return Promise.reject(new JournalReadAbortedError(this.journal, offset, signal.reason));
    }
    return new Promise<void>((resolve, reject) => {
      const onAbort = (): void => {
        if (this.remove(waiter)) {
          reject(new JournalReadAbortedError(this.journal, offset, signal?.reason));
        }
      };
      const waiter: Waiter = {
        offset,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve();
        },
        reject: (error) => {
          signal?.removeEventListener('abort', onAbort);
          reject(error);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
      if (this.waiters.size === 1) this.events.onFirstWaiter?.();
    });
  }

  /** Wakes every waiter whose offset is now below `head`. */
  notify(head: number): void {
    if (this.waiters.size === 0) return; // every commit calls this: no copy when nobody waits
    for (const waiter of [...this.waiters]) {
      if (waiter.offset < head && this.remove(waiter)) waiter.resolve();
    }
  }

  rejectAll(error: unknown): void {
    for (const waiter of [...this.waiters]) {
      if (this.remove(waiter)) waiter.reject(error);
    }
  }

  private remove(waiter: Waiter): boolean {
    if (!this.waiters.delete(waiter)) return false;
    if (this.waiters.size === 0) this.events.onNoWaiters?.();
    return true;
  }
}

/** Throws InvalidArgumentError (reason ReadOffset) unless `offset` is an integer in [0, 2^53). */
export function checkReadOffset(journal: string, offset: number): void {
  if (!Number.isSafeInteger(offset) || offset < 0) throw invalidReadOffset(journal, offset);
}

/** Default upper bound on one read's result: big enough for sequential throughput. */
export const DEFAULT_MAX_READ_BYTES = 1024 * 1024;

/** How many of `available` bytes one read returns, honouring the caller's `maxBytes` hint. */
export function readLength(available: number, maxBytes: number | undefined): number {
  const limit =
    maxBytes === undefined || !Number.isFinite(maxBytes)
      ? DEFAULT_MAX_READ_BYTES
      : Math.max(1, Math.floor(maxBytes));
  return Math.min(available, limit);
}
