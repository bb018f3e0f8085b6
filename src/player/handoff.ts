import type { Author } from '../wire/types.js';
import { checkAuthor } from '../fsm.js';
import { handoffAlreadyRequested } from './errors.js';

/** How a Player is asked to finish. */
export type HandoffRequest = { kind: 'finish' } | { kind: 'inject'; author: Author };

function describe(request: HandoffRequest): string {
  return request.kind === 'finish' ? 'finishAtWriteHead()' : `injectHandoff(${request.author})`;
}

/**
 * Carries the single finish request from the caller to the playback loop. It may be posted
 * before playback starts; posting wakes a blocking read so the loop notices it while tailing.
 */
export class HandoffMailbox {
  #request: HandoffRequest | undefined;
  #taken = false;
  readonly #wake = new AbortController();

  post(request: HandoffRequest): void {
    if (request.kind === 'inject') {
      checkAuthor(request.author, 'hand-off');
    }
    if (this.#request !== undefined) {
      throw handoffAlreadyRequested(describe(this.#request), describe(request));
    }
    this.#request = request;
    this.#wake.abort();
  }

  /** The request, once: later calls return undefined. */
  take(): HandoffRequest | undefined {
    if (this.#request === undefined || this.#taken) return undefined;
    this.#taken = true;
    return this.#request;
  }

  /**
   * A signal that fires when a request is posted, for interrupting a blocking read; undefined
   * once the request was taken (nothing more can arrive).
   */
  interruptSignal(): AbortSignal | undefined {
    return this.#taken ? undefined : this.#wake.signal;
  }
}
