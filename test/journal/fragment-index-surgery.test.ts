/**
 * Byte surgery on a fragment's index file as FragmentIndex (src/journal/fragment-index.ts) parses
 * it: one named test per damage rule of `advance` and per FragmentDamage that `apply` throws.
 * Records are built with fragment-record.ts's own `encodeRecord`, chained by their CRCs as a
 * writer chains them; the surgery is then one cut, one flipped bit or some inserted bytes.
 *
 * The paths, and what covered them before this file (fragments.test.ts, inline-commits.test.ts
 * and read-into.test.ts go through FileJournal: they assert the JournalCorruptError's offset or
 * what the journal reads, not the index's state; the rows marked "covered" have no test here):
 *
 *   advance:
 *     D1  a torn tail (garbage, or a record cut at any byte): ok, tornBytes, parsedThrough at the
 *         last whole record; the last commit stays unconfirmed
 *                           journal level: fragments "a torn tail is never cut" (30 bytes of
 *                           garbage); a COMMIT cut at every byte: here
 *     D2  trailing zeros (preallocated blocks): a torn tail                             here
 *     D3  only the torn beginning of a START: pending                                   here
 *     D4  a whole INLINE header whose data is cut short: torn, its data never searched for
 *         records           covered: inline-commits "a tear at every byte"; a valid record in
 *                           the data present: here
 *     D5  a damaged record followed by a valid one that does not confirm the last valid one:
 *         suspect at the damaged record's position
 *                           covered: fragments "bit rot in an OLD commit record", "one bit flipped
 *                           in the LAST commit record, once confirmed", "a sealed fragment";
 *                           the damage's reason and parsedThrough, a semantic (resealed) damage,
 *                           positions on a second advance: here
 *     D6  'record cut short': a header whose length runs past the end, with a valid record inside
 *         those bytes                                                                   here
 *     D7  unreadable bytes, then a COMMIT or SEAL that confirms the last valid record: skipped
 *         (a FENCE lost in a crash), tornBytes 0                                        here
 *     D8  the same before the START (pending): suspect                                  here
 *     D9  unreadable bytes, then a valid START: suspect, even though it carries prevCrc 0  here
 *     D10 unreadable bytes, then a FENCE, in a fragment that cannot hold INLINE commits: fenced,
 *         tornBytes = the unreadable bytes, the unconfirmed commit stays unconfirmed
 *                           journal level: fragments "a FENCE never completes a torn record"; here
 *     D11 inline fragment: that FENCE counts only if its prevCrc names a record read (any, not
 *         only the last)    covered: inline-commits "damage to an older INLINE commit's header"
 *                           (prevCrc 0 and a stranger), "a take-over after a torn INLINE commit"
 *                           (the last record); naming an older record: here
 *     D12 unreadable bytes, then a FENCE, before any START: void                        here
 *     D13 the first record that closes the fragment ends parsing: records and garbage after a
 *         SEAL or FENCE are never read; advance on a closed index reads nothing         here
 *     D14 a FENCE first: void, nothing after it read                                    here
 *   apply (thrown FragmentDamage, reported as JournalCorruptError without a second read):
 *     A1  the first record is not a START                                               here
 *     A2  the START names another epoch                                                 here
 *     A3  a second START                                                                here
 *     A4  a COMMIT or SEAL whose prevCrc is not the previous record's CRC               here
 *     A5  a commit that does not continue the fragment (gap or overlap)                 here
 *     A6  a SEAL whose range differs from the commits'                                  here
 *     A7  a SEAL whose checksum differs from the commits'                               here
 *   the unconfirmed last commit:
 *     U1  set by a data commit, cleared by the next COMMIT or SEAL, NOT by a FENCE; dropUnconfirmed
 *         restores end, checksum and registers
 *                           journal level: fragments "a crash that kept the last record but lost
 *                           its data", "the documented window"; the state itself: here
 *   applyWhole (no judging: the caller hands the rest to advance):
 *     W1  stops before the first record that is not whole and valid                     here
 *     W2  an INLINE whose data lies past `bytes` but inside the file is applied
 *                           journal level: read-into "loading an index of large INLINE commits"
 *
 * Unreachable: none. Not checked (by design, pinned nowhere): a FENCE read in sequence (not past
 * unreadable bytes) is taken without looking at its prevCrc or epoch.
 */
