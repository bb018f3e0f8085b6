/**
 * The namespace lane's oracle (appender-records.ts), pinned down in process: a clean
 * interleaving of two writers passes, and each way the old journal lost appends (one writer's
 * batch written over the other's, a torn tail read as data), a duplicate, a reordering, a
 * foreign writer or a dead writer's record appearing later is reported, not passed.
 */
import assert from 'node:assert/strict';
import { crc32c } from '../../../src/crc32c.js';
import {
  checkRecords,
  encodeRecord,
  parseRecords,
  type AppenderLedger,
} from './appender-records.js';

const A = 0x10001;
const B = 0x20002;

function journal(records: [number, number, number][]): Buffer {
  return Buffer.concat(records.map(([w, s, len]) => encodeRecord(w, s, len)));
}

/** A then B interleaved, seqs 1..n each, lengths varying. */
function interleaved(n: number): [number, number, number][] {
  const out: [number, number, number][] = [];
  for (let s = 1; s <= n; s++) out.push([A, s, (s * 37) % 300], [B, s, (s * 91) % 700]);
  return out;
}

function ledger(ackedA: number, ackedB: number): AppenderLedger[] {
  return [
    { id: A, label: 'unshared appender', acked: ackedA },
    { id: B, label: 'host appender', acked: ackedB },
  ];
}

function invariants(bytes: Buffer, writers: AppenderLedger[]): string[] {
  return checkRecords(parseRecords(bytes), writers).violations.map((v) => v.invariant);
}

describe('kill test namespace oracle (raw appender records)', function () {
  it('passes two writers interleaved, with unacknowledged records of each at the end', function () {
    const bytes = journal(interleaved(50));
    const parsed = parseRecords(bytes);
    assert.equal(parsed.records, 100);
    assert.equal(parsed.damagedBytes, 0);
    assert.deepEqual(parsed.writers[String(A)], [[1, 50]]);
    const { violations, counts } = checkRecords(parsed, ledger(48, 50));
    assert.deepEqual(violations, []);
    assert.equal(counts.get(A), 50);
  });

  it("reports one writer's batch written over the other's (v1: both at the same offset)", function () {
    const records = interleaved(20);
    const bytes = journal(records);
    // B's records 5..8 (and what follows them) land where A's 5..8 were: same offset, other bytes.
    const at = journal(records.slice(0, 8)).length;
    const over = journal([
      [B, 5, 10],
      [B, 6, 10],
    ]);
    over.copy(bytes, at);
    const found = invariants(bytes, ledger(20, 20));
    assert.ok(found.includes('I4'), `found ${found.join(', ')}`); // the rest of a record is garbage
    assert.ok(found.includes('I2'), `found ${found.join(', ')}`); // acknowledged records gone
    assert.ok(found.includes('I1'), `found ${found.join(', ')}`); // B's 5, 6 twice
  });

  it('reports a torn record, a payload that is not its own, and garbage', function () {
    const whole = journal(interleaved(5));
    assert.deepEqual(invariants(whole.subarray(0, whole.length - 3), ledger(5, 4)), ['I4']);
    const flipped = Buffer.from(whole);
    flipped[whole.length - 10] ^= 0x40;
    assert.ok(invariants(flipped, ledger(5, 4)).includes('I4'));
    // A's header with B's payload and a CRC that matches: a whole record, but not A's.
    const foreign = encodeRecord(A, 6, 20);
    encodeRecord(B, 6, 20).copy(foreign, 16, 16, 36);
    foreign.writeUInt32LE(crc32c(foreign.subarray(0, 36)), 36);
    const parsed = parseRecords(Buffer.concat([whole, foreign]));
    assert.match(parsed.damage[0]?.what ?? '', /payload is not its own/);
    assert.deepEqual(
      checkRecords(parsed, ledger(5, 5)).violations.map((v) => v.invariant),
      ['I4'],
    );
  });

  it('reports a lost acknowledged record, a duplicate, a reordering and a foreign writer', function () {
    const records = interleaved(10);
    assert.deepEqual(invariants(journal(records.slice(0, 15)), ledger(8, 10)), ['I2']);
    assert.deepEqual(invariants(journal([...records, [A, 10, 5]]), ledger(10, 10)), ['I1']);
    const swapped = [...records];
    [swapped[2], swapped[4]] = [swapped[4]!, swapped[2]!]; // A 2 <-> A 3
    assert.deepEqual(invariants(journal(swapped), ledger(10, 10)), ['I1']);
    assert.deepEqual(invariants(journal([...records, [0x30003, 1, 4]]), ledger(10, 10)), ['I1']);
  });

  it("reports more records than a writer issued, and a dead writer's records changing", function () {
    const bytes = journal(interleaved(10));
    const writers = ledger(10, 10);
    writers[0]!.issued = 9;
    assert.deepEqual(invariants(bytes, writers), ['I3']);
    const gone = ledger(8, 10);
    gone[0]!.settled = 8; // it had 8 records when it was gone; now there are 10
    assert.deepEqual(invariants(bytes, gone), ['I6']);
  });
});
