/**
 * errors.ts: one error convention. Every error class the library exports has the code its name
 * gives it (class name minus `Error`; Gazette's `ErrX` names as they are), no two classes share a
 * code, and README.md's "Errors" tables list exactly the codes, families and InvalidArgument
 * reasons there are. Classes are found by importing every module under src/, so a new one cannot
 * be missed; a source scan catches error classes that are declared but not exported.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as ErrorsModule from '../../src/errors.js';
import type { RecoveryLogError } from '../../src/errors.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const SRC = join(REPO, 'src');

/** Not imported (they run on import); the scan below checks they declare no error class. */
const NOT_IMPORTED = ['src/demo/'];

/**
 * Errors that are control flow inside one layer, not part of the API: each is caught where it is
 * thrown (and retried or turned into a typed error), so it extends plain Error.
 */
const INTERNAL_ERRORS = new Set([
  'FragmentGoneError', // fragment-io: a fragment pruned under a reader; the reader reloads
  'FragmentMissing', // fragment-chain: a gap in the chain while it is being discovered
  'FencedError', // fragment-writer: the record lost to a newer epoch; the committer retries
]);

type ErrorClass = abstract new (...args: never[]) => RecoveryLogError;

/**
 * src/errors.ts as the dynamically imported modules see it. (Under mocha + tsx a static import
 * here is a CommonJS copy of the module, whose classes are not those of the imported modules.)
 */
let errors: typeof ErrorsModule;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') ? [path] : [];
  });
}

const repoPath = (file: string): string => relative(REPO, file).split('\\').join('/');

function isErrorClass(value: unknown): value is ErrorClass {
  const base = errors.RecoveryLogError;
  return typeof value === 'function' && (value === base || value.prototype instanceof base);
}

/** Every exported RecoveryLogError class, by identity, with the module that declares it. */
async function exportedErrorClasses(): Promise<Map<ErrorClass, string>> {
  const found = new Map<ErrorClass, string>();
  for (const file of sourceFiles(SRC)) {
    const path = repoPath(file);
    if (NOT_IMPORTED.some((prefix) => path.startsWith(prefix))) continue;
    const module = (await import(pathToFileURL(file).href)) as Record<string, unknown>;
    for (const value of Object.values(module)) {
      if (!isErrorClass(value)) continue;
      // Re-exports (index.ts) name the same class: keep the module whose source declares it.
      const declares = new RegExp(`class ${value.name}\\b`).test(readFileSync(file, 'utf8'));
      if (!found.has(value) || declares) found.set(value, path);
    }
  }
  return found;
}

/** `class X extends Y` declarations in the sources, where X or Y looks like an error. */
function declaredErrorClasses(): { name: string; parent: string; file: string }[] {
  const out: { name: string; parent: string; file: string }[] = [];
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/\bclass\s+(\w+)\s+extends\s+(\w+)/g)) {
      const [, name, parent] = m as unknown as [string, string, string];
      if (/Error$|^Err[A-Z]/.test(name) || /Error$|^Err[A-Z]/.test(parent)) {
        out.push({ name, parent, file: repoPath(file) });
      }
    }
  }
  return out;
}

