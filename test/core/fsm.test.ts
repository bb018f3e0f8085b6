import assert from 'node:assert/strict';
import {
  authorFence,
  ErrChecksumMismatch,
  ErrFnodeNotTracked,
  ErrNotHintedAuthor,
  ErrWrongSeqNo,
  FSM,
  FSM_ERROR_TEXT,
  FSMError,
  type FSMErrorCode,
  newRandomAuthor,
} from '../../src/fsm.js';
import { HintsValidationError, liveLogSegments } from '../../src/hints.js';
import { encodeRecordedOp } from '../../src/wire/codec.js';
import type { Author, Fnode, RecordedOp, Segment } from '../../src/wire/types.js';
import { seg, hints } from '../helpers/fixtures.js';

const aRecoveryLog = 'examples/integration-tests/recovery-log';

/** Everything observable about an FSM, to check that refused ops change nothing. */
function snapshot(fsm: FSM): unknown {
  return {
    nextSeqNo: fsm.nextSeqNo,
    nextChecksum: fsm.nextChecksum,
    lastLog: fsm.lastLog,
    properties: [...fsm.properties],
    links: [...fsm.links],
    liveNodes: [...fsm.liveNodes].map(([f, n]) => [
      f,
      [...n.links],
      n.segments.map((s) => ({ ...s })),
    ]),
    hintedSegments: fsm.hintedSegments.map((s) => ({ ...s })),
    hintedFnodes: [...fsm.hintedFnodes],
  };
}

type Body = Pick<RecordedOp, 'create' | 'link' | 'unlink' | 'write' | 'property'>;

/**
 * Gazette's FSMSuite convention: instead of encoded ops, the FSM digests the decimal text of a
 * counter that advances on every apply (refused ones included), and the counter is also the op's
 * offset. So the checksums in these tests are CRC-32C chains over "1", "2", ...
 */
class Suite {
  offset = 0;
  constructor(public fsm: FSM) {}

  /** Returns the FSM error code, or undefined when the op applied. */
  apply(seqNo: number, checksum: number, author: Author, body: Body): FSMErrorCode | undefined {
    this.offset++;
    const frame = new TextEncoder().encode(String(this.offset));
    const op: RecordedOp = {
      seqNo,
      checksum,
      author,
      ...body,
      firstOffset: this.offset,
      lastOffset: this.offset + 1,
      log: aRecoveryLog,
    };
    const before = snapshot(this.fsm);
    try {
      this.fsm.apply(op, frame);
      return undefined;
    } catch (err) {
      if (!(err instanceof FSMError)) throw err;
      assert.ok(
        err.message.startsWith(FSM_ERROR_TEXT[err.code]),
        `message ${JSON.stringify(err.message)} must start with Gazette's text`,
      );
      if (err.code === 'ErrFnodeNotTracked') {
        // The op was sequenced: SeqNo and checksum advanced.
        assert.notDeepEqual(snapshot(this.fsm), before);
      } else {
        // Every other refusal leaves the FSM exactly as it was.
        assert.deepStrictEqual(snapshot(this.fsm), before);
      }
      return err.code;
    }
  }
  create(seqNo: number, checksum: number, author: Author, path: string) {
    return this.apply(seqNo, checksum, author, { create: { path } });
  }
  link(seqNo: number, checksum: number, author: Author, fnode: Fnode, path: string) {
    return this.apply(seqNo, checksum, author, { link: { fnode, path } });
  }
  unlink(seqNo: number, checksum: number, author: Author, fnode: Fnode, path: string) {
    return this.apply(seqNo, checksum, author, { unlink: { fnode, path } });
  }
  write(seqNo: number, checksum: number, author: Author, fnode: Fnode) {
    // The FSM ignores a write's offset and length (they only reach it through the checksum).
    return this.apply(seqNo, checksum, author, { write: { fnode, offset: 0, length: 0 } });
  }
  property(seqNo: number, checksum: number, author: Author, path: string, content: string) {
    return this.apply(seqNo, checksum, author, { property: { path, content } });
  }
}

function node(links: string[], segments: Segment[]) {
  return { links: new Set(links), segments };
}

