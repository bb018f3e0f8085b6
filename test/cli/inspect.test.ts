import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, UsageError } from '../../src/cli/args.js';
import { inspectStream, UnreadableLogError } from '../../src/cli/inspect.js';
import { crc32c } from '../../src/crc32c.js';
import { encodeRecordedOp } from '../../src/wire/codec.js';
import { encodeFrame } from '../../src/wire/framing.js';
import type { RecordedOp } from '../../src/wire/types.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const ascii = (s: string): Uint8Array => new TextEncoder().encode(s);

function frameOf(fields: Partial<RecordedOp> & { seqNo: number }): Uint8Array {
  const op: RecordedOp = {
    checksum: 0,
    author: 1234,
    firstOffset: 0,
    lastOffset: 0,
    log: '',
    ...fields,
  };
  return encodeFrame(encodeRecordedOp(op));
}

function concat(parts: Uint8Array[]): Uint8Array {
  return Uint8Array.from(parts.flatMap((p) => [...p]));
}

const payload = ascii('hello');
/** A log holding one op of every kind, a Write payload and a garbage run. */
const parts = [
  frameOf({ seqNo: 1, create: { path: '/path/to/file' } }), // 0..32
  frameOf({
    seqNo: 2,
    checksum: 0x568e8e4e,
    write: { fnode: 1, offset: 7, length: 5, payloadCrc32c: crc32c(payload) },
  }),
  payload,
  ascii('** garbage **'),
  frameOf({ seqNo: 3, link: { fnode: 1, path: '/linked' } }),
  frameOf({ seqNo: 4, unlink: { fnode: 1, path: '/path/to/file' } }),
  frameOf({ seqNo: 5, property: { path: '/IDENTITY', content: 'value "quoted"' } }),
  frameOf({ seqNo: 6, author: 5678 }),
];
const LOG = concat(parts);

/** The JSON lines the fixture must produce, with offsets computed from the parts. */
function expectedLines(): Array<Record<string, unknown>> {
  const starts: number[] = [];
  let at = 0;
  for (const part of parts) {
    starts.push(at);
    at += part.length;
  }
  const common = { checksum: 0, author: 1234 };
  return [
    { offset: 0, end: 32, op: 'create', seq_no: 1, ...common, path: '/path/to/file' },
    {
      offset: starts[1],
      end: starts[3],
      op: 'write',
      seq_no: 2,
      checksum: 0x568e8e4e,
      author: 1234,
      fnode: 1,
      write_offset: 7,
      length: 5,
      payload_crc32c: crc32c(payload),
    },
    { offset: starts[3], end: starts[4], op: 'garbage' },
    {
      offset: starts[4],
      end: starts[5],
      op: 'link',
      seq_no: 3,
      ...common,
      fnode: 1,
      path: '/linked',
    },
    {
      offset: starts[5],
      end: starts[6],
      op: 'unlink',
      seq_no: 4,
      ...common,
      fnode: 1,
      path: '/path/to/file',
    },
    {
      offset: starts[6],
      end: starts[7],
      op: 'property',
      seq_no: 5,
      ...common,
      path: '/IDENTITY',
      content: 'value "quoted"',
    },
    { offset: starts[7], end: at, op: 'noop', seq_no: 6, checksum: 0, author: 5678 },
  ];
}

interface RunResult {
  status: number;
  stdout: string;
  stderr: string;
}

function runCli(args: string[]): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', 'src/cli/main.ts', ...args],
      { cwd: ROOT, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err !== null && typeof err.code !== 'number') {
          reject(err);
          return;
        }
        resolve({ status: err === null ? 0 : Number(err.code), stdout, stderr });
      },
    );
  });
}

const jsonLines = (stdout: string): unknown[] =>
  stdout
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as unknown);