import assert from 'node:assert/strict';
import { crc32c, crc32cCombine } from '../../src/crc32c.js';
import { hex32 } from '../../src/format.js';
import { FragmentDamage, FragmentIndex } from '../../src/journal/fragment-index.js';
import {
  COMMIT,
  FENCE,
  INLINE,
  SEAL,
  START,
  encodeRecord,
  recordCrc,
} from '../../src/journal/fragment-record.js';

const EPOCH = 3;
const BEGIN = 1000;

/** Deterministic data of `length` bytes. */
const dataOf = (length: number, seed: number) =>
  Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 7) & 0xff);

/** Writes a fragment's index records as a writer does: each carries its predecessor's CRC. */
class IndexWriter {
  readonly parts: Buffer[] = [];
  /** Index-file position of each record written. */
  readonly at: number[] = [];
  lastCrc = 0;
  end = BEGIN;
  dataCrc = 0;

  constructor(readonly inline = false) {}

  get bytes(): Buffer {
    return Buffer.concat(this.parts);
  }

  get size(): number {
    return this.parts.reduce((sum, part) => sum + part.byteLength, 0);
  }

  private push(record: Buffer, extra?: Uint8Array): Buffer {
    this.at.push(this.size);
    this.parts.push(extra === undefined ? record : Buffer.concat([record, extra]));
    this.lastCrc = recordCrc(record);
    return record;
  }

  start(epoch = EPOCH): this {
    const record = encodeRecord(
      {
        kind: START,
        epoch,
        token: 'feedfacefeedface',
        begin: BEGIN,
        prevEpoch: 0,
        prevDataCrc: 0,
        registers: {},
        inline: this.inline,
      },
      0,
    );
    this.push(record);
    return this;
  }

  /** A COMMIT of `length` bytes (data in the data file); 0: a confirmation. */
  commit(length: number, registers?: Record<string, string>): this {
    const dataCrc = crc32c(dataOf(length, this.at.length));
    const begin = this.end;
    this.push(
      encodeRecord({ kind: COMMIT, begin, end: begin + length, dataCrc, registers }, this.lastCrc),
    );
    this.addData(length, dataCrc);
    return this;
  }

  /** An INLINE commit of `data`. */
  inlineCommit(data: Uint8Array): this {
    const dataCrc = crc32c(data);
    const begin = this.end;
    const header = encodeRecord(
      { kind: INLINE, begin, end: begin + data.byteLength, dataCrc },
      this.lastCrc,
    );
    this.push(header, data);
    this.addData(data.byteLength, dataCrc);
    return this;
  }

  seal(): this {
    this.push(
      encodeRecord(
        { kind: SEAL, begin: BEGIN, end: this.end, dataCrc: this.dataCrc },
        this.lastCrc,
      ),
    );
    return this;
  }

  fence(prevCrc: number): this {
    this.push(encodeRecord({ kind: FENCE, epoch: EPOCH + 1, token: 'cafebabecafebabe' }, prevCrc));
    return this;
  }

  /** Raw bytes (garbage, a torn record) where the next record would go. */
  raw(bytes: Uint8Array): this {
    this.at.push(this.size);
    this.parts.push(Buffer.from(bytes));
    return this;
  }

  private addData(length: number, dataCrc: number): void {
    if (length === 0) return;
    this.dataCrc = crc32cCombine(this.dataCrc, dataCrc, length);
    this.end += length;
  }
}

/** A record the writer did not write: encoded here, not chained (for surgery). */
const stray = {
  commit: (prevCrc: number, begin = BEGIN, end = begin + 10) =>
    encodeRecord({ kind: COMMIT, begin, end, dataCrc: 0x1234 }, prevCrc),
};

function flipped(bytes: Uint8Array, at: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[at]! ^= 0x10;
  return copy;
}

function parse(bytes: Uint8Array, epoch = EPOCH): FragmentIndex {
  const index = new FragmentIndex(epoch);
  assert.deepEqual(index.advance(bytes), { kind: 'ok' });
  return index;
}

