/**
 * Our extensions to Gazette's wire schema (Write.payload_crc32c, the metadata ops chmod /
 * truncate / mkdir / rmdir, FSMHints.directories) sit where Gazette's decoder skips them, and an
 * op carrying only an extension op is a no-op to Gazette's FSM (it dispatches on the first
 * present of create, link, unlink, write, property; none present is a no-op).
 *
 * Proven with an independent decoder: protobufjs given ONLY Gazette's original schema (written
 * out below from the field tables of its recorded_op.proto), not ours.
 */
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { FSM } from '../../src/fsm.js';
import { decodeHints, encodeHints } from '../../src/hints.js';
import { decodeRecordedOp, encodeRecordedOp } from '../../src/wire/codec.js';
import type { FSMHints, RecordedOp } from '../../src/wire/types.js';

const protobuf = createRequire(import.meta.url)('protobufjs') as typeof import('protobufjs');

/** Gazette's schema, as its recorded_op.proto declares it: no field of ours. */
const GAZETTE_SCHEMA = `
syntax = "proto3";
package recoverylog;
message RecordedOp {
  int64 seq_no = 1;
  fixed32 checksum = 2;
  fixed32 author = 3;
  message Create { string path = 1; }
  message Link { int64 fnode = 1; string path = 2; }
  message Write { int64 fnode = 1; int64 offset = 2; int64 length = 3; }
  Create create = 4;
  Link link = 5;
  Link unlink = 6;
  Write write = 7;
  Property property = 8;
  int64 first_offset = 9;
  int64 last_offset = 10;
  string log = 11;
}
message Property { string path = 1; string content = 2; }
message Segment {
  fixed32 author = 1; int64 first_seq_no = 2; int64 first_offset = 3; fixed32 first_checksum = 4;
  int64 last_seq_no = 5; int64 last_offset = 6; string log = 7;
}
message FnodeSegments { int64 fnode = 1; repeated Segment segments = 2; }
message FSMHints { string log = 1; repeated FnodeSegments live_nodes = 2; repeated Property properties = 3; }
`;
const gazette = protobuf.parse(GAZETTE_SCHEMA, { keepCase: true }).root;
const GazetteOp = gazette.lookupType('recoverylog.RecordedOp');
const GazetteHints = gazette.lookupType('recoverylog.FSMHints');

/** Decodes with Gazette's schema; the plain object holds only the fields Gazette knows. */
function gazetteDecode(bytes: Uint8Array): Record<string, unknown> {
  return GazetteOp.toObject(GazetteOp.decode(bytes), { longs: Number }) as Record<string, unknown>;
}

/** The op kind Gazette's FSM dispatches on (fsm.go Apply): first present, else a no-op. */
function gazetteKind(decoded: Record<string, unknown>): string {
  for (const kind of ['create', 'link', 'unlink', 'write', 'property']) {
    if (decoded[kind] !== undefined && decoded[kind] !== null) return kind;
  }
  return 'noop';
}

const base = {
  seqNo: 300,
  checksum: 0xdeadbeef,
  author: 77,
  firstOffset: 0,
  lastOffset: 0,
  log: '',
};
const EXTENSION_OPS: RecordedOp[] = [
  { ...base, chmod: { fnode: 42, mode: 0o600 } },
  { ...base, chmod: { fnode: 42, mode: 0 } },
  { ...base, truncate: { fnode: 42, length: 2 ** 40 } },
  { ...base, truncate: { fnode: 42, length: 0 } },
  { ...base, mkdir: { path: '/a/dir', mode: 0o1777 } },
  { ...base, mkdir: { path: '', mode: 0 } },
  { ...base, rmdir: { path: '/a/dir', mode: 0 } },
];

describe('wire extensions under Gazette’s own schema (independent decoder)', () => {
  for (const op of EXTENSION_OPS) {
    const ours = Object.keys(op).find((k) => ['chmod', 'truncate', 'mkdir', 'rmdir'].includes(k));
    it(`${ours} ${JSON.stringify(op[ours as keyof RecordedOp])} decodes as a no-op with its header intact`, () => {
      const bytes = encodeRecordedOp(op);
      assert.deepEqual(decodeRecordedOp(bytes), op, 'our decoder round-trips it');
      const decoded = gazetteDecode(bytes);
      assert.equal(gazetteKind(decoded), 'noop');
      assert.equal(decoded.seq_no, 300);
      assert.equal(decoded.checksum, 0xdeadbeef);
      assert.equal(decoded.author, 77);
      // Nothing else is seen: the extension field is skipped as unknown.
      assert.deepEqual(Object.keys(decoded).sort(), ['author', 'checksum', 'seq_no']);
    });
  }

  it('payload_crc32c: Gazette sees the Write without it', () => {
    const op: RecordedOp = {
      ...base,
      write: { fnode: 3, offset: 5, length: 9, payloadCrc32c: 0x1234 },
    };
    const decoded = gazetteDecode(encodeRecordedOp(op));
    assert.equal(gazetteKind(decoded), 'write');
    assert.deepEqual(decoded.write, { fnode: 3, offset: 5, length: 9 });
  });

  it('extension fields come after Gazette’s, in ascending tag order (two-byte keys)', () => {
    const bytes = encodeRecordedOp({ ...base, chmod: { fnode: 1, mode: 0o644 } });
    // ... author (1d xx xx xx xx), then tag 101 length-delimited: key 0xaa 0x06.
    const at = bytes.indexOf(0xaa);
    assert.deepEqual([...bytes.subarray(at, at + 2)], [0xaa, 0x06]);
    assert.deepEqual([...bytes.subarray(at + 2)], [0x05, 0x08, 0x01, 0x10, 0xa4, 0x03]);
  });

  it('our FSM applies them, advancing the chain like any op (checksum covers their bytes)', () => {
    const fsm = new FSM({ log: 'a/log', liveNodes: [], properties: [] });
    const apply = (body: Partial<RecordedOp>): void => {
      const op: RecordedOp = {
        seqNo: fsm.nextSeqNo,
        checksum: fsm.nextChecksum,
        author: 9,
        firstOffset: 0,
        lastOffset: 0,
        log: 'a/log',
        ...body,
      };
      fsm.apply(op, encodeRecordedOp(op));
    };
    apply({ create: { path: '/f' } });
    apply({ chmod: { fnode: 1, mode: 0o700 } });
    apply({ truncate: { fnode: 1, length: 3 } });
    apply({ mkdir: { path: '/d', mode: 0o750 } });
    apply({ mkdir: { path: '/e', mode: 0o755 } });
    apply({ rmdir: { path: '/e', mode: 0 } });
    assert.equal(fsm.liveNodes.get(1)!.mode, 0o700);
    assert.deepEqual(
      fsm.liveNodes.get(1)!.segments[0]!.lastSeqNo,
      3,
      'fnode ops extend its segment',
    );
    assert.deepEqual([...fsm.directories], [['/d', 0o750]]);
    assert.deepEqual(fsm.buildHints('a/log').directories, [{ path: '/d', mode: 0o750 }]);
  });
});

