import type { FSMHints, Segment } from '../../src/wire/types.js';

/** A segment with zero defaults, written like Gazette's table literals. */
export function seg(fields: Partial<Segment>): Segment {
  return {
    author: 0,
    firstSeqNo: 0,
    firstOffset: 0,
    firstChecksum: 0,
    lastSeqNo: 0,
    lastOffset: 0,
    log: '',
    ...fields,
  };
}

/** FSMHints with empty defaults. */
export function hints(fields: Partial<FSMHints>): FSMHints {
  return { log: '', liveNodes: [], properties: [], ...fields };
}
