/** journal-meta.ts: journal.json written durably and every way reading it can fail. */
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  InvalidJournalNameError,
  JournalCorruptError,
  JournalNotFoundError,
} from '../../src/journal/errors.js';
import {
  FORMAT,
  FORMAT_VERSION,
  LEGACY_FORMAT_VERSION,
  META_FILE,
  readMeta,
  writeMeta,
} from '../../src/journal/journal-meta.js';
import { nodeStorage } from '../../src/journal/storage.js';

describe('journal metadata (journal.json)', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'recoverylog-meta-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const put = (content: string | Uint8Array): Promise<void> =>
    writeFile(join(dir, META_FILE), content);
  const corrupt =
    (pattern: RegExp, offset = 0) =>
    (error: unknown) => {
      assert.ok(error instanceof JournalCorruptError, String(error));
      assert.equal(error.file, join(dir, META_FILE));
      assert.equal(error.offset, offset);
      assert.match(error.message, pattern);
      return true;
    };

  it('writes format, version and name as one JSON line, leaving no temp file', async () => {
    await writeMeta(nodeStorage, dir, 'app/log');
    assert.equal(
      await readFile(join(dir, META_FILE), 'utf8'),
      `${JSON.stringify({ format: FORMAT, version: FORMAT_VERSION, name: 'app/log' })}\n`,
    );
    assert.deepEqual(await readdir(dir), [META_FILE]);
    assert.deepEqual(await readMeta(nodeStorage, dir), {
      name: 'app/log',
      version: FORMAT_VERSION,
    });
  });

  it('replaces existing metadata whole (the version 1 upgrade rewrites it)', async () => {
    await put(JSON.stringify({ format: FORMAT, version: LEGACY_FORMAT_VERSION, name: 'app/log' }));
    assert.equal((await readMeta(nodeStorage, dir)).version, LEGACY_FORMAT_VERSION);
    await writeMeta(nodeStorage, dir, 'app/log');
    assert.equal((await readMeta(nodeStorage, dir)).version, FORMAT_VERSION);
  });

  it('a missing directory is JournalNotFoundError saying so', async () => {
    await assert.rejects(readMeta(nodeStorage, join(dir, 'nope')), (error: unknown) => {
      assert.ok(error instanceof JournalNotFoundError);
      assert.match(error.message, /the directory does not exist/);
      return true;
    });
  });

  it('a file in place of the directory is JournalNotFoundError saying so', async () => {
    await writeFile(join(dir, 'file'), 'x');
    await assert.rejects(readMeta(nodeStorage, join(dir, 'file')), (error: unknown) => {
      assert.ok(error instanceof JournalNotFoundError);
      assert.match(error.message, /not a directory/);
      return true;
    });
  });

  it('a directory without journal.json is JournalNotFoundError pointing at an interrupted create', async () => {
    await assert.rejects(readMeta(nodeStorage, dir), (error: unknown) => {
      assert.ok(error instanceof JournalNotFoundError);
      assert.match(error.message, /journal\.json is missing .*create was interrupted/);
      return true;
    });
  });

  it('bytes that are not UTF-8 are JournalCorruptError at the first bad byte', async () => {
    await put(Buffer.concat([Buffer.from('{"name":"'), Buffer.from([0xff]), Buffer.from('"}')]));
    await assert.rejects(readMeta(nodeStorage, dir), corrupt(/not valid UTF-8/, 9));
  });

  it('text that is not JSON is JournalCorruptError', async () => {
    await put('{"format": ');
    await assert.rejects(readMeta(nodeStorage, dir), (error: unknown) => {
      assert.ok(error instanceof JournalCorruptError);
      assert.match(error.message, /not valid JSON/);
      return true;
    });
  });

  it('JSON that is not an object is JournalCorruptError', async () => {
    await put('[1, 2]');
    await assert.rejects(readMeta(nodeStorage, dir), corrupt(/expected a JSON object/));
  });

  it('another format tag is JournalCorruptError naming both tags', async () => {
    await put(JSON.stringify({ format: 'other', version: 2, name: 'app/log' }));
    await assert.rejects(
      readMeta(nodeStorage, dir),
      corrupt(/not a file journal \(format "other", expected "recoverylog-file-journal"\)/),
    );
  });

  it('an unknown version is JournalCorruptError telling which version this library reads', async () => {
    await put(JSON.stringify({ format: FORMAT, version: 4, name: 'app/log' }));
    await assert.rejects(
      readMeta(nodeStorage, dir),
      corrupt(/unsupported format version 4 \(this library reads versions 1 to 3\)/),
    );
  });

  it('a missing or non-string name is JournalCorruptError', async () => {
    await put(JSON.stringify({ format: FORMAT, version: 2, name: 7 }));
    await assert.rejects(
      readMeta(nodeStorage, dir),
      corrupt(/"name" field is missing or not a string/),
    );
  });

  it('a name breaking the journal-name rules is InvalidJournalNameError naming the file', async () => {
    await put(JSON.stringify({ format: FORMAT, version: 2, name: 'has space' }));
    await assert.rejects(readMeta(nodeStorage, dir), (error: unknown) => {
      assert.ok(error instanceof InvalidJournalNameError);
      assert.equal(error.journalName, 'has space');
      assert.ok(error.message.includes(join(dir, META_FILE)));
      return true;
    });
  });
});