describe('directory ops in hinted replay', () => {
  it('are not applied inside hinted segments: the hints hold newer directories', () => {
    // Author 1 records /a and an mkdir of /d (0700); after a hand-off to author 2, /d's mode is
    // changed in ops no hinted segment covers (never read), then /a is written again.
    const log = 'a/log';
    const recorded = new FSM({ log, liveNodes: [], properties: [] });
    const history: Array<[number, Partial<RecordedOp>]> = [
      [1, { create: { path: '/a' } }],
      [1, { mkdir: { path: '/d', mode: 0o700 } }],
      [1, { write: { fnode: 1, offset: 0, length: 1 } }],
      [2, {}],
      [2, { mkdir: { path: '/d', mode: 0o755 } }],
      [2, { write: { fnode: 1, offset: 1, length: 1 } }],
    ];
    const ops = history.map(([author, body]): [RecordedOp, Uint8Array] => {
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
    assert.deepEqual(built.directories, [{ path: '/d', mode: 0o755 }]);
    const replayed = new FSM(built);
    for (const [op, payload] of ops) {
      if (op.seqNo < replayed.nextSeqNo) continue; // the gap, as a Player skips it
      replayed.apply(op, payload);
    }
    assert.equal(replayed.hasRemainingHints(), false);
    // Applying the old mkdir (as Gazette applies old property ops) would roll /d back to 0700.
    assert.deepEqual([...replayed.directories], [['/d', 0o755]]);
    // After the hints, directory ops apply: replaying what the hints already hold changes nothing.
    const [rm] = [{ rmdir: { path: '/d', mode: 0 } }];
    const op: RecordedOp = {
      seqNo: replayed.nextSeqNo,
      checksum: replayed.nextChecksum,
      author: 2,
      firstOffset: 0,
      lastOffset: 0,
      log,
      ...rm,
    };
    replayed.apply(op, encodeRecordedOp(op));
    assert.deepEqual([...replayed.directories], []);
  });
});

describe('FSMHints.directories (extension, tag 101 / JSON "directories")', () => {
  const hints: FSMHints = {
    log: 'a/log',
    liveNodes: [
      {
        fnode: 1,
        segments: [
          {
            author: 9,
            firstSeqNo: 1,
            firstOffset: 0,
            firstChecksum: 0,
            lastSeqNo: 4,
            lastOffset: 0,
            log: '',
          },
        ],
      },
    ],
    properties: [{ path: '/IDENTITY', content: 'id' }],
    directories: [
      { path: '/d', mode: 0o750 },
      { path: '/d/e', mode: 0 },
    ],
  };

  it('round-trips through protobuf and JSON', () => {
    for (const format of ['protobuf', 'json'] as const) {
      assert.deepEqual(decodeHints(encodeHints(hints, format)), hints, format);
    }
    const json = new TextDecoder().decode(encodeHints(hints, 'json'));
    assert.match(json, /,"directories":\[\{"path":"\/d","mode":488\},\{"path":"\/d\/e"\}\]\}$/);
  });

  it('Gazette’s protobuf decoder skips them and reads the rest', () => {
    const decoded = GazetteHints.toObject(GazetteHints.decode(encodeHints(hints, 'protobuf')), {
      longs: Number,
    }) as Record<string, unknown>;
    assert.deepEqual(Object.keys(decoded).sort(), ['live_nodes', 'log', 'properties']);
    assert.equal(decoded.log, 'a/log');
    assert.deepEqual(decoded.properties, [{ path: '/IDENTITY', content: 'id' }]);
  });

  it('hints without directories are byte-identical to Gazette’s (no key, no field)', () => {
    const plain: FSMHints = { log: hints.log, liveNodes: hints.liveNodes, properties: [] };
    assert.equal(
      Buffer.from(encodeHints(plain, 'protobuf')).toString('hex'),
      Buffer.from(
        GazetteHints.encode(
          GazetteHints.fromObject({
            log: 'a/log',
            live_nodes: [{ fnode: 1, segments: [{ author: 9, first_seq_no: 1, last_seq_no: 4 }] }],
          }),
        ).finish(),
      ).toString('hex'),
    );
    assert.doesNotMatch(new TextDecoder().decode(encodeHints(plain, 'json')), /directories/);
    assert.equal(decodeHints(encodeHints(plain, 'json')).directories, undefined);
  });
});
