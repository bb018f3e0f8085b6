/**
 * Every test file runs somewhere. `test:unit` names its directories one by one (so the crash and
 * JetStream layers stay out of it), which means a new directory under `test/` would silently never
 * run; this test catches that, and keeps the slow layers out of `test:unit`. The map of
 * directories to `src/` areas is test/README.md.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** The `test/…/**` globs quoted in a command line, each cut to the directory it covers. */
function globDirs(command: string): string[] {
  return [...command.matchAll(/"(test\/[^"*]*)\*\*\/[^"]*"/g)].flatMap((match) => {
    const dir = match[1]!; // e.g. "test/property/" or "test/{core,wire}/"
    const braces = /\{([^}]*)\}/.exec(dir);
    if (!braces) return [dir];
    return braces[1]!.split(',').map((name) => dir.replace(braces[0], name));
  });
}

function testFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testFiles(path);
    return entry.name.endsWith('.test.ts') ? [relative(REPO, path)] : [];
  });
}

describe('test layout', function () {
  const scripts = (
    JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as {
      scripts: Record<string, string>;
    }
  ).scripts;
  const unitDirs = globDirs(scripts['test:unit']!);
  const layerDirs = [
    ...globDirs(scripts['test:simulated']!),
    ...globDirs(scripts['test:kill']!),
    ...globDirs(readFileSync(join(REPO, 'test/jetstream/run.sh'), 'utf8')),
  ];

  it('finds the globs it checks', function () {
    assert.ok(
      unitDirs.includes('test/core/') && unitDirs.includes('test/property/'),
      `${unitDirs}`,
    );
    assert.ok(layerDirs.includes('test/jetstream/'), `${layerDirs}`);
  });

  it('every *.test.ts under test/ is run by test:unit or by a layer script', function () {
    const dirs = [...unitDirs, ...layerDirs];
    const orphans = testFiles(join(REPO, 'test')).filter(
      (file) => !dirs.some((dir) => file.startsWith(dir)),
    );
    assert.deepEqual(orphans, [], `add their directory to a script in package.json`);
  });

  it('test:unit runs neither the crash layers, nor JetStream, nor helpers', function () {
    const slow = unitDirs.filter((dir) =>
      ['test/crash/', 'test/jetstream/', 'test/helpers/'].some((layer) => dir.startsWith(layer)),
    );
    assert.deepEqual(slow, []);
  });
});
