/**
 * What `npm publish` would ship: the library only. The package is built afresh into a staging
 * directory (tsc with tsconfig.json, so what is checked is the build configuration, not whatever
 * an earlier build left in dist/), beside a placeholder for every other top-level entry of the
 * repository, and `npm pack --dry-run` lists what `files` lets through. Its runtime dependencies
 * must be exactly the packages the built JavaScript imports (parsed by esbuild, not grepped), and
 * its declarations must hold no `@internal` member nor a reference one left dangling.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { builtinModules } from 'node:module';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

interface PackageJson {
  main: string;
  types: string;
  bin: Record<string, string>;
  exports: Record<string, string | Record<string, string>>;
  scripts: Record<string, string>;
  dependencies: Record<string, string>;
  peerDependencies: Record<string, string>;
  peerDependenciesMeta: Record<string, { optional?: boolean }>;
}

function run(command: string, args: string[], cwd: string): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(command, args, { cwd, maxBuffer: 64 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) reject(new Error(`${command} ${args.join(' ')} failed:\n${stdout}${stderr}`));
      else resolve(stdout);
    });
  });
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    return entry.isDirectory() ? filesUnder(path) : [path];
  });
}

/** The package a specifier names (`@scope/name/sub.js` → `@scope/name`), or undefined for Node's. */
function packageOf(specifier: string): string | undefined {
  if (specifier.startsWith('node:') || builtinModules.includes(specifier.split('/')[0]!)) {
    return undefined;
  }
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0];
}

interface RuntimeImport {
  file: string;
  pkg: string;
  dynamic: boolean;
}

/**
 * Every package the built JavaScript loads: esbuild's parse for `import`/`export … from` and
 * literal `import()`, plus `createRequire(import.meta.url)('…')`, which no bundler follows.
 * Anything that loads a module by a computed name is reported as unanalysable.
 */
