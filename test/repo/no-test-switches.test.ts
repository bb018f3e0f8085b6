/**
 * The published package carries no test switch: no environment variable that turns a seeded bug
 * on or SIGKILLs the process, no seeded-bug or failpoint call. Environmental bugs live in the
 * simulated disk (test/crash/lib/faulty-fs.ts), logic mutants are source patches applied by the
 * seeded-bug suite to a copy of the sources (test/crash/lib/source-mutants.ts), and the kill -9
 * layer reaches its failpoints through the library's seams (test/crash/kill/child-faults.ts).
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(REPO, 'src');

const FORBIDDEN = [
  'RECOVERYLOG_SEEDED_BUGS',
  'RECOVERYLOG_FAILPOINT',
  'seededBug',
  'SeededBug',
  'failpoint(',
  'testing/faults',
];

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return /\.(ts|js|mjs|cjs|json)$/.test(entry.name) ? [path] : [];
  });
}

describe('no test switches in the published sources', function () {
  it('src/ names no seeded bug, failpoint or test-switch environment variable', function () {
    const files = sourceFiles(SRC);
    assert.ok(files.length > 20, `only ${files.length} source files found under ${SRC}`);
    const found: string[] = [];
    for (const file of files) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        for (const name of FORBIDDEN) {
          if (line.includes(name)) {
            found.push(`${relative(REPO, file)}:${i + 1}: ${name}: ${line.trim()}`);
          }
        }
      });
    }
    assert.deepEqual(found, [], `test switches in shipped code:\n${found.join('\n')}`);
  });

  it('src/testing/ (the old home of the switches) is gone', function () {
    assert.throws(() => readdirSync(join(SRC, 'testing')), { code: 'ENOENT' });
  });
});
