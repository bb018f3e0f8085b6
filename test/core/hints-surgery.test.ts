/**
 * Byte surgery on a stored hints file (src/hints.ts `decodeHints`, read by src/hints-store.ts):
 * the bytes HintsStore writes in either form, cut, flipped or replaced, and the exact
 * HintsDecodeError or StoredHintsError a reader gets. The hints file has no envelope and no
 * checksum of its own (it is Gazette's: bare JSON or bare protobuf, chosen by a leading "{"), so
 * damage that still parses is caught only by the checks on what it says (a consistent history,
 * the right log), or not at all; the tests say which.
 *
 * Already covered in hints.test.ts: one row per JSON type error (a malformed text, a top-level
 * array, a numeric log, an object for live_nodes, a string fnode, a fractional or unsafe int64,
 * a negative or 33-bit uint32, a boolean path, a string segment), leading whitespace, an empty
 * file as empty hints, and one truncated protobuf field. In hints-store.test.ts: an unreadable
 * file, a malformed JSON file, and hints for another log.
 *
 * Unreachable through decodeHints: hintsFromJSON's "(top level) must be an object" (bytes
 * reach the JSON reader only when they start with "{", which parses to an object or fails); it
 * is reachable through hintsFromJSON itself (exported, and used by kv-hints-store.ts). In
 * wire/codec.ts, int64Of's "unexpected decoded int64 value" cannot happen (protobufjs yields a
 * number or a Long): dead code.
 */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeHints, encodeHints, HintsDecodeError } from '../../src/hints.js';
import { HintsStore, StoredHintsError } from '../../src/hints-store.js';
import type { FSMHints } from '../../src/wire/types.js';

const LOG = 'examples/recovery-log';

const HINTS: FSMHints = {
  log: LOG,
  liveNodes: [
    {
      fnode: 7,
      segments: [
        {
          author: 1234,
          firstSeqNo: 7,
          firstOffset: 700,
          firstChecksum: 0xabcd,
          lastSeqNo: 9,
          lastOffset: 0,
          log: '',
        },
      ],
    },
  ],
  properties: [{ path: '/IDENTITY', content: 'id' }],
};

function decodeError(bytes: Uint8Array, format: 'json' | 'protobuf', pattern: RegExp) {
  assert.throws(
    () => decodeHints(bytes),
    (error: unknown) => {
      assert.ok(error instanceof HintsDecodeError, String(error));
      assert.equal(error.code, 'HintsDecode');
      assert.equal(error.format, format);
      assert.match(error.message, pattern);
      assert.match(error.message, /restore them from the backup hints, or play the log without/);
      return true;
    },
  );
}