describe('FSM (fsm_test.go FSMSuite)', () => {
  it('TestInitFromSeqNoZero: empty hints start at SeqNo 1, checksum 0', () => {
    const s = new Suite(new FSM(hints({ log: aRecoveryLog })));
    assert.equal(s.create(1, 0x00000000, 100, '/path/A'), undefined);
    assert.equal(s.link(2, 0x90f599e3, 100, 1, '/path/B'), undefined);
    assert.equal(s.fsm.nextChecksum, 0x7355c460);
    assert.equal(s.fsm.nextSeqNo, 3);
    assert.equal(s.fsm.lastLog, aRecoveryLog);
  });

  it('TestFlatteningLiveLogSegments: flattening hinted segments, and its errors', () => {
    const h = hints({
      log: 'other/log',
      liveNodes: [
        {
          fnode: 2,
          segments: [
            seg({
              author: 0x1,
              firstSeqNo: 2,
              lastSeqNo: 7,
              firstOffset: 200,
              lastOffset: 700,
              firstChecksum: 0x22,
              log: aRecoveryLog,
            }),
          ],
        },
        {
          fnode: 4,
          segments: [
            seg({
              author: 0x1,
              firstSeqNo: 4,
              lastSeqNo: 9,
              firstOffset: 400,
              lastOffset: 901,
              firstChecksum: 0x44,
              log: aRecoveryLog,
            }),
          ],
        },
        {
          fnode: 10,
          segments: [
            seg({
              author: 0x2,
              firstSeqNo: 10,
              lastSeqNo: 10,
              firstOffset: 1000,
              lastOffset: 1001,
              firstChecksum: 0x10,
            }),
          ],
        },
      ],
    });
    const { fnodes, segments } = liveLogSegments(h);
    assert.deepStrictEqual(fnodes, [2, 4, 10]);
    assert.deepStrictEqual(
      [...segments],
      [
        seg({
          author: 0x1,
          firstSeqNo: 2,
          lastSeqNo: 9,
          firstOffset: 200,
          lastOffset: 901,
          firstChecksum: 0x22,
          log: aRecoveryLog,
        }),
        seg({
          author: 0x2,
          firstSeqNo: 10,
          lastSeqNo: 10,
          firstOffset: 1000,
          lastOffset: 1001,
          firstChecksum: 0x10,
          log: 'other/log',
        }),
      ],
    );

    const fails = (message: RegExp) =>
      assert.throws(
        () => liveLogSegments(h),
        (err: unknown) =>
          err instanceof HintsValidationError &&
          err.code === 'HintsValidation' &&
          message.test(err.message),
      );
    // The last flattened segment must be in the hints' log.
    h.liveNodes[2]!.segments[0]!.log = 'whoops';
    fails(/^expected hints\.Log other\/log to equal the last Segment Log whoops/);
    // An Fnode must equal the FirstSeqNo of its first segment.
    h.liveNodes.push({ fnode: 13, segments: [seg({ firstSeqNo: 14 })] });
    fails(/^expected Fnode to match Segment FirstSeqNo: .*/);
    // Segments must be consistent.
    h.liveNodes[1]!.segments[0]!.author = 0x3;
    fails(/^expected Segment Author equality: .*/);
    // Fnodes must be ordered.
    [h.liveNodes[0], h.liveNodes[1]] = [h.liveNodes[1]!, h.liveNodes[0]!];
    fails(/^expected monotonic Fnode ordering: .*/);
  });

  it('TestInitializationFromHints: starts at the first hinted segment, exact offsets in hints', () => {
    const h = hints({
      log: aRecoveryLog,
      liveNodes: [
        {
          fnode: 42,
          segments: [
            // first_offset 1234 is a Recorder lower bound; the op is actually at 1236.
            seg({
              author: 100,
              firstChecksum: 0xfeedbeef,
              firstOffset: 1234,
              firstSeqNo: 42,
              lastSeqNo: 43,
            }),
          ],
        },
      ],
      properties: [{ path: '/IDENTITY', content: 'foo-bar-baz' }],
    });
    const s = new Suite(new FSM(h));
    assert.equal(s.fsm.nextHintedSegment?.firstOffset, 1234);
    assert.equal(s.fsm.nextChecksum, 0xfeedbeef);
    assert.equal(s.fsm.nextSeqNo, 42);
    assert.equal(s.fsm.lastLog, aRecoveryLog);
    assert.deepStrictEqual(s.fsm.properties, new Map([['/IDENTITY', 'foo-bar-baz']]));

    s.offset = 1234; // Jump the counter to the first hinted offset.
    assert.equal(s.create(41, 0xfeedbeef, 100, '/path/A'), 'ErrWrongSeqNo');
    assert.equal(s.create(42, 0xfeedbeef, 100, '/path/A'), undefined);
    assert.equal(s.link(43, 0xc132d1d7, 100, 42, '/path/B'), undefined);

    // Hints now carry the offsets the FSM observed.
    h.liveNodes[0]!.segments[0]!.firstOffset = 1236;
    h.liveNodes[0]!.segments[0]!.lastOffset = 1238;
    assert.deepStrictEqual(s.fsm.buildHints(aRecoveryLog), h);
  });

  it('TestFnodeCreation: creates track fnodes; existing links and properties are refused', () => {
    const s = new Suite(
      new FSM(
        hints({ log: aRecoveryLog, properties: [{ path: '/property/path', content: 'content' }] }),
      ),
    );
    s.fsm.startAt(42, 0xfeedbeef);

    assert.equal(s.create(42, 0xfeedbeef, 100, '/path/A'), undefined);
    assert.equal(s.create(43, 0x2d28e063, 100, '/another/path'), undefined);
    assert.equal(s.create(44, 0xf11e2261, 100, '/path/A'), 'ErrLinkExists');
    assert.equal(s.create(44, 0xf11e2261, 100, '/property/path'), 'ErrPropertyExists');
    assert.equal(s.create(44, 0xf11e2261, 100, '/path/B'), undefined);

    assert.deepStrictEqual(
      s.fsm.links,
      new Map([
        ['/path/A', 42],
        ['/another/path', 43],
        ['/path/B', 44],
      ]),
    );
    assert.deepStrictEqual(
      s.fsm.liveNodes,
      new Map([
        [
          42,
          node(
            ['/path/A'],
            [
              seg({
                author: 100,
                firstSeqNo: 42,
                firstOffset: 1,
                firstChecksum: 0xfeedbeef,
                lastSeqNo: 42,
                lastOffset: 2,
                log: aRecoveryLog,
              }),
            ],
          ),
        ],
        [
          43,
          node(
            ['/another/path'],
            [
              seg({
                author: 100,
                firstSeqNo: 43,
                firstOffset: 2,
                firstChecksum: 0x2d28e063,
                lastSeqNo: 43,
                lastOffset: 3,
                log: aRecoveryLog,
              }),
            ],
          ),
        ],
        [
          44,
          node(
            ['/path/B'],
            [
              seg({
                author: 100,
                firstSeqNo: 44,
                firstOffset: 5,
                firstChecksum: 0xf11e2261,
                lastSeqNo: 44,
                lastOffset: 6,
                log: aRecoveryLog,
              }),
            ],
          ),
        ],
      ]),
    );
  });

  it('TestFnodeCreationNotHinted: a create that is not the next hinted fnode is not tracked', () => {
    const s = new Suite(
      new FSM(
        hints({
          log: aRecoveryLog,
          liveNodes: [
            {
              fnode: 42,
              segments: [
                seg({
                  author: 100,
                  firstChecksum: 0xfeedbeef,
                  firstOffset: 1234,
                  firstSeqNo: 42,
                  lastSeqNo: 100,
                }),
              ],
            },
            {
              fnode: 44,
              segments: [
                seg({
                  author: 100,
                  firstChecksum: 0xf11e2261,
                  firstOffset: 1234,
                  firstSeqNo: 44,
                  lastSeqNo: 100,
                }),
              ],
            },
          ],
        }),
      ),
    );
    s.fsm.startAt(42, 0xfeedbeef);

    assert.equal(s.create(42, 0xfeedbeef, 100, '/path/A'), undefined);
    assert.equal(s.create(43, 0x2d28e063, 100, '/another/path'), 'ErrFnodeNotTracked');
    assert.equal(s.create(44, 0xf11e2261, 100, '/final/path'), undefined);

    assert.deepStrictEqual(
      s.fsm.links,
      new Map([
        ['/path/A', 42],
        ['/final/path', 44],
      ]),
    );
    assert.deepStrictEqual(
      s.fsm.liveNodes,
      new Map([
        [
          42,
          node(
            ['/path/A'],
            [
              seg({
                author: 100,
                firstSeqNo: 42,
                firstOffset: 1,
                firstChecksum: 0xfeedbeef,
                lastSeqNo: 42,
                lastOffset: 2,
                log: aRecoveryLog,
              }),
            ],
          ),
        ],
        [
          44,
          node(
            ['/final/path'],
            [
              seg({
                author: 100,
                firstSeqNo: 44,
                firstOffset: 3,
                firstChecksum: 0xf11e2261,
                lastSeqNo: 44,
                lastOffset: 4,
                log: aRecoveryLog,
              }),
            ],
          ),
        ],
      ]),
    );
    assert.equal(s.fsm.hasRemainingHints(), true); // The hinted segment runs to SeqNo 100.
  });

  it('TestHintedFnodeNotCreated: a non-create at a hinted fnode SeqNo is refused', () => {
    const s = new Suite(
      new FSM(
        hints({
          log: aRecoveryLog,
          liveNodes: [
            {
              fnode: 42,
              segments: [
                seg({
                  author: 100,
                  firstChecksum: 0xfeedbeef,
                  firstOffset: 1234,
                  firstSeqNo: 42,
                  lastSeqNo: 100,
                }),
              ],
            },
            {
              fnode: 44,
              segments: [
                seg({
                  author: 100,
                  firstChecksum: 0xf11e2261,
                  firstOffset: 1234,
                  firstSeqNo: 44,
                  lastSeqNo: 100,
                }),
              ],
            },
          ],
        }),
      ),
    );
    s.fsm.startAt(42, 0xfeedbeef);
    assert.equal(s.create(42, 0xfeedbeef, 100, '/path/A'), undefined);
    assert.equal(s.write(43, s.fsm.nextChecksum, 100, 42), undefined);
    assert.equal(s.write(44, s.fsm.nextChecksum, 100, 42), 'ErrExpectedHintedFnode');
    // A no-op there is a dead branch too.
    assert.equal(s.apply(44, s.fsm.nextChecksum, 100, {}), 'ErrExpectedHintedFnode');
  });

  it('TestFnodeLinking: links, their refusals, and a new author opening a segment', () => {
    const s = new Suite(new FSM(hints({ log: 'empty/log' })));
    s.fsm.startAt(42, 0xfeedbeef);

    assert.equal(s.create(42, 0xfeedbeef, 100, '/existing/path'), undefined);
    assert.equal(s.create(43, 0x2d28e063, 100, '/source/path'), undefined);
    assert.equal(s.link(44, 0xf11e2261, 100, 42, '/target/one'), undefined);
    assert.equal(s.property(45, 0xe292e757, 100, '/property/path', 'content'), undefined);

    assert.equal(s.link(46, 0x2009a120, 100, 43, '/existing/path'), 'ErrLinkExists');
    // The existing path is checked before whether the fnode is tracked.
    assert.equal(s.link(46, 0x2009a120, 100, 15, '/existing/path'), 'ErrLinkExists');
    assert.equal(s.link(46, 0x2009a120, 100, 44, '/property/path'), 'ErrPropertyExists');
    // An unknown fnode is sequenced but not tracked...
    assert.equal(s.link(46, 0x2009a120, 100, 15, '/target/two'), 'ErrFnodeNotTracked');
    // ...so the next op continues from it (0xc8dac550 = 0xfeedbeef + "1234" + "8").
    assert.equal(s.link(47, 0xc8dac550, 200, 43, '/target/two'), undefined);

    assert.deepStrictEqual(
      s.fsm.links,
      new Map([
        ['/existing/path', 42],
        ['/source/path', 43],
        ['/target/one', 42],
        ['/target/two', 43],
      ]),
    );
    assert.deepStrictEqual(
      s.fsm.liveNodes,
      new Map([
        [
          42,
          node(
            ['/existing/path', '/target/one'],
            // The link extended the current author's segment.
            [
              seg({
                author: 100,
                firstSeqNo: 42,
                firstOffset: 1,
                firstChecksum: 0xfeedbeef,
                lastSeqNo: 44,
                lastOffset: 4,
                log: aRecoveryLog,
              }),
            ],
          ),
        ],
        [
          43,
          node(
            ['/source/path', '/target/two'],
            [
              seg({
                author: 100,
                firstSeqNo: 43,
                firstOffset: 2,
                firstChecksum: 0x2d28e063,
                lastSeqNo: 43,
                lastOffset: 3,
                log: aRecoveryLog,
              }),
              // A different author appended a new segment.
              seg({
                author: 200,
                firstSeqNo: 47,
                firstOffset: 9,
                firstChecksum: 0xc8dac550,
                lastSeqNo: 47,
                lastOffset: 10,
                log: aRecoveryLog,
              }),
            ],
          ),
        ],
      ]),
    );
    assert.deepStrictEqual(s.fsm.properties, new Map([['/property/path', 'content']]));
  });

  it('TestFnodeUnlinking: unlinks, their refusals, and fnodes leaving the hints', () => {
    const s = new Suite(new FSM(hints({ log: 'empty/log' })));
    s.fsm.startAt(42, 0xfeedbeef);

    assert.equal(s.create(42, 0xfeedbeef, 100, '/path/A'), undefined);
    assert.equal(s.create(43, 0x2d28e063, 100, '/another/path'), undefined);
    assert.equal(s.link(44, 0xf11e2261, 200, 43, '/link/one'), undefined);
    assert.equal(s.fsm.links.size, 3);

    assert.equal(s.unlink(45, 0xe292e757, 200, 43, '/does/not/exist'), 'ErrNoSuchLink');
    // A path that exists, but is a link of another fnode.
    assert.equal(s.unlink(45, 0xe292e757, 200, 42, '/another/path'), 'ErrNoSuchLink');
    // Unknown fnode: sequenced, not tracked.
    assert.equal(s.unlink(45, 0xe292e757, 200, 15, '/some/path'), 'ErrFnodeNotTracked');

    // First unlink of 43: one link remains, both fnodes live.
    assert.equal(s.unlink(46, 0xc132d1d7, 200, 43, '/another/path'), undefined);
    assert.deepStrictEqual(
      s.fsm.links,
      new Map([
        ['/path/A', 42],
        ['/link/one', 43],
      ]),
    );
    assert.deepStrictEqual(s.fsm.liveNodes.get(43)?.links, new Set(['/link/one']));
    assert.equal(s.fsm.liveNodes.size, 2);

    assert.deepStrictEqual(
      s.fsm.buildHints(aRecoveryLog),
      hints({
        log: aRecoveryLog,
        liveNodes: [
          {
            fnode: 42,
            segments: [
              seg({
                author: 0x64,
                firstSeqNo: 42,
                firstOffset: 1,
                firstChecksum: 0xfeedbeef,
                lastSeqNo: 42,
                lastOffset: 2,
              }),
            ],
          },
          {
            fnode: 43,
            segments: [
              seg({
                author: 0x64,
                firstSeqNo: 43,
                firstOffset: 2,
                firstChecksum: 0x2d28e063,
                lastSeqNo: 43,
                lastOffset: 3,
              }),
              // The unlink extended the fnode's author-200 segment.
              seg({
                author: 0xc8,
                firstSeqNo: 44,
                firstOffset: 3,
                firstChecksum: 0xf11e2261,
                lastSeqNo: 46,
                lastOffset: 8,
              }),
            ],
          },
        ],
      }),
    );

    // Last unlink of 43 destroys it.
    assert.equal(s.unlink(47, 0xb18cc99a, 200, 43, '/link/one'), undefined);
    assert.deepStrictEqual(s.fsm.links, new Map([['/path/A', 42]]));
    assert.equal(s.fsm.liveNodes.size, 1);
    assert.deepStrictEqual(
      s.fsm.buildHints(aRecoveryLog),
      hints({
        log: aRecoveryLog,
        liveNodes: [
          {
            fnode: 42,
            segments: [
              seg({
                author: 0x64,
                firstSeqNo: 42,
                firstOffset: 1,
                firstChecksum: 0xfeedbeef,
                lastSeqNo: 42,
                lastOffset: 2,
              }),
            ],
          },
        ],
      }),
    );

    // Create 48, then fully unlink 42.
    assert.equal(s.create(48, 0x11bc1ac9, 300, '/other/path'), undefined);
    assert.equal(s.unlink(49, 0xa102803e, 300, 42, '/path/A'), undefined);
    assert.deepStrictEqual(s.fsm.links, new Map([['/other/path', 48]]));
    assert.equal(s.fsm.liveNodes.size, 1);
    assert.deepStrictEqual(
      s.fsm.buildHints(aRecoveryLog),
      hints({
        log: aRecoveryLog,
        liveNodes: [
          {
            fnode: 48,
            segments: [
              seg({
                author: 0x12c,
                firstSeqNo: 48,
                firstOffset: 9,
                firstChecksum: 0x11bc1ac9,
                lastSeqNo: 48,
                lastOffset: 10,
              }),
            ],
          },
        ],
      }),
    );

    // Unlink 48: nothing is live any more.
    assert.equal(s.unlink(50, 0xa40daee4, 400, 48, '/other/path'), undefined);
    assert.deepStrictEqual(s.fsm.links, new Map());
    assert.equal(s.fsm.liveNodes.size, 0);
    assert.deepStrictEqual(s.fsm.buildHints(aRecoveryLog), hints({ log: aRecoveryLog }));
  });

  it('TestPropertyUpdates: properties are added and overwritten, never onto a link', () => {
    const s = new Suite(
      new FSM(
        hints({ log: aRecoveryLog, properties: [{ path: '/a/property', content: 'content' }] }),
      ),
    );
    s.fsm.startAt(42, 0xfeedbeef);

    assert.equal(s.create(42, 0xfeedbeef, 100, '/a/path'), undefined);
    assert.equal(s.property(43, 0x2d28e063, 100, '/another/property', 'other-content'), undefined);
    assert.deepStrictEqual(
      s.fsm.properties,
      new Map([
        ['/a/property', 'content'],
        ['/another/property', 'other-content'],
      ]),
    );

    assert.equal(s.property(44, 0xf11e2261, 100, '/a/path', 'bad'), 'ErrLinkExists');
    // Overwriting an existing property is allowed (Gazette PR #356: RocksDB may rewrite IDENTITY).
    assert.equal(s.property(44, 0xf11e2261, 100, '/a/property', 'update'), undefined);
    assert.deepStrictEqual(
      s.fsm.properties,
      new Map([
        ['/a/property', 'update'],
        ['/another/property', 'other-content'],
      ]),
    );
  });

  it('TestFnodeWrites: writes extend the segment; writes to unknown fnodes are sequenced', () => {
    const s = new Suite(new FSM(hints({ log: aRecoveryLog })));
    s.fsm.startAt(42, 0xfeedbeef);

    assert.equal(s.create(42, 0xfeedbeef, 100, '/path/A'), undefined);
    assert.equal(s.write(43, 0x2d28e063, 100, 42), undefined);
    assert.equal(s.write(44, 0xf11e2261, 100, 42), undefined);
    assert.equal(s.write(45, 0xe292e757, 100, 15), 'ErrFnodeNotTracked');
    assert.equal(s.write(46, 0x2009a120, 100, 42), undefined);

    assert.deepStrictEqual(
      s.fsm.buildHints(aRecoveryLog),
      hints({
        log: aRecoveryLog,
        liveNodes: [
          {
            fnode: 42,
            segments: [
              seg({
                author: 0x64,
                firstSeqNo: 42,
                firstOffset: 1,
                firstChecksum: 0xfeedbeef,
                lastSeqNo: 46,
                lastOffset: 6,
              }),
            ],
          },
        ],
      }),
    );
  });

  it('TestUseOfHintedAuthors: only hinted authors while hints remain, then anyone', () => {
    const h = hints({
      log: aRecoveryLog,
      liveNodes: [
        {
          fnode: 42,
          segments: [
            seg({ author: 100, firstOffset: 2, firstSeqNo: 42, lastSeqNo: 42, lastOffset: 3 }),
            seg({ author: 200, firstOffset: 5, firstSeqNo: 44, lastSeqNo: 44, lastOffset: 6 }),
            seg({ author: 300, firstOffset: 8, firstSeqNo: 45, lastSeqNo: 45, lastOffset: 9 }),
          ],
        },
        {
          fnode: 46,
          segments: [
            seg({ author: 400, firstOffset: 11, firstSeqNo: 46, lastSeqNo: 47, lastOffset: 13 }),
          ],
        },
      ],
    });
    const s = new Suite(new FSM(h));

    // A "bad" recorder (666) using valid SeqNos and checksums is always refused.
    assert.equal(s.create(42, 0x0, 666, '/evil/path'), 'ErrNotHintedAuthor');
    assert.equal(s.create(42, 0x0, 100, '/good/path'), undefined);

    assert.equal(s.write(43, s.fsm.nextChecksum, 100, 42), 'ErrNotHintedAuthor'); // 200 is next.
    // SeqNo 43 is in no hinted segment: the FSM already expects 44.
    assert.equal(s.write(43, s.fsm.nextChecksum, 200, 15), 'ErrWrongSeqNo');
    assert.equal(s.write(44, 0x0, 200, 42), undefined); // Checksum re-seeded to 0.
    assert.equal(s.write(45, s.fsm.nextChecksum, 200, 42), 'ErrNotHintedAuthor');

    assert.equal(s.write(45, s.fsm.nextChecksum, 666, 42), 'ErrNotHintedAuthor');
    assert.equal(s.write(45, 0x0, 300, 42), undefined);
    assert.equal(s.write(46, s.fsm.nextChecksum, 300, 42), 'ErrNotHintedAuthor');

    assert.equal(s.write(46, s.fsm.nextChecksum, 666, 42), 'ErrNotHintedAuthor');
    assert.equal(s.create(46, 0x0, 400, '/another/path'), undefined);
    assert.equal(s.fsm.hasRemainingHints(), true);
    assert.equal(s.write(47, s.fsm.nextChecksum, 400, 46), undefined);
    assert.equal(s.fsm.hasRemainingHints(), false);

    // The rebuilt hints are the input hints.
    assert.deepStrictEqual(s.fsm.buildHints(aRecoveryLog).liveNodes, h.liveNodes);

    // Hints exhausted: any author continuing the chain is accepted.
    assert.equal(s.unlink(48, s.fsm.nextChecksum, 666, 42, '/good/path'), undefined);
    assert.equal(s.write(49, s.fsm.nextChecksum, 666, 46), undefined);

    assert.deepStrictEqual(
      s.fsm.buildHints(aRecoveryLog),
      hints({
        log: aRecoveryLog,
        liveNodes: [
          {
            fnode: 46,
            segments: [
              seg({ author: 400, firstSeqNo: 46, firstOffset: 11, lastSeqNo: 47, lastOffset: 13 }),
              // CRC32C("111213"): the counter frames "11", "12", "13" since the re-seed at 46.
              seg({
                author: 666,
                firstSeqNo: 49,
                firstOffset: 14,
                firstChecksum: 0x1cab6124,
                lastSeqNo: 49,
                lastOffset: 15,
              }),
            ],
          },
        ],
      }),
    );
  });
});

