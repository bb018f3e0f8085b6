/**
 * Issue 9, item 4: Gazette's paths and property contents are proto strings, but Go writes any
 * bytes there and Gazette plays them. A Gazette-style log (no payload CRCs) with names and a
 * property that are not UTF-8 is inspected, hinted (JSON and protobuf hints round-trip the exact
 * bytes) and played leniently (full and hinted, library and CLI), and the recovered names and
 * contents are checked byte for byte. Before, every one of these refused the log. Strict
 * playback still refuses it, naming the remedy: in our own logs invalid UTF-8 is damage (the
 * simulated crash layer's torn-commit images decode to garbage names otherwise).
 *
 * The log is built by hand from Gazette's field numbers, not with our encoder.
 */
import assert from 'node:assert/strict';
import { promises as nodeFs } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { inspectStream } from '../../src/cli/inspect.js';
import { hintsAtWriteHead } from '../../src/cli/hints.js';
import { decodeHints, encodeHints } from '../../src/hints.js';
import { MemoryJournal } from '../../src/journal/memory.js';
import { Player } from '../../src/player.js';
import { crc32cUpdate } from '../../src/crc32c.js';
import { decodeByteString } from '../../src/wire/byte-string.js';
import type { FSMHints } from '../../src/wire/types.js';
import { assertExit, run } from '../helpers/cli-run.js';

const AUTHOR = 0x4d2;

function varint(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n & 0x7f) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
const field = (key: number, body: number[]): number[] => [key, ...varint(body.length), ...body];
const bytes = (...parts: (string | number[])[]): number[] =>
  parts.flatMap((p) => (typeof p === 'string' ? [...Buffer.from(p, 'latin1')] : p));

/** Gazette's RecordedOp bodies: create{path}, link{fnode, path}, write{fnode, offset, length}. */
const create = (path: number[]): number[] => field(0x22, field(0x0a, path));
const link = (fnode: number, path: number[]): number[] =>
  field(0x2a, [0x08, ...varint(fnode), ...field(0x12, path)]);
const write = (fnode: number, length: number): number[] =>
  field(0x3a, [0x08, ...varint(fnode), 0x18, ...varint(length)]);
const property = (path: number[], content: number[]): number[] =>
  field(0x42, [...field(0x0a, path), ...field(0x12, content)]);

/** A log of `bodies` (with payloads after writes), sequenced from 1 with the checksum chain. */
function gazetteLog(ops: { body: number[]; payload?: string }[]): Uint8Array {
  const out: number[] = [];
  let checksum = 0;
  ops.forEach(({ body, payload }, i) => {
    const op = [0x08, ...varint(i + 1)];
    if (checksum !== 0) op.push(0x15, ...[0, 8, 16, 24].map((s) => (checksum >>> s) & 0xff));
    op.push(0x1d, ...[0, 8, 16, 24].map((s) => (AUTHOR >>> s) & 0xff), ...body);
    const length = [0, 8, 16, 24].map((s) => (op.length >>> s) & 0xff);
    out.push(0x66, 0x33, 0x93, 0x36, ...length, ...op);
    if (payload !== undefined) out.push(...Buffer.from(payload));
    checksum = crc32cUpdate(checksum, Uint8Array.from(op));
  });
  return Uint8Array.from(out);
}

// Names: latin-1 "café" (E9 alone is not UTF-8), a directory with FF and a valid "é" after it,
// a hard link ending in FE; a property holding FF, NUL and a lone continuation byte.
const CAFE = bytes('/caf', [0xe9]);
const DEEP = bytes('/dir', [0xff], '/n', [0xc3, 0xa9]);
const LINKED = bytes('/l', [0xfe]);
const PROPERTY = bytes('id', [0xff, 0x00, 0x80], 'ok');
const LOG = gazetteLog([
  { body: create(CAFE) },
  { body: write(1, 5), payload: 'hello' },
  { body: create(DEEP) },
  { body: write(3, 5), payload: 'world' },
  { body: link(1, LINKED) },
  { body: property(bytes('/IDENTITY'), PROPERTY) },
  { body: create(bytes('/plain')) },
  { body: write(7, 2), payload: 'ok' },
]);

/** Every file under `dir` as [name bytes (hex, relative, '/'-joined), content hex]. */
async function tree(dir: string, rel: Buffer = Buffer.alloc(0)): Promise<[string, string][]> {
  const out: [string, string][] = [];
  const here = Buffer.concat([Buffer.from(dir), rel]);
  for (const name of await nodeFs.readdir(here, { encoding: 'buffer' })) {
    const child = Buffer.concat([rel, Buffer.from('/'), name]);
    const full = Buffer.concat([Buffer.from(dir), child]);
    if ((await nodeFs.lstat(full)).isDirectory()) out.push(...(await tree(dir, child)));
    else out.push([child.toString('hex'), (await nodeFs.readFile(full)).toString('hex')]);
  }
  return out.sort();
}