async function* chunksOf(bytes: Uint8Array, size: number): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('cli: inspectStream (in process)', () => {
  it('prints the same JSON lines whatever the chunk size', async () => {
    for (const size of [1, 3, 7, 64, 4096]) {
      const lines: string[] = [];
      await inspectStream(chunksOf(LOG, size), (line) => lines.push(line), true);
      assert.deepEqual(
        lines.map((l) => JSON.parse(l) as unknown),
        expectedLines(),
        `chunk size ${size}`,
      );
    }
  });

  it('prints a human-readable line per item', async () => {
    const lines: string[] = [];
    await inspectStream(chunksOf(LOG, 100), (line) => lines.push(line), false);
    assert.equal(lines.length, 7);
    assert.equal(
      lines[0],
      '0..32 create seq=1 checksum=0x00000000 author=1234 path="/path/to/file"',
    );
    assert.match(
      lines[1],
      /^32\.\.\d+ write seq=2 checksum=0x568e8e4e author=1234 fnode=1 write_offset=7 length=5 payload_crc32c=0x[0-9a-f]{8}$/,
    );
    assert.match(lines[2], /^\d+\.\.\d+ garbage \(13 bytes\)$/);
    assert.match(lines[5], /content="value \\"quoted\\""$/);
  });

  it('reports offsets relative to a start offset', async () => {
    const lines: string[] = [];
    await inspectStream(chunksOf(parts[0], 8), (line) => lines.push(line), true, {
      startOffset: 1000,
    });
    assert.deepEqual(JSON.parse(lines[0]), { ...expectedLines()[0], offset: 1000, end: 1032 });
  });

  it('prints what it could read, then fails naming the offset', async () => {
    const truncated = LOG.subarray(0, 32 + parts[1].length + 2); // inside the Write payload
    for (const size of [5, 4096]) {
      const lines: string[] = [];
      await assert.rejects(
        inspectStream(chunksOf(truncated, size), (line) => lines.push(line), true),
        (err: unknown) =>
          err instanceof UnreadableLogError && err.code === 'UnreadableLog' && err.offset === 32,
      );
      assert.equal(lines.length, 1, `chunk size ${size}`);
    }

    const negative = frameOf({ seqNo: 1, write: { fnode: 1, offset: 0, length: -1 } });
    await assert.rejects(
      inspectStream(chunksOf(negative, 64), () => undefined, true),
      /offset 0: Write op declares a negative payload length/,
    );
  });
});

describe('cli: argument parser', () => {
  const specs = {
    raw: { type: 'string' },
    json: { type: 'boolean' },
    log: { type: 'string', multiple: true },
  } as const;

  it('parses values, switches, repeated flags and positionals', () => {
    const parsed = parseArgs(
      ['--raw', 'a.bin', '--log=A', 'pos', '--json', '--log', 'B', '--', '--raw'],
      specs,
    );
    assert.deepEqual(parsed.flags, { raw: 'a.bin', json: true, log: ['A', 'B'] });
    assert.deepEqual(parsed.positionals, ['pos', '--raw']);
    assert.deepEqual(parseArgs([], specs).flags, { raw: undefined, json: false, log: [] });
    assert.equal(parseArgs(['--json=false'], specs).flags.json, false);
    assert.equal(parseArgs(['--raw', '-'], specs).flags.raw, '-');
    assert.equal(parseArgs(['--raw='], specs).flags.raw, '');
  });

  it('rejects unknown flags, missing values, repeats and switch values', () => {
    const cases: Array<[string[], RegExp]> = [
      [['--bogus'], /unknown flag --bogus/],
      [['--raw'], /--raw needs a value/],
      [['--raw', '--json'], /--raw needs a value/],
      [['--raw', 'a', '--raw', 'b'], /--raw given more than once/],
      [['--json=yes'], /--json is a switch/],
      [['--toString'], /unknown flag --toString/],
    ];
    for (const [argv, message] of cases) {
      assert.throws(
        () => parseArgs(argv, specs),
        (err: unknown) =>
          err instanceof UsageError && err.code === 'Usage' && message.test(err.message),
        argv.join(' '),
      );
    }
  });
});

