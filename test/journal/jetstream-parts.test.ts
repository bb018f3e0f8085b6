/**
 * The JetStream journal's pure parts (no server): name encoding, the part header codec, and how
 * commits split into messages. The journal itself is tested on a real cluster (test/jetstream).
 */
import assert from 'node:assert/strict';
import fc from 'fast-check';
import {
  MAX_DERIVED_STREAM_NAME,
  encodeNameToken,
  jetStreamLocation,
} from '../../src/journal/jetstream-names.js';
import {
  decodePartMeta,
  partHeaders,
  splitParts,
  tipOf,
  type PartMeta,
} from '../../src/journal/jetstream-parts.js';
import { isTransient, isWrongLastSequence } from '../../src/journal/jetstream-errors.js';
import { concatBytes } from '../helpers/journal-contract.js';

describe('JetStream journal layout', function () {
  describe('names', function () {
    it('encodes journal names injectively into stream-name characters', function () {
      fc.assert(
        fc.property(fc.string({ minLength: 1 }), fc.string({ minLength: 1 }), (a, b) => {
          const ea = encodeNameToken(a);
          assert.match(ea, /^[A-Za-z0-9_-]+$/);
          if (a !== b) assert.notEqual(ea, encodeNameToken(b));
        }),
      );
      assert.deepEqual(jetStreamLocation('app/shard-1.log'), {
        stream: 'RL_app_2Fshard-1_2Elog',
        subject: 'recoverylog.app_2Fshard-1_2Elog',
      });
    });

    it('keeps derived stream names short, with a digest for long journal names', function () {
      const long = `${'a/'.repeat(250)}x`;
      const { stream, subject } = jetStreamLocation(long);
      assert.ok(stream.length <= MAX_DERIVED_STREAM_NAME);
      assert.match(subject, /^recoverylog\.[A-Za-z0-9_-]+$/);
      assert.notEqual(stream, jetStreamLocation(`${long}y`).stream);
    });
  });

  describe('part headers', function () {
    const meta: PartMeta = {
      commit: 'w.1.1',
      begin: 100,
      end: 250,
      index: 1,
      count: 2,
      offset: 200,
      registers: { author: 'abc', zone: 'é"\\' },
    };
    const getter = (pairs: [string, string][]) => (key: string) =>
      pairs.find(([name]) => name === key)?.[1];

    it('round-trips', function () {
      assert.deepEqual(decodePartMeta(getter(partHeaders(meta)), 50), meta);
      const bare = { ...meta, registers: {} };
      assert.deepEqual(decodePartMeta(getter(partHeaders(bare)), 50), bare);
    });

    it('rejects malformed or inconsistent headers with a description', function () {
      assert.match(String(decodePartMeta(() => undefined, 0)), /Rl-Commit/);
      const pairs = partHeaders(meta);
      assert.match(String(decodePartMeta(getter(pairs), 49)), /final part ends/);
      const bad = pairs.map(([k, v]): [string, string] => [k, k === 'Rl-Part' ? '2/2' : v]);
      assert.match(String(decodePartMeta(getter(bad), 50)), /inconsistent/);
      const neg = pairs.map(([k, v]): [string, string] => [k, k === 'Rl-Begin' ? '-1' : v]);
      assert.match(String(decodePartMeta(getter(neg), 50)), /malformed/);
    });

    it('derives the tip: a final part gives the end and registers after, others the state before', function () {
      assert.deepEqual(tipOf({ seq: 9, meta }), { seq: 9, head: 250, registers: meta.registers });
      const first = { ...meta, index: 0, offset: 100, registers: { author: 'old' } };
      assert.deepEqual(tipOf({ seq: 8, meta: first }), {
        seq: 8,
        head: 100,
        registers: { author: 'old' },
      });
    });
  });

  describe('splitting commits', function () {
    it('splits chunks into parts of at most partBytes that concatenate back', function () {
      fc.assert(
        fc.property(
          fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: 8 }),
          fc.integer({ min: 1, max: 200 }),
          (chunks, partBytes) => {
            const size = chunks.reduce((sum, chunk) => sum + chunk.byteLength, 0);
            const parts = splitParts(chunks, size, partBytes);
            if (size === 0) {
              assert.deepEqual(
                parts.map((p) => p.byteLength),
                [0],
              );
              return;
            }
            assert.ok(parts.every((part) => part.byteLength > 0 && part.byteLength <= partBytes));
            assert.equal(parts.length, Math.ceil(size / partBytes));
            assert.deepEqual(concatBytes(parts), concatBytes(chunks));
          },
        ),
      );
    });
  });

  describe('error classification', function () {
    it('treats elections and timeouts as transient and 10071 as a fence', function () {
      class TimeoutError extends Error {}
      class JetStreamApiError extends Error {
        constructor(
          message: string,
          readonly code: number,
          readonly status: number,
        ) {
          super(message);
        }
      }
      assert.ok(isTransient(new TimeoutError('timeout')));
      assert.ok(
        isTransient(new JetStreamApiError('JetStream system temporarily unavailable', 10008, 503)),
      );
      assert.ok(!isTransient(new JetStreamApiError('wrong last sequence: 7', 10071, 400)));
      assert.ok(isWrongLastSequence(new JetStreamApiError('wrong last sequence: 7', 10071, 400)));
      assert.ok(!isTransient(new Error('permissions violation')));
    });
  });
});