describe('FSM (beyond the Gazette suite)', () => {
  const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ''), 'hex'));

  it('refuses hints without a log', () => {
    assert.throws(
      () => new FSM(hints({})),
      (err: unknown) =>
        err instanceof HintsValidationError &&
        err.code === 'HintsValidation' &&
        err.message.startsWith('hinted log not provided'),
    );
    assert.throws(() => FSM.fromHints(hints({})), HintsValidationError);
  });

  it('chains the checksum over real encoded ops (spec 2.2 vectors)', () => {
    const fsm = new FSM(hints({ log: aRecoveryLog }));
    const base = { firstOffset: 0, lastOffset: 0, log: aRecoveryLog };
    // Payload of the 32-byte create frame of "/path/to/file" (header stripped).
    fsm.apply(
      { ...base, seqNo: 1, checksum: 0, author: 1234, create: { path: '/path/to/file' } },
      hex('08 01 1d d2 04 00 00 22 0f 0a 0d 2f 70 61 74 68 2f 74 6f 2f 66 69 6c 65'),
    );
    assert.equal(fsm.nextChecksum, 0x568e8e4e);
    fsm.apply(
      {
        ...base,
        seqNo: 2,
        checksum: 0x568e8e4e,
        author: 1234,
        write: { fnode: 1, offset: 0, length: 5 },
      },
      hex('08 02 15 4e 8e 8e 56 1d d2 04 00 00 3a 04 08 01 18 05'),
    );
    assert.equal(fsm.nextChecksum, 0xe096af84);
    assert.equal(fsm.nextSeqNo, 3);
  });

  it('hinted replay ignores files and property values that hints know are stale', () => {
    // A recorder's history, then a hand-off to author B. Fnode 1 gets segments [A:1..5] and
    // [B:9..9]; ops 6-8 lie in the gap a Player never reads. /x is created inside A's segment
    // and unlinked in the gap; /IDENTITY is rewritten in the gap.
    const log = aRecoveryLog;
    const history: Array<[number, Body]> = [
      [1, { create: { path: '/a' } }],
      [1, { property: { path: '/IDENTITY', content: 'v1' } }],
      [1, { create: { path: '/x' } }],
      [1, { write: { fnode: 3, offset: 0, length: 1 } }],
      [1, { write: { fnode: 1, offset: 0, length: 1 } }],
      [2, {}],
      [2, { unlink: { fnode: 3, path: '/x' } }],
      [2, { property: { path: '/IDENTITY', content: 'v2' } }],
      [2, { write: { fnode: 1, offset: 1, length: 1 } }],
    ];
    const recorded = new FSM(hints({ log }));
    const ops: Array<[RecordedOp, Uint8Array]> = history.map(([author, body]) => {
      const op: RecordedOp = {
        seqNo: recorded.nextSeqNo,
        checksum: recorded.nextChecksum,
        author,
        firstOffset: 0,
        lastOffset: 0,
        log,
        ...body,
      };
      const payload = encodeRecordedOp(op);
      recorded.apply(op, payload);
      return [op, payload];
    });
    const built = recorded.buildHints(log);
    assert.deepEqual(
      built.liveNodes.map((n) => [n.fnode, n.segments.map((s) => [s.firstSeqNo, s.lastSeqNo])]),
      [
        [
          1,
          [
            [1, 5],
            [9, 9],
          ],
        ],
      ],
    );

    // Replay as a Player does: ops below the expected SeqNo (the gap) are skipped.
    const replayed = new FSM(built);
    for (const [op, payload] of ops) {
      if (op.seqNo < replayed.nextSeqNo) continue;
      try {
        replayed.apply(op, payload);
      } catch (err) {
        if (!(err instanceof ErrFnodeNotTracked)) throw err;
      }
    }
    assert.equal(replayed.hasRemainingHints(), false);
    assert.deepEqual([...replayed.links], [['/a', 1]]);
    assert.deepEqual([...replayed.liveNodes.keys()], [1]);
    assert.deepEqual([...replayed.properties], [['/IDENTITY', 'v2']]);
    assert.deepEqual(replayed.buildHints(log).properties, built.properties);
  });

  it('checks author, then SeqNo, then checksum, and reports what it expected', () => {
    const fsm = new FSM(
      hints({
        log: aRecoveryLog,
        liveNodes: [
          {
            fnode: 5,
            segments: [seg({ author: 7, firstSeqNo: 5, lastSeqNo: 6, firstChecksum: 0xabc })],
          },
        ],
      }),
    );
    const op = (seqNo: number, checksum: number, author: number): RecordedOp => ({
      seqNo,
      checksum,
      author,
      create: { path: '/f' },
      firstOffset: 0,
      lastOffset: 0,
      log: aRecoveryLog,
    });
    const payload = new Uint8Array([1]);
    assert.throws(
      () => fsm.apply(op(9, 1, 8), payload),
      (e: unknown) => e instanceof ErrNotHintedAuthor && e.expected === 7 && e.got === 8,
    );
    assert.throws(
      () => fsm.apply(op(9, 1, 7), payload),
      (e: unknown) =>
        e instanceof ErrWrongSeqNo &&
        e.expected === 5 &&
        e.seqNo === 9 &&
        e.message === 'wrong sequence number (expected SeqNo 5, got 9)',
    );
    assert.throws(
      () => fsm.apply(op(5, 1, 7), payload),
      (e: unknown) =>
        e instanceof ErrChecksumMismatch &&
        e.expected === 0xabc &&
        e.got === 1 &&
        e.message.startsWith(
          'checksum mismatch (SeqNo 5: expected checksum 0x00000abc, got 0x00000001',
        ),
    );
    fsm.apply(op(5, 0xabc, 7), payload);
    assert.equal(fsm.nextSeqNo, 6);
  });

  it('throws ErrFnodeNotTracked only after advancing, with the fnode named', () => {
    const fsm = new FSM(hints({ log: aRecoveryLog }));
    const payload = new TextEncoder().encode('x');
    assert.throws(
      () =>
        fsm.apply(
          {
            seqNo: 1,
            checksum: 0,
            author: 1,
            write: { fnode: 99, offset: 0, length: 1 },
            firstOffset: 0,
            lastOffset: 0,
            log: 'other/log',
          },
          payload,
        ),
      (e: unknown) => e instanceof ErrFnodeNotTracked && e.fnode === 99,
    );
    assert.equal(fsm.nextSeqNo, 2);
    assert.equal(fsm.lastLog, 'other/log');
    assert.notEqual(fsm.nextChecksum, 0);
  });

  it('builds hints with properties sorted by path and segments of other logs kept explicit', () => {
    const fsm = new FSM(
      hints({
        log: aRecoveryLog,
        properties: [
          { path: '/z', content: '1' },
          { path: '/a', content: '2' },
          { path: '/m', content: '3' },
        ],
      }),
    );
    fsm.apply(
      {
        seqNo: 1,
        checksum: 0,
        author: 5,
        create: { path: '/f' },
        firstOffset: 10,
        lastOffset: 20,
        log: 'other/log',
      },
      new Uint8Array([1]),
    );
    const built = fsm.buildHints(aRecoveryLog);
    assert.deepStrictEqual(
      built.properties.map((p) => p.path),
      ['/a', '/m', '/z'],
    );
    assert.equal(built.liveNodes[0]!.segments[0]!.log, 'other/log');
    assert.equal(fsm.buildHints('other/log').liveNodes[0]!.segments[0]!.log, '');
    assert.deepStrictEqual(
      new FSM(hints({ log: 'a/log' })).buildHints('a/log'),
      hints({ log: 'a/log' }),
    );
  });
});

describe('authors', () => {
  it('newRandomAuthor() is an integer in [1, 2^32 - 2]', () => {
    const seen = new Set<number>();
    for (let i = 0; i < 2000; i++) {
      const a = newRandomAuthor();
      assert.ok(Number.isInteger(a) && a >= 1 && a <= 0xfffffffe, `author ${a} out of range`);
      seen.add(a);
    }
    assert.ok(seen.size > 1990, 'authors should not repeat');
  });

  it('authorFence() is the base-32 author register (Gazette Author.Fence)', () => {
    assert.deepStrictEqual(authorFence(1234), { author: '16i' });
    assert.deepStrictEqual(authorFence(1337), { author: '19p' });
    assert.deepStrictEqual(authorFence(0xffffffff), { author: '3vvvvvv' });
  });
});