describe('cli: recoverylog inspect (child process)', function () {
  // Each run starts node with tsx: allow for a slow shared machine.
  this.timeout(60_000);
  let dir: string;

  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'recoverylog-inspect-'));
    writeFileSync(join(dir, 'log.bin'), LOG);
    // Truncated in the header of the link frame (after the garbage run).
    const linkStart = expectedLines()[3].offset as number;
    writeFileSync(join(dir, 'truncated.bin'), LOG.subarray(0, linkStart + 5));
    // A frame whose payload is not a RecordedOp (seq_no with the fixed32 wire type).
    writeFileSync(
      join(dir, 'undecodable.bin'),
      concat([parts[0], encodeFrame(Uint8Array.of(0x0d, 1, 2, 3, 4))]),
    );
  });

  after(() => rmSync(dir, { recursive: true, force: true }));

  it('prints one JSON object per frame and exits 0', async () => {
    const result = await runCli(['inspect', '--raw', join(dir, 'log.bin'), '--json']);
    assert.equal(result.stderr, '');
    assert.equal(result.status, 0);
    assert.deepEqual(jsonLines(result.stdout), expectedLines());
  });

  it('prints the human form without --json', async () => {
    const result = await runCli(['inspect', `--raw=${join(dir, 'log.bin')}`]);
    assert.equal(result.status, 0);
    const lines = result.stdout.trimEnd().split('\n');
    assert.equal(lines.length, 7);
    assert.equal(
      lines[0],
      '0..32 create seq=1 checksum=0x00000000 author=1234 path="/path/to/file"',
    );
  });

  it('prints what precedes a truncated frame, then the offset on stderr, and exits 1', async () => {
    const result = await runCli(['inspect', '--json', '--raw', join(dir, 'truncated.bin')]);
    assert.equal(result.status, 1);
    assert.deepEqual(jsonLines(result.stdout), expectedLines().slice(0, 3));
    const linkStart = expectedLines()[3].offset as number;
    assert.match(result.stderr, new RegExp(`unexpected end of stream at offset ${linkStart}`));
  });

  it('exits 1 naming the offset of an undecodable op', async () => {
    const result = await runCli(['inspect', '--json', '--raw', join(dir, 'undecodable.bin')]);
    assert.equal(result.status, 1);
    assert.deepEqual(jsonLines(result.stdout), expectedLines().slice(0, 1));
    assert.match(result.stderr, /cannot read the log at offset 32: cannot decode RecordedOp/);
  });

  it('exits 1 when the file cannot be opened', async () => {
    const result = await runCli(['inspect', '--raw', join(dir, 'missing.bin')]);
    assert.equal(result.status, 1);
    assert.match(result.stderr, /ENOENT/);
  });

  it('exits 2 on usage errors', async () => {
    const unknownFlag = await runCli(['inspect', '--raw', join(dir, 'log.bin'), '--bogus']);
    assert.equal(unknownFlag.status, 2);
    assert.match(unknownFlag.stderr, /unknown flag --bogus/);
    assert.equal(unknownFlag.stdout, '');

    const missing = await runCli(['inspect', '--json']);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /inspect needs --raw FILE/);

    const unknownVerb = await runCli(['frobnicate']);
    assert.equal(unknownVerb.status, 2);
    assert.match(unknownVerb.stderr, /unknown verb "frobnicate"/);

    const nothing = await runCli([]);
    assert.equal(nothing.status, 2);
    assert.match(nothing.stderr, /Usage: recoverylog VERB/);
  });

  it('prints help at the top level and per verb', async () => {
    const top = await runCli(['--help']);
    assert.equal(top.status, 0);
    assert.match(top.stdout, /Usage: recoverylog VERB/);
    assert.match(top.stdout, /inspect\s+print the ops/);

    const verb = await runCli(['inspect', '--help']);
    assert.equal(verb.status, 0);
    assert.match(verb.stdout, /Usage: recoverylog inspect --raw FILE \[--json\]/);
    assert.match(verb.stdout, /payload_crc32c/);

    const helpVerb = await runCli(['help', 'inspect']);
    assert.equal(helpVerb.status, 0);
    assert.equal(helpVerb.stdout, verb.stdout);
  });
});