/** advance() must find `bytes` suspect at `position`, with `fragment` in the detail. */
function assertSuspect(
  bytes: Uint8Array,
  position: number,
  fragment: string,
  index = new FragmentIndex(EPOCH),
): FragmentIndex {
  const result = index.advance(bytes);
  assert.equal(result.kind, 'suspect', 'a damaged record followed by a valid one');
  assert.ok(result.kind === 'suspect');
  assert.equal(result.damage.position, position);
  assert.ok(result.damage.detail.includes(fragment), result.damage.detail);
  return index;
}

/** advance() must throw FragmentDamage at `position` with `fragment` in its detail. */
function assertDamage(bytes: Uint8Array, position: number, fragment: string, epoch = EPOCH): void {
  assert.throws(
    () => new FragmentIndex(epoch).advance(bytes),
    (error: unknown) => {
      assert.ok(error instanceof FragmentDamage, String(error));
      assert.equal(error.position, position);
      assert.ok(error.detail.includes(fragment), error.detail);
      return true;
    },
  );
}

describe('journal/fragment-index: byte surgery', () => {
  it('fragment index: an intact index parses to its state, range, checksum and registers', () => {
    const w = new IndexWriter().start().commit(100, { author: 'a' }).commit(50).commit(0);
    const index = parse(w.bytes);
    assert.equal(index.state, 'open');
    assert.deepEqual([index.begin, index.end, index.dataCrc], [BEGIN, BEGIN + 150, w.dataCrc]);
    assert.deepEqual(index.registers, { author: 'a' });
    assert.deepEqual([index.parsedThrough, index.tornBytes, index.records], [w.size, 0, 4]);
    assert.equal(index.lastCrc, w.lastCrc);
    assert.equal(index.unconfirmed, undefined, 'the empty COMMIT confirms the last one');
  });

  it('fragment index: a COMMIT cut at every byte is a torn tail after the last whole record', () => {
    const w = new IndexWriter().start().commit(100).commit(50);
    const lastAt = w.at[2]!;
    for (let cut = lastAt + 1; cut < w.size; cut++) {
      const index = parse(w.bytes.subarray(0, cut));
      assert.deepEqual(
        [index.end, index.parsedThrough, index.tornBytes],
        [BEGIN + 100, lastAt, cut - lastAt],
        `cut at ${cut}`,
      );
      assert.ok(index.unconfirmed !== undefined, 'the commit before the tear is unconfirmed');
    }
  });

  it('fragment index: trailing zeros after the last record are a torn tail', () => {
    const w = new IndexWriter().start().commit(100).raw(new Uint8Array(4096));
    const index = parse(w.bytes);
    assert.deepEqual([index.state, index.end, index.tornBytes], ['open', BEGIN + 100, 4096]);
  });

  it('fragment index: the torn beginning of a START leaves the fragment pending', () => {
    const start = new IndexWriter().start().bytes;
    for (let cut = 0; cut < start.byteLength; cut++) {
      const index = parse(start.subarray(0, cut));
      assert.deepEqual([index.state, index.parsedThrough, index.tornBytes], ['pending', 0, cut]);
      assert.equal(index.started, false);
    }
  });

  it('fragment index: a valid record inside the data of a cut-short INLINE commit is never read', () => {
    const w = new IndexWriter(true).start();
    const confirming = stray.commit(w.lastCrc); // would confirm the START, were it read
    w.inlineCommit(Buffer.concat([confirming, dataOf(100, 1)]));
    const cut = w.size - 1;
    const index = parse(w.bytes.subarray(0, cut));
    assert.deepEqual([index.end, index.records, index.parsedThrough], [BEGIN, 1, w.at[1]]);
    assert.equal(index.tornBytes, cut - w.at[1]!);
  });

  it('fragment index: a damaged record followed by a valid one is suspect, naming the reason', () => {
    const w = new IndexWriter().start().commit(100).commit(50).commit(0);
    const index = assertSuspect(
      flipped(w.bytes, w.at[1]! + 20),
      w.at[1]!,
      `(record checksum mismatch) but a valid record follows at ${w.at[2]}`,
    );
    assert.deepEqual([index.parsedThrough, index.end, index.state], [w.at[1], BEGIN, 'open']);
  });

  it('fragment index: a resealed record that is not valid (end < begin) is suspect too', () => {
    const w = new IndexWriter().start().commit(100).commit(0);
    const bytes = w.bytes;
    const at = w.at[1]!;
    bytes.writeUInt32LE(BEGIN - 1, at + 24); // the commit's end
    bytes.writeUInt32LE(crc32c(bytes.subarray(at, at + 44)), at + 44);
    assertSuspect(bytes, at, '(commit ends before it begins)');
  });

  it('fragment index: positions of damage found on a later advance count from parsedThrough', () => {
    const w = new IndexWriter().start().commit(100).commit(50).commit(0);
    const index = new FragmentIndex(EPOCH);
    assert.deepEqual(index.advance(w.bytes.subarray(0, w.at[1])), { kind: 'ok' });
    const rest = flipped(w.bytes, w.at[2]! + 20).subarray(w.at[1]);
    assertSuspect(rest, w.at[2]!, `the record at ${w.at[2]} is damaged`, index);
    assert.equal(index.parsedThrough, w.at[2]);
  });

  it('fragment index: a header whose length runs past the end, with a valid record inside, is "record cut short"', () => {
    const w = new IndexWriter().start().commit(100).commit(0);
    const bytes = w.bytes;
    const at = w.at[2]!;
    bytes.writeUInt32LE(1000, at + 4); // the last record claims 1000 bytes; it has 48
    const garbage = Buffer.concat([bytes, stray.commit(0xdead)]);
    assertSuspect(garbage, at, '(record cut short)');
  });

  it('fragment index: unreadable bytes then a COMMIT confirming the last valid record are skipped', () => {
    const w = new IndexWriter().start().commit(100);
    w.raw(Buffer.alloc(37, 0xab)); // e.g. a FENCE lost in a crash
    w.commit(50).commit(0);
    const index = parse(w.bytes);
    assert.deepEqual([index.end, index.tornBytes, index.parsedThrough], [BEGIN + 150, 0, w.size]);
    assert.equal(index.records, 4, 'START and three COMMITs; the unreadable bytes are not one');
  });

  it('fragment index: unreadable bytes then a SEAL confirming the last valid record are skipped', () => {
    const w = new IndexWriter().start().commit(100);
    w.raw(new Uint8Array(60));
    w.seal();
    const index = parse(w.bytes);
    assert.deepEqual([index.state, index.end, index.tornBytes], ['sealed', BEGIN + 100, 0]);
  });

  it('fragment index: unreadable bytes then a COMMIT before any START are suspect', () => {
    const bytes = Buffer.concat([Buffer.alloc(20, 0xab), stray.commit(0)]);
    assertSuspect(bytes, 0, 'a valid record follows at 20');
  });

  it('fragment index: unreadable bytes then a START are suspect, though a START carries prevCrc 0', () => {
    const w = new IndexWriter().start().commit(100);
    const second = new IndexWriter().start().bytes;
    const bytes = Buffer.concat([w.bytes, Buffer.alloc(11, 0xab), second]);
    assertSuspect(bytes, w.size, `a valid record follows at ${w.size + 11}`);
  });

  it('fragment index: unreadable bytes then a FENCE (no INLINE commits) is fenced, the torn bytes kept', () => {
    const w = new IndexWriter().start().commit(100).commit(50);
    const tornAt = w.at[2]!;
    w.parts[2] = w.parts[2]!.subarray(0, 30); // the last commit torn
    w.fence(0); // a version 2 fencer names no record
    const fenceAt = tornAt + 30;
    const index = parse(w.bytes);
    assert.deepEqual([index.state, index.tornBytes], ['fenced', 30]);
    assert.deepEqual([index.closedBy?.kind, index.closedBy?.position], [FENCE, fenceAt]);
    assert.equal(index.parsedThrough, w.bytes.byteLength);
    assert.equal(index.end, BEGIN + 100);
    assert.ok(index.unconfirmed !== undefined, 'a FENCE confirms nothing');
  });

  it('fragment index: with INLINE commits, a FENCE past unreadable bytes may name an older record', () => {
    const w = new IndexWriter(true).start().inlineCommit(dataOf(40, 1));
    const startCrc = recordCrc(w.parts[0]!);
    w.raw(Buffer.alloc(25, 0xab)).fence(startCrc); // names the START, not the last record
    const index = parse(w.bytes);
    assert.deepEqual([index.state, index.tornBytes, index.end], ['fenced', 25, BEGIN + 40]);
  });

  it('fragment index: unreadable bytes then a FENCE before any START leave the fragment void', () => {
    const w = new IndexWriter().raw(Buffer.alloc(30, 0xab)).fence(0);
    const index = parse(w.bytes);
    assert.deepEqual([index.state, index.tornBytes, index.started], ['void', 30, false]);
    assert.equal(index.parsedThrough, w.size);
  });

  it('fragment index: nothing after a SEAL is read: records, garbage, a second SEAL', () => {
    const w = new IndexWriter().start().commit(100).seal();
    const sealed = w.size;
    w.raw(stray.commit(w.lastCrc, BEGIN + 100, BEGIN + 200))
      .raw(Buffer.alloc(9, 0xab))
      .seal();
    const index = parse(w.bytes);
    assert.deepEqual(
      [index.state, index.end, index.parsedThrough, index.tornBytes],
      ['sealed', BEGIN + 100, sealed, 0],
    );
    assert.deepEqual(index.advance(Buffer.alloc(5, 0xab)), { kind: 'ok' }, 'closed: nothing read');
    assert.deepEqual([index.parsedThrough, index.tornBytes, index.records], [sealed, 0, 3]);
  });

  it("fragment index: nothing after a FENCE is read: the old writer's late commits", () => {
    const w = new IndexWriter().start().commit(100);
    const before = w.lastCrc;
    w.fence(before);
    const fenced = w.size;
    w.raw(stray.commit(before, BEGIN + 100, BEGIN + 200));
    const index = parse(w.bytes);
    assert.deepEqual(
      [index.state, index.end, index.parsedThrough],
      ['fenced', BEGIN + 100, fenced],
    );
  });

  it('fragment index: a FENCE first leaves the fragment void, and a START after it is not read', () => {
    const w = new IndexWriter().fence(0).start().commit(100);
    const index = parse(w.bytes);
    assert.deepEqual([index.state, index.started, index.records], ['void', false, 1]);
    assert.equal(index.parsedThrough, w.at[1]);
  });

  it('fragment index: a first record that is not a START is damage', () => {
    assertDamage(stray.commit(0), 0, 'the first record is not a START');
    const seal = encodeRecord({ kind: SEAL, begin: BEGIN, end: BEGIN, dataCrc: 0 }, 0);
    assertDamage(seal, 0, 'the first record is not a START');
  });

  it('fragment index: a START naming another epoch is damage', () => {
    const bytes = new IndexWriter().start(EPOCH + 1).bytes;
    assertDamage(bytes, 0, `the START names epoch ${EPOCH + 1}, but the file is epoch ${EPOCH}'s`);
  });

  it('fragment index: a second START is damage', () => {
    const w = new IndexWriter().start().commit(100);
    const second = w.size;
    w.start();
    assertDamage(w.bytes, second, 'a second START record');
  });

  it("fragment index: a COMMIT whose prevCrc is not the previous record's CRC is damage", () => {
    const w = new IndexWriter().start().commit(100);
    const at = w.size;
    const expected = w.lastCrc;
    const bytes = Buffer.concat([w.bytes, stray.commit(expected ^ 1, BEGIN + 100)]);
    assertDamage(
      bytes,
      at,
      `does not confirm the record before it (it carries CRC ${hex32(expected ^ 1)}, the ` +
        `previous record has ${hex32(expected)})`,
    );
  });

  it("fragment index: a SEAL whose prevCrc is not the previous record's CRC is damage", () => {
    const w = new IndexWriter().start().commit(100);
    const at = w.size;
    const seal = encodeRecord(
      { kind: SEAL, begin: BEGIN, end: w.end, dataCrc: w.dataCrc },
      w.lastCrc ^ 0x8000_0000,
    );
    assertDamage(Buffer.concat([w.bytes, seal]), at, 'does not confirm the record before it');
  });

  it('fragment index: a commit that leaves a gap or overlaps the fragment is damage', () => {
    for (const begin of [BEGIN + 101, BEGIN + 99]) {
      const w = new IndexWriter().start().commit(100);
      const at = w.size;
      const bytes = Buffer.concat([w.bytes, stray.commit(w.lastCrc, begin, begin + 10)]);
      assertDamage(
        bytes,
        at,
        `the commit [${begin}, ${begin + 10}) does not continue the fragment, which ends at ` +
          `${BEGIN + 100}`,
      );
    }
  });

  it('fragment index: a SEAL whose range differs from the commits is damage', () => {
    for (const [begin, end] of [
      [BEGIN, BEGIN + 99],
      [BEGIN + 1, BEGIN + 100],
    ] as const) {
      const w = new IndexWriter().start().commit(100);
      const at = w.size;
      const seal = encodeRecord({ kind: SEAL, begin, end, dataCrc: w.dataCrc }, w.lastCrc);
      assertDamage(
        Buffer.concat([w.bytes, seal]),
        at,
        `the SEAL covers [${begin}, ${end}) but the commits cover [${BEGIN}, ${BEGIN + 100})`,
      );
    }
  });

  it("fragment index: a SEAL whose checksum differs from the commits' is damage", () => {
    const w = new IndexWriter().start().commit(100);
    const at = w.size;
    const wrong = (w.dataCrc ^ 0x10) >>> 0;
    const seal = encodeRecord({ kind: SEAL, begin: BEGIN, end: w.end, dataCrc: wrong }, w.lastCrc);
    assertDamage(
      Buffer.concat([w.bytes, seal]),
      at,
      `the SEAL's fragment checksum ${hex32(wrong)} differs from its commits' ${hex32(w.dataCrc)}`,
    );
  });

  it('fragment index: the last data commit is unconfirmed until a COMMIT or SEAL follows, and dropUnconfirmed undoes it', () => {
    const w = new IndexWriter().start().commit(100, { author: 'a' });
    const firstCrc = w.dataCrc;
    w.commit(50, { author: 'b' });
    const index = parse(w.bytes);
    assert.deepEqual(index.unconfirmed, { dataCrc: firstCrc, registers: { author: 'a' } });
    index.dropUnconfirmed();
    assert.deepEqual(
      [index.end, index.dataCrc, index.commitEnds],
      [BEGIN + 100, firstCrc, [BEGIN + 100]],
    );
    assert.deepEqual(index.registers, { author: 'a' });
    assert.equal(index.unconfirmed, undefined);

    assert.equal(
      parse(new IndexWriter().start().commit(100).commit(0).bytes).unconfirmed,
      undefined,
    );
    assert.equal(parse(new IndexWriter().start().commit(100).seal().bytes).unconfirmed, undefined);
    const fenced = new IndexWriter().start().commit(100);
    assert.ok(parse(fenced.fence(fenced.lastCrc).bytes).unconfirmed !== undefined, 'FENCE');
  });

  it('fragment index: applyWhole stops before the first record that is not whole, without judging it', () => {
    const w = new IndexWriter().start().commit(100).commit(50).commit(0);
    const bytes = flipped(w.bytes, w.at[2]! + 20);
    const index = new FragmentIndex(EPOCH);
    assert.equal(index.applyWhole(bytes, bytes.byteLength), w.parts[1]!.byteLength);
    assert.deepEqual([index.parsedThrough, index.end, index.tornBytes], [w.at[2], BEGIN + 100, 0]);
  });

  it('fragment index: applyWhole applies an INLINE commit whose data lies past the bytes but in the file', () => {
    const w = new IndexWriter(true).start().inlineCommit(dataOf(500, 1));
    const headerEnd = w.at[1]! + 48;
    const index = new FragmentIndex(EPOCH);
    index.applyWhole(w.bytes.subarray(0, headerEnd), w.size - 1);
    assert.deepEqual(
      [index.parsedThrough, index.end],
      [w.at[1], BEGIN],
      'data not all in the file',
    );
    assert.equal(index.applyWhole(w.bytes.subarray(w.at[1], headerEnd), w.size), 548);
    assert.deepEqual(
      [index.parsedThrough, index.end, index.commitInline],
      [w.size, BEGIN + 500, [headerEnd]],
    );
  });
});
