/** Authors: who wrote an op (a Recorder, or a hand-off), and the journal fence that goes with one. */
import { randomInt } from 'node:crypto';
import { InvalidArgumentError } from './errors.js';
import type { Registers } from './journal/journal.js';
import type { Author } from './wire/types.js';

/**
 * Throws InvalidArgumentError (reason Author) unless `a` can be an Author: a uint32 other than 0
 * (of a Recorder or a hand-off).
 */
export function checkAuthor(a: number, role: string): void {
  if (!Number.isInteger(a) || a < 1 || a > 0xffffffff) {
    throw new InvalidArgumentError(
      'Author',
      `invalid ${role} author ${String(a)}: an author is an integer in [1, 4294967295]; ` +
        'use newRandomAuthor() (one per process)',
    );
  }
}

/** A random Author in [1, 2^32 - 2] from a cryptographic source (0 is never an author). */
export function newRandomAuthor(): Author {
  return randomInt(1, 0xffffffff);
}

/**
 * The journal registers that fence appends to this author: `{ author: <base-32, digits 0-9a-v> }`
 * (Gazette's `Author.Fence()`), e.g. 1234 -> "16i".
 */
export function authorFence(a: Author): Registers {
  return { author: (a >>> 0).toString(32) };
}
