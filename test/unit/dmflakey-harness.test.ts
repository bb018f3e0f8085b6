// Host-side tests of the dm-flakey harness's pure parts (the records oracle and the dm tables):
// the power-cut loop itself needs the VM (run.sh), but its checker must be able to fail.
import assert from 'node:assert/strict';
import {
  RECORD_HEADER_BYTES,
  RecordStream,
  checkRecoveredJournal,
  payloadLength,
  recordBytes,
  type Ack,
} from '../crash/dmflakey/records.js';
import { flakeyTable } from '../crash/dmflakey/flakey.js';

const SEED = 0xc0ffee;

function journalOf(records: number, seed = SEED): Uint8Array {
  const parts = Array.from({ length: records }, (_, i) => recordBytes(seed, i));
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

function acksFor(stream: RecordStream, indexes: number[]): Ack[] {
  return indexes.map((index) => ({ index, ...stream.span(index) }));
}

describe('dm-flakey harness: records', () => {
  it('derives every record from (seed, index): header, length and content', () => {
    for (let i = 0; i < 200; i++) {
      const bytes = recordBytes(SEED, i);
      const view = new DataView(bytes.buffer);
      assert.equal(view.getUint32(0, true), i);
      assert.equal(view.getUint32(4, true), payloadLength(SEED, i));
      assert.equal(bytes.length, RECORD_HEADER_BYTES + payloadLength(SEED, i));
      assert.deepEqual(recordBytes(SEED, i), bytes);
    }
    assert.notDeepEqual(recordBytes(SEED, 7), recordBytes(SEED + 1, 7));
  });

  it('mixes small, medium and large payloads', () => {
    const lengths = Array.from({ length: 2000 }, (_, i) => payloadLength(SEED, i));
    assert.ok(lengths.some((n) => n <= 256));
    assert.ok(lengths.some((n) => n > 256 && n <= 4096));
    assert.ok(lengths.some((n) => n > 4096));
    assert.ok(lengths.every((n) => n >= 1 && n <= 65536));
  });

  it('places record i at the offsets of the concatenated stream', () => {
    const stream = new RecordStream(SEED);
    const journal = journalOf(50);
    for (let i = 0; i < 50; i++) {
      const { begin, end } = stream.span(i);
      assert.deepEqual(journal.subarray(begin, end), recordBytes(SEED, i));
    }
    assert.equal(stream.span(49).end, journal.length);
  });
});

describe('dm-flakey harness: checkRecoveredJournal', () => {
  const stream = new RecordStream(SEED);

  it('accepts a whole-record prefix that holds every acknowledged record', () => {
    const check = checkRecoveredJournal(stream, journalOf(30), acksFor(stream, [0, 5, 29]));
    assert.deepEqual(check, { records: 30, bytes: stream.span(29).end, violations: [] });
    assert.deepEqual(checkRecoveredJournal(stream, new Uint8Array(0), []).violations, []);
  });

  it('reports an acknowledged record that is missing', () => {
    const check = checkRecoveredJournal(stream, journalOf(10), acksFor(stream, [9, 10, 11]));
    assert.equal(check.records, 10);
    assert.equal(check.violations.length, 2);
    assert.match(check.violations[0]!, /acknowledged record 10 .* is missing/);
  });

  it('reports a torn record at the end', () => {
    const whole = journalOf(10);
    const torn = whole.subarray(0, whole.length - 1);
    const check = checkRecoveredJournal(stream, torn, []);
    assert.equal(check.records, 9);
    assert.match(check.violations[0]!, /torn record 9/);
  });

  it('reports a changed byte, in a header or a payload', () => {
    for (const at of [stream.span(3).begin, stream.span(3).begin + RECORD_HEADER_BYTES]) {
      const bad = journalOf(10).slice();
      bad[at]! ^= 0x40;
      const check = checkRecoveredJournal(stream, bad, []);
      assert.equal(check.records, 3);
      assert.match(
        check.violations[0]!,
        new RegExp(`record 3 at offset ${stream.span(3).begin} differs`),
      );
    }
  });

  it('reports garbage after the last whole record', () => {
    const journal = journalOf(5);
    const withZeros = new Uint8Array(journal.length + 4096);
    withZeros.set(journal);
    const check = checkRecoveredJournal(stream, withZeros, acksFor(stream, [4]));
    assert.equal(check.records, 5);
    assert.equal(check.violations.length, 1);
  });

  it('reports an append that resolved with the wrong range', () => {
    const { begin, end } = stream.span(2);
    const check = checkRecoveredJournal(stream, journalOf(5), [
      { index: 2, begin: begin + 1, end },
    ]);
    assert.match(check.violations[0]!, /resolved with \[/);
  });
});

describe('dm-flakey harness: tables (go-dmflakey formats)', () => {
  it('writes allow, drop, error and corrupt tables', () => {
    assert.equal(
      flakeyTable('/dev/vda', 1024, { kind: 'allow' }),
      '0 1024 flakey /dev/vda 0 3600 0',
    );
    assert.equal(
      flakeyTable('/dev/vda', 1024, { kind: 'drop' }),
      '0 1024 flakey /dev/vda 0 0 3600 1 drop_writes',
    );
    assert.equal(
      flakeyTable('/dev/vda', 1024, { kind: 'error' }),
      '0 1024 flakey /dev/vda 0 0 3600 1 error_writes',
    );
    assert.equal(
      flakeyTable('/dev/vda', 1024, { kind: 'random-write-corrupt', probability: 0.001 }),
      '0 1024 flakey /dev/vda 0 0 3600 2 random_write_corrupt 1000000',
    );
  });
});