describe('hints file: byte surgery', () => {
  const json = encodeHints(HINTS, 'json');
  const proto = encodeHints(HINTS, 'protobuf');
  /** Where live_nodes starts (after the log field) and ends, in `proto`. */
  const LOG_FIELD = 2 + LOG.length;
  const LIVE_NODES_END = encodeHints({ ...HINTS, properties: [] }, 'protobuf').length;

  it('hints file: JSON cut at every byte k is malformed JSON', () => {
    for (let k = 1; k < json.length; k++) {
      decodeError(json.subarray(0, k), 'json', /cannot decode json FSMHints: malformed JSON/);
    }
  });

  it('hints file: JSON with trailing garbage is malformed JSON', () => {
    decodeError(Uint8Array.from([...json, 0x7d]), 'json', /malformed JSON/);
  });

  it('hints file: a JSON author written as a string names the field', () => {
    const text = new TextDecoder().decode(json).replace('"author":1234', '"author":"1234"');
    decodeError(
      new TextEncoder().encode(text),
      'json',
      /field live_nodes\[0\]\.segments\[0\]\.author must be an unsigned 32-bit integer, got string "1234"/,
    );
  });

  it('hints file: a JSON directory mode out of range names the field', () => {
    const text = '{"log":"a/log","directories":[{"path":"/d","mode":-1}]}';
    decodeError(
      new TextEncoder().encode(text),
      'json',
      /field directories\[0\]\.mode = -1 is not an unsigned 32-bit integer/,
    );
  });

  it('hints file: protobuf cut at every byte k fails, except at a top-level field boundary', () => {
    // Protobuf has no end marker: a cut between the top-level fields (log, live_nodes,
    // properties) is a shorter, valid message (the store's checks judge it).
    const boundaries = [LOG_FIELD, LIVE_NODES_END, proto.length];
    for (let k = 1; k < proto.length; k++) {
      if (boundaries.includes(k)) {
        assert.equal(decodeHints(proto.subarray(0, k)).log, LOG, `cut at ${k}`);
        continue;
      }
      decodeError(proto.subarray(0, k), 'protobuf', /cannot decode protobuf FSMHints: /);
    }
    assert.deepEqual(decodeHints(proto.subarray(0, LIVE_NODES_END)).properties, []);
  });

  it('hints file: a protobuf field with a flipped wire-type bit is refused, naming the field', () => {
    const damaged = Uint8Array.from(proto);
    damaged[LOG_FIELD]! ^= 0x01; // live_nodes 0x12 (length-delimited) -> 0x13 (start group)
    decodeError(damaged, 'protobuf', /field liveNodes \(tag 2\) has wire type 3, expected 2/);
  });

  it('hints file: a protobuf int64 beyond the safe range is refused, naming the field', () => {
    const big: FSMHints = { log: LOG, liveNodes: [{ fnode: 1, segments: [] }], properties: [] };
    const bytes = Uint8Array.from(encodeHints(big, 'protobuf'));
    // live_nodes: 12 02 08 01 -> fnode 2^53 as an 8-byte varint.
    const at = bytes.indexOf(0x08, bytes.length - 2);
    const fnode = [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10];
    const damaged = Uint8Array.from([...bytes.subarray(0, at - 1), 9, 0x08, ...fnode]);
    decodeError(
      damaged,
      'protobuf',
      /FSMHints\.live_nodes\[0\]\.fnode = 9007199254740992 is outside the safe integer range/,
    );
  });

  it('hints file: a flipped bit inside a protobuf length runs past the end', () => {
    const damaged = Uint8Array.from(proto);
    damaged[1]! ^= 0x40; // log length 21 -> 85, past the end
    decodeError(damaged, 'protobuf', /cannot decode protobuf FSMHints/);
  });

  describe('through HintsStore', () => {
    let dir: string;
    let store: HintsStore;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'hints-surgery-'));
      store = new HintsStore(dir, 'shard');
    });
    afterEach(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const refused = (pattern: RegExp) => (error: unknown) => {
      assert.ok(error instanceof StoredHintsError, String(error));
      assert.equal(error.code, 'StoredHints');
      assert.equal(error.file, store.primaryPath);
      assert.match(error.message, pattern);
      assert.match(error.message, /Remove or replace this file/);
      return true;
    };

    it('hints file: a cut JSON file is StoredHintsError with the decode error as cause', async () => {
      await store.storePrimary(HINTS);
      const stored = await readFile(store.primaryPath);
      await writeFile(store.primaryPath, stored.subarray(0, stored.length - 1));
      await assert.rejects(store.pick(LOG), (error: unknown) => {
        assert.ok(refused(/malformed JSON/)(error));
        assert.ok((error as Error).cause instanceof HintsDecodeError);
        return true;
      });
    });

    it('hints file: an empty file decodes as empty hints of no log, refused as another log', async () => {
      await writeFile(store.primaryPath, new Uint8Array(0));
      await assert.rejects(store.pick(LOG), refused(/hints are for log , not examples/));
    });

    it('hints file: a flipped digit making fnode and segment disagree is refused as inconsistent', async () => {
      const text = new TextDecoder().decode(json).replace('"fnode":7', '"fnode":6');
      await writeFile(store.primaryPath, text);
      await assert.rejects(
        store.pick(LOG),
        refused(/expected Fnode to match Segment FirstSeqNo: live node #0 is fnode 6/),
      );
    });

    it('hints file: a non-UTF-8 byte in the JSON log decodes leniently (U+FFFD) and is refused as no valid log', async () => {
      const damaged = Buffer.from(json);
      damaged[damaged.indexOf('recovery')]! ^= 0x80;
      await writeFile(store.primaryPath, damaged);
      await assert.rejects(
        store.pick(LOG),
        refused(/Log: not a valid token \("examples\/\ufffdecovery-log"\)/),
      );
    });

    it('hints file: a flipped bit in a protobuf log name is kept as a byte and refused as no valid log', async () => {
      const damaged = Buffer.from(proto);
      damaged[2]! ^= 0x80; // 'e' of "examples" -> 0xe5, not UTF-8 on its own
      await writeFile(store.primaryPath, damaged);
      await assert.rejects(
        store.pick(LOG),
        refused(/Log: not a valid token \("\\udce5xamples\/recovery-log"\)/),
      );
    });

    it('hints file: a flipped bit changing only a number that is not checked goes unnoticed', async () => {
      // No checksum: firstOffset 700 -> 716 is a different, consistent history (Gazette's too).
      const text = new TextDecoder()
        .decode(json)
        .replace('"first_offset":700', '"first_offset":716');
      await writeFile(store.primaryPath, text);
      const picked = await store.pick(LOG);
      assert.equal(picked.liveNodes[0]!.segments[0]!.firstOffset, 716);
    });
  });
});