async function* chunks(): AsyncGenerator<Uint8Array> {
  yield LOG;
}

const hex = (b: number[]): string => Buffer.from(b).toString('hex');
const EXPECTED: [string, string][] = [
  [hex(bytes('/IDENTITY')), hex(PROPERTY)],
  [hex(CAFE), Buffer.from('hello').toString('hex')],
  [hex(DEEP), Buffer.from('world').toString('hex')],
  [hex(LINKED), Buffer.from('hello').toString('hex')],
  [hex(bytes('/plain')), Buffer.from('ok').toString('hex')],
].sort() as [string, string][];

describe('Gazette logs with names and properties that are not UTF-8 (issue 9, item 4)', () => {
  let root: string;
  let journal: MemoryJournal;
  beforeEach(async () => {
    root = await nodeFs.mkdtemp(path.join(tmpdir(), 'non-utf8-'));
    journal = new MemoryJournal('gazette/recovery-log');
    await journal.append(LOG);
  });
  afterEach(async () => {
    await journal.close();
    await nodeFs.rm(root, { recursive: true, force: true });
  });

  async function play(hints: FSMHints, lenient: boolean): Promise<string> {
    const out = path.join(root, `out-${Math.random().toString(36).slice(2)}`);
    const player = new Player({ lenient });
    player.finishAtWriteHead();
    await player.play({ hints, dir: out, journals: () => journal });
    return out;
  }

  it('plays strictly and leniently, with the exact bytes of names and contents on disk', async () => {
    const empty = { log: journal.name, liveNodes: [], properties: [] };
    assert.deepEqual(await tree(await play(empty, true)), EXPECTED);
    // Strict too: damage is found by the checksum chain, whatever bytes a name holds.
    assert.deepEqual(await tree(await play(empty, false)), EXPECTED);
    // The two links of the latin-1 file are one file.
    const out = await play(empty, true);
    const a = await nodeFs.stat(Buffer.concat([Buffer.from(out), Buffer.from(CAFE)]));
    const b = await nodeFs.stat(Buffer.concat([Buffer.from(out), Buffer.from(LINKED)]));
    assert.equal(a.ino, b.ino);
  });

  it('builds hints that round-trip the exact bytes (protobuf, and JSON with \\udcNN escapes)', async () => {
    const { hints } = await hintsAtWriteHead(journal, { lenient: true });
    assert.deepEqual(hints.properties, [
      { path: '/IDENTITY', content: decodeByteString(Uint8Array.from(PROPERTY)) },
    ]);
    const json = new TextDecoder().decode(encodeHints(hints, 'json'));
    assert.match(json, /"content":"id\\udcff\\u0000\\udc80ok"/);
    for (const format of ['protobuf', 'json'] as const) {
      const back = decodeHints(encodeHints(hints, format));
      assert.deepEqual(back, hints, format);
      assert.deepEqual(await tree(await play(back, true)), EXPECTED, `hinted play, ${format}`);
    }
    // The protobuf hints hold the property's bytes as they are.
    const proto = Buffer.from(encodeHints(hints, 'protobuf'));
    assert.ok(proto.includes(Buffer.from(PROPERTY)));
  });

  it('inspect shows such bytes escaped (\\xNN in text, \\udcNN in JSON)', async () => {
    const text: string[] = [];
    await inspectStream(chunks(), (line) => text.push(line), false);
    assert.match(text[0]!, /create .* path="\/caf\\xe9"$/);
    assert.match(text[2]!, /path="\/dir\\xff\/né"$/);
    assert.match(text[5]!, /property .* content="id\\xff\\u0000\\x80ok"$/);
    const json: string[] = [];
    await inspectStream(chunks(), (line) => json.push(line), true);
    const first = JSON.parse(json[0]!) as { path: string };
    assert.equal(first.path, '/caf\udce9');
  });

  it('the CLI imports, inspects, hints and plays it (strict and --lenient)', async () => {
    const raw = path.join(root, 'log.raw');
    await nodeFs.writeFile(raw, LOG);
    const log = path.join(root, 'log');
    assertExit(
      await run('import', '--raw', raw, '--log', log, '--name', journal.name),
      0,
      'import',
    );
    const inspected = await run('inspect', '--raw', raw);
    assertExit(inspected, 0, 'inspect');
    assert.match(inspected.stdout, /\\xe9/);
    const hintsFile = path.join(root, 'hints.json');
    assertExit(await run('hints', '--log', log, '--out', hintsFile), 0, 'hints');
    for (const extra of [
      [],
      ['--hints', hintsFile],
      ['--lenient'],
      ['--lenient', '--hints', hintsFile],
    ]) {
      const out = path.join(root, `cli-${extra.join('')}`.replace(/[^a-z-]/gi, ''));
      assertExit(await run('play', '--log', log, '--dir', out, ...extra), 0, `play ${extra}`);
      assert.deepEqual(await tree(out), EXPECTED, `play ${extra.join(' ')}`);
    }
  });
});
