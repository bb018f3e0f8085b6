/**
 * Byte surgery on journal.json (src/journal/journal-meta.ts): the file `writeMeta` writes, cut,
 * flipped or padded, and the exact JournalCorruptError (with the byte offset) or other typed
 * error `readMeta` gives. One test per error path of `readMeta`.
 *
 * Already covered in journal-meta.test.ts: a missing directory, a file in place of it, a missing
 * journal.json, a non-UTF-8 byte inside the name, text that is not JSON (without its offset), a
 * JSON array, another format tag, version 3, a numeric name, and a name breaking the rules.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  InvalidJournalNameError,
  JournalCorruptError,
  JournalIOError,
} from '../../src/journal/errors.js';
import { FileJournal } from '../../src/journal/file.js';
import {
  FORMAT,
  FORMAT_VERSION,
  META_FILE,
  readMeta,
  writeMeta,
} from '../../src/journal/journal-meta.js';
import { nodeStorage } from '../../src/journal/storage.js';

describe('journal/journal-meta: byte surgery on journal.json', () => {
  let dir: string;
  let valid: Buffer;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'recoverylog-meta-surgery-'));
    await writeMeta(nodeStorage, dir, 'app/é-log');
    valid = await readFile(join(dir, META_FILE));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  const put = (bytes: Uint8Array | string) => writeFile(join(dir, META_FILE), bytes);
  const corruptAt = (offset: number, pattern: RegExp) => (error: unknown) => {
    assert.ok(error instanceof JournalCorruptError, String(error));
    assert.equal(error.code, 'JournalCorrupt');
    assert.equal(error.file, join(dir, META_FILE));
    assert.equal(error.offset, offset, error.message);
    assert.match(error.message, pattern);
    assert.match(error.message, new RegExp(`corrupt at byte offset ${offset}: `));
    assert.match(error.message, /Restore it from a copy/);
    return true;
  };

  it('journal.json: the file as written reads back', async () => {
    assert.deepEqual(await readMeta(nodeStorage, dir), {
      name: 'app/é-log',
      version: FORMAT_VERSION,
    });
  });

  it('journal.json: an empty file is not valid JSON at offset 0', async () => {
    await put('');
    await assert.rejects(readMeta(nodeStorage, dir), corruptAt(0, /not valid JSON/));
  });

  it('journal.json: a file cut at every byte k is not valid JSON at offset k (or not UTF-8)', async () => {
    // The name holds "é" (2 bytes): a cut between them leaves half a character.
    const split = valid.indexOf(Buffer.from('é')) + 1;
    for (let k = 1; k < valid.length - 1; k++) {
      await put(valid.subarray(0, k));
      const expected =
        k === split ? corruptAt(k - 1, /not valid UTF-8/) : corruptAt(k, /not valid JSON/);
      await assert.rejects(readMeta(nodeStorage, dir), expected, `cut at ${k}`);
    }
    await put(valid.subarray(0, valid.length - 1)); // only the final newline lost: still fine
    assert.equal((await readMeta(nodeStorage, dir)).name, 'app/é-log');
  });

  it('journal.json: trailing garbage after the object is not valid JSON where it starts', async () => {
    await put(Buffer.concat([valid, Buffer.from('x\n')]));
    await assert.rejects(readMeta(nodeStorage, dir), corruptAt(valid.length, /not valid JSON/));
  });

  it('journal.json: a zero-filled file (allocated, never written) is not valid JSON at 0', async () => {
    await put(new Uint8Array(valid.length));
    await assert.rejects(readMeta(nodeStorage, dir), corruptAt(0, /not valid JSON/));
  });

  it('journal.json: a byte order mark is not valid JSON at offset 0', async () => {
    await put(Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), valid]));
    await assert.rejects(readMeta(nodeStorage, dir), corruptAt(0, /not valid JSON/));
  });

  it('journal.json: a flipped bit in a structural character is not valid JSON at its offset', async () => {
    const at = valid.indexOf(':');
    const damaged = Buffer.from(valid);
    damaged[at]! ^= 0x01; // ':' -> ';'
    await put(damaged);
    await assert.rejects(readMeta(nodeStorage, dir), corruptAt(at, /not valid JSON/));
  });

  it('journal.json: a flipped high bit in an ASCII byte is not UTF-8 at that byte', async () => {
    const at = valid.indexOf('file-journal');
    const damaged = Buffer.from(valid);
    damaged[at]! ^= 0x80;
    await put(damaged);
    await assert.rejects(readMeta(nodeStorage, dir), corruptAt(at, /not valid UTF-8/));
  });

  it('journal.json: JSON null or a string is not a JSON object', async () => {
    for (const text of ['null\n', '"recoverylog-file-journal"\n', '2']) {
      await put(text);
      await assert.rejects(readMeta(nodeStorage, dir), corruptAt(0, /expected a JSON object/));
    }
  });

  it('journal.json: a flipped bit in the format tag is not a file journal, naming both tags', async () => {
    const damaged = Buffer.from(valid);
    damaged[valid.indexOf('journal')]! ^= 0x20; // 'j' -> 'J'
    await put(damaged);
    await assert.rejects(
      readMeta(nodeStorage, dir),
      corruptAt(
        0,
        /not a file journal \(format "recoverylog-file-Journal", expected "recoverylog-file-journal"\)/,
      ),
    );
  });

  it('journal.json: a missing format tag is not a file journal', async () => {
    await put(JSON.stringify({ version: 2, name: 'app/log' }));
    await assert.rejects(
      readMeta(nodeStorage, dir),
      corruptAt(0, /not a file journal \(format undefined, expected "recoverylog-file-journal"\)/),
    );
  });

  it('journal.json: a flipped bit in the version digit is an unsupported version', async () => {
    const damaged = Buffer.from(valid);
    damaged[valid.indexOf('"version":') + 10]! ^= 0x04; // 2 -> 6, 3 -> 7: versions never written
    await put(damaged);
    await assert.rejects(
      readMeta(nodeStorage, dir),
      corruptAt(0, /unsupported format version [67] .*use the recoverylog version that wrote it/),
    );
  });

  it('journal.json: a version written as a string or missing is an unsupported version', async () => {
    await put(JSON.stringify({ format: FORMAT, version: '2', name: 'app/log' }));
    await assert.rejects(
      readMeta(nodeStorage, dir),
      corruptAt(0, /unsupported format version "2"/),
    );
    await put(JSON.stringify({ format: FORMAT, name: 'app/log' }));
    await assert.rejects(
      readMeta(nodeStorage, dir),
      corruptAt(0, /unsupported format version undefined/),
    );
  });

  it('journal.json: a missing name is JournalCorruptError', async () => {
    await put(JSON.stringify({ format: FORMAT, version: 2 }));
    await assert.rejects(
      readMeta(nodeStorage, dir),
      corruptAt(0, /the "name" field is missing or not a string/),
    );
  });

  it('journal.json: a flipped bit making the name illegal is InvalidJournalNameError naming the file', async () => {
    const damaged = Buffer.from(valid);
    damaged[valid.indexOf('app/')]! ^= 0x41; // 'a' -> ' ': a name may not hold a space
    await put(damaged);
    await assert.rejects(readMeta(nodeStorage, dir), (error: unknown) => {
      assert.ok(error instanceof InvalidJournalNameError, String(error));
      assert.equal(error.journalName, ' pp/é-log');
      assert.ok(error.message.includes(`in ${join(dir, META_FILE)}`), error.message);
      return true;
    });
  });

  it('journal.json: a directory in its place passes the OS error on, which FileJournal.open types as JournalIOError', async () => {
    await rm(join(dir, META_FILE));
    await mkdir(join(dir, META_FILE));
    await assert.rejects(readMeta(nodeStorage, dir), { code: 'EISDIR' });
    await assert.rejects(FileJournal.open(dir), (error: unknown) => {
      assert.ok(error instanceof JournalIOError, String(error));
      assert.match(error.message, /EISDIR/);
      return true;
    });
  });
});