/** Rows of the markdown table under `heading` in README.md, as cell arrays (backticks removed). */
function readmeTable(heading: string): string[][] {
  const lines = readFileSync(join(REPO, 'README.md'), 'utf8').split('\n');
  const start = lines.findIndex((line) => line.trim() === heading);
  assert.ok(start >= 0, `README.md has no heading ${JSON.stringify(heading)}`);
  const rows: string[][] = [];
  let inTable = false;
  for (const line of lines.slice(start + 1)) {
    if (line.startsWith('#')) break;
    if (!line.startsWith('|')) {
      if (inTable) break;
      continue;
    }
    inTable = true;
    const cells = line
      .slice(1, line.trimEnd().endsWith('|') ? line.trimEnd().length - 1 : undefined)
      .split(/(?<!\\)\|/)
      .map((cell) => cell.trim().replace(/`/g, ''));
    rows.push(cells);
  }
  // Drop the header row and the |---| separator.
  return rows.slice(2);
}

function duplicates(values: readonly string[]): string[] {
  return values.filter((value, i) => values.indexOf(value) !== i);
}

describe('errors: one convention', function () {
  let classes: Map<ErrorClass, string>;

  before(async function () {
    this.timeout(60_000); // imports every module of the library
    errors = await import(pathToFileURL(join(SRC, 'errors.ts')).href);
    classes = await exportedErrorClasses();
  });

  it('finds the library error classes (sanity)', function () {
    assert.ok(classes.size > 40, `only ${classes.size} error classes found under src/`);
    assert.ok(classes.has(errors.RecoveryLogError));
    assert.ok(classes.has(errors.InvalidArgumentError));
  });

  it('every error class is named XError (or Gazette ErrX) and its code is that name minus Error', function () {
    const wrong: string[] = [];
    for (const [cls, file] of classes) {
      if (!/Error$|^Err[A-Z]/.test(cls.name))
        wrong.push(`${file}: ${cls.name} is not named *Error`);
      const expected = cls.name.replace(/Error$/, '');
      if (errors.codeOfClass(cls) !== expected)
        wrong.push(`${file}: errors.codeOfClass(${cls.name})`);
      // The code an instance gets, built as the class would be (the base constructor derives it).
      const probe = Reflect.construct(errors.RecoveryLogError, ['probe'], cls) as RecoveryLogError;
      if (probe.code !== expected || probe.name !== cls.name) {
        wrong.push(`${file}: ${cls.name} instance has code ${probe.code}, name ${probe.name}`);
      }
      // Nothing below RecoveryLogError may define `code` another way.
      for (let p = cls.prototype as object; p !== errors.RecoveryLogError.prototype;) {
        if (Object.getOwnPropertyDescriptor(p, 'code') !== undefined) {
          wrong.push(`${file}: ${cls.name} defines its own code`);
        }
        p = Object.getPrototypeOf(p) as object;
      }
    }
    assert.deepEqual(wrong, []);
  });

  it('no two error classes share a code', function () {
    const codes = [...classes.keys()].map((cls) => errors.codeOfClass(cls));
    assert.deepEqual(duplicates(codes), []);
  });

  it('no error class names its code itself (super calls pass the message only)', function () {
    const explicit: string[] = [];
    for (const file of sourceFiles(SRC)) {
      const text = readFileSync(file, 'utf8');
      // The old form: super('SomeCode', message, ...) in an error class.
      for (const m of text.matchAll(/super\(\s*'([A-Za-z0-9_]+)',\s*[`'(]/g)) {
        explicit.push(`${repoPath(file)}: super('${m[1]}', ...)`);
      }
    }
    assert.deepEqual(explicit, []);
  });

  it('every error class declared in src/ is an exported RecoveryLogError (or a listed internal one)', function () {
    const exported = new Set([...classes.keys()].map((cls) => cls.name));
    const strays = declaredErrorClasses()
      .filter(({ name }) => !exported.has(name) && !INTERNAL_ERRORS.has(name))
      .filter(({ name }) => name !== 'RecoveryLogError')
      .map(({ name, parent, file }) => `${file}: ${name} extends ${parent}`);
    assert.deepEqual(strays, []);
    const declared = new Set(declaredErrorClasses().map(({ name }) => name));
    for (const name of INTERNAL_ERRORS) assert.ok(declared.has(name), `${name} no longer exists`);
  });

  it("README's Errors table lists every code once, with its class", function () {
    const rows = readmeTable('### Error codes');
    const documented = rows.map((cells) => cells[0] ?? '');
    assert.deepEqual(duplicates(documented), [], 'codes listed twice');
    const families = new Set(readmeTable('### Error families').map((cells) => cells[0] ?? ''));
    const expected = new Map<string, string>();
    for (const cls of classes.keys()) {
      if (cls === errors.RecoveryLogError || families.has(cls.name)) continue;
      expected.set(errors.codeOfClass(cls), cls.name);
    }
    const actual = new Map(rows.map((cells) => [cells[0] ?? '', cells[1] ?? '']));
    const missing = [...expected]
      .filter(([code]) => !actual.has(code))
      .map(([c, n]) => `${c} (${n})`);
    const stale = [...actual.keys()].filter((code) => !expected.has(code));
    const wrongClass = [...expected]
      .filter(([code, name]) => actual.has(code) && actual.get(code) !== name)
      .map(([code, name]) => `${code}: ${actual.get(code)} should be ${name}`);
    assert.deepEqual({ missing, stale, wrongClass }, { missing: [], stale: [], wrongClass: [] });
    for (const cells of rows) {
      assert.equal(cells.length, 4, `row ${cells[0]}: code | class | thrown when | what to do`);
      assert.ok(
        cells.every((cell) => cell.length > 0),
        `row ${cells[0]} has an empty cell`,
      );
    }
  });

  it("README's families are abstract bases with subclasses, listed once", function () {
    const families = readmeTable('### Error families').map((cells) => cells[0] ?? '');
    assert.deepEqual(duplicates(families), []);
    const byName = new Map([...classes.keys()].map((cls) => [cls.name, cls]));
    for (const name of families) {
      const family = byName.get(name);
      assert.ok(family !== undefined, `family ${name} is not an exported error class`);
      const members = [...classes.keys()].filter((cls) => cls.prototype instanceof family);
      assert.ok(members.length > 0, `family ${name} has no subclasses`);
    }
  });

  it("README's InvalidArgument table lists every reason once, and src/ uses each", function () {
    const documented = readmeTable('### InvalidArgument reasons').map((cells) => cells[0] ?? '');
    assert.deepEqual(duplicates(documented), []);
    const reasons = Object.keys(errors.INVALID_ARGUMENT_REASONS);
    assert.deepEqual([...documented].sort(), [...reasons].sort());
    const sources = sourceFiles(SRC)
      .filter((file) => repoPath(file) !== 'src/errors.ts')
      .map((file) => readFileSync(file, 'utf8'))
      .join('\n');
    const unused = reasons.filter((reason) => !sources.includes(`'${reason}'`));
    assert.deepEqual(unused, [], 'reasons no module throws');
  });

  it('an InvalidArgumentError carries its reason and the InvalidArgument code', function () {
    const error = new errors.InvalidArgumentError('ReadOffset', 'bad offset -1');
    assert.equal(error.code, 'InvalidArgument');
    assert.equal(error.reason, 'ReadOffset');
    assert.equal(error.name, 'InvalidArgumentError');
    assert.equal(error.message, 'bad offset -1');
    assert.ok(error instanceof errors.RecoveryLogError);
  });
});