async function runtimeImports(
  dist: string,
): Promise<{ imports: RuntimeImport[]; opaque: string[] }> {
  const files = filesUnder(dist).filter((file) => file.endsWith('.js'));
  const result = await build({
    entryPoints: files,
    bundle: true,
    write: false,
    metafile: true,
    platform: 'node',
    format: 'esm',
    packages: 'external',
    outdir: join(dist, '..', 'esbuild-out'),
    logLevel: 'silent',
  });
  const imports: RuntimeImport[] = [];
  for (const [file, input] of Object.entries(result.metafile.inputs)) {
    for (const use of input.imports) {
      const pkg = use.external ? packageOf(use.path) : undefined;
      if (pkg !== undefined) imports.push({ file, pkg, dynamic: use.kind === 'dynamic-import' });
    }
  }
  const opaque: string[] = [];
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const name = relative(dist, file);
    for (const m of text.matchAll(
      /createRequire\(import\.meta\.url\)\(\s*(['"])([^'"]+)\1\s*\)/g,
    )) {
      const pkg = packageOf(m[2]!);
      if (pkg !== undefined) imports.push({ file: name, pkg, dynamic: true });
    }
    const calls = text.match(/\bcreateRequire\(/g)?.length ?? 0;
    const literal = text.match(/\bcreateRequire\(import\.meta\.url\)\(\s*['"]/g)?.length ?? 0;
    if (calls !== literal)
      opaque.push(`${name}: a createRequire call not of the form (url)('name')`);
    for (const m of text.matchAll(/\b(import|require)\(\s*(?![\s'"])/g)) {
      opaque.push(`${name}: ${m[1]}() of a computed name at index ${m.index}`);
    }
  }
  return { imports, opaque };
}

describe('the published package', function () {
  this.timeout(180_000);
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as PackageJson;
  let stage: string;
  let packed: string[];

  before(async function () {
    stage = mkdtempSync(join(tmpdir(), 'recoverylog-package-'));
    // A placeholder for every top-level entry of the repository that the build does not make, so
    // that `files` has something to keep out (the build's own dist/ comes from tsc below).
    for (const entry of readdirSync(ROOT, { withFileTypes: true })) {
      if (['node_modules', '.git', 'dist'].includes(entry.name)) continue;
      const from = join(ROOT, entry.name);
      if (entry.isDirectory()) {
        if (entry.name === 'proto') cpSync(from, join(stage, entry.name), { recursive: true });
        else {
          mkdirSync(join(stage, entry.name));
          writeFileSync(join(stage, entry.name, 'placeholder.test.ts'), '');
        }
      } else if (entry.isFile()) cpSync(from, join(stage, entry.name));
    }
    // Declarations of the dependencies, for the check of the built .d.ts (npm never packs this).
    symlinkSync(join(ROOT, 'node_modules'), join(stage, 'node_modules'), 'dir');
    await run(
      process.execPath,
      [TSC, '-p', join(ROOT, 'tsconfig.json'), '--outDir', join(stage, 'dist')],
      ROOT,
    );
    const listing = await run('npm', ['pack', '--dry-run', '--json', '--ignore-scripts'], stage);
    packed = (JSON.parse(listing) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
  });

  after(function () {
    rmSync(stage, { recursive: true, force: true });
  });

  it('ships the library build, the schema and the README, nothing else', function () {
    const outside = packed.filter(
      (path) =>
        !/^(package\.json|README\.md|LICEN[CS]E(\.\w+)?|proto\/[\w-]+\.proto|dist\/.+\.(js|d\.ts|js\.map))$/.test(
          path,
        ),
    );
    assert.deepEqual(
      outside,
      [],
      `files outside the library in the package:\n${outside.join('\n')}`,
    );
    const internal = packed.filter((path) =>
      /(^|\/)(demo|testing|tests?|__tests__|fixtures|bench|examples|scripts)\/|\.(test|spec)\.|placeholder/.test(
        path,
      ),
    );
    assert.deepEqual(internal, [], `demo or test files in the package:\n${internal.join('\n')}`);
    assert.ok(packed.length > 50, `only ${packed.length} files packed: ${packed.join(' ')}`);
  });

  it('holds every file package.json names in dist/ (bin, main, types, exports, scripts)', function () {
    const named = [
      pkg.main,
      pkg.types,
      ...Object.values(pkg.bin),
      ...Object.values(pkg.exports).flatMap((target) =>
        typeof target === 'string' ? [target] : Object.values(target),
      ),
      ...Object.values(pkg.scripts).flatMap((script) => script.match(/\bdist\/[\w./-]+/g) ?? []),
    ].map((path) => path.replace(/^\.\//, ''));
    const missing = named.filter((path) => !packed.includes(path));
    assert.deepEqual(missing, [], `named in package.json but not packed: ${missing.join(', ')}`);
  });

  it('depends at run time on exactly the packages dist/ imports; optional peers only lazily', async function () {
    const { imports, opaque } = await runtimeImports(join(stage, 'dist'));
    assert.deepEqual(opaque, [], `imports that cannot be analysed:\n${opaque.join('\n')}`);
    const dependencies = Object.keys(pkg.dependencies).sort();
    const peers = Object.keys(pkg.peerDependencies).sort();
    assert.deepEqual(
      dependencies.filter((name) => peers.includes(name)),
      [],
      'a package is both a dependency and a peer dependency',
    );
    const imported = [...new Set(imports.map((i) => i.pkg))].sort();
    assert.deepEqual(
      imported,
      [...dependencies, ...peers].sort(),
      'dependencies + peerDependencies differ from what dist/ imports',
    );
    // An optional peer is absent in most installs: loading the library must not need it.
    const optional = peers.filter((name) => pkg.peerDependenciesMeta[name]?.optional === true);
    const eager = imports.filter((i) => optional.includes(i.pkg) && !i.dynamic);
    assert.deepEqual(
      eager.map((i) => `${i.file}: ${i.pkg}`),
      [],
      'optional peer dependencies imported statically',
    );
  });

  it('declares no @internal member, and its declarations type-check on their own', async function () {
    const declarations = filesUnder(join(stage, 'dist')).filter((file) => file.endsWith('.d.ts'));
    assert.ok(declarations.length > 20, `only ${declarations.length} declaration files`);
    const leaked = declarations.filter((file) => readFileSync(file, 'utf8').includes('@internal'));
    assert.deepEqual(
      leaked.map((file) => relative(stage, file)),
      [],
      '@internal in declarations',
    );
    // stripInternal drops declarations, so a public one naming a stripped one would dangle; the
    // build itself skips library checks, this one does not.
    writeFileSync(
      join(stage, 'tsconfig.consumer.json'),
      JSON.stringify({
        compilerOptions: {
          strict: true,
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          noEmit: true,
          skipLibCheck: false,
          types: ['node'],
        },
        include: ['dist/**/*.d.ts'],
      }),
    );
    await run(process.execPath, [TSC, '-p', 'tsconfig.consumer.json'], stage);
  });
});
