/**
 * The README's example runs exactly as printed: the ```ts block of its "## Example" section is
 * extracted from README.md and run as a program, in a child process, twice (it must be
 * re-runnable). The one thing supplied from outside is what `import ... from 'recoverylog'`
 * resolves to: this checkout's sources (a resolve hook; a user gets the published package).
 * examples/quickstart.ts, which the lint step type-checks, must be the same text.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The body of the ```ts block of the README's "## Example" section, as printed. */
export function readmeExample(readme: string): string {
  const section = /^## Example\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  assert.ok(section !== undefined, 'README.md has no "## Example" section');
  const blocks = [...section.matchAll(/^```ts\n([\s\S]*?)^```$/gm)].map((m) => m[1]);
  assert.equal(
    blocks.length,
    1,
    `the Example section should hold one ts block, not ${blocks.length}`,
  );
  return blocks[0]!;
}

/** An --import module that makes the bare specifier 'recoverylog' resolve to src/index.ts. */
function selfPackageHook(): string {
  const index = pathToFileURL(join(ROOT, 'src/index.ts')).href;
  const hook =
    'export async function resolve(specifier, context, next) {' +
    ` return next(specifier === 'recoverylog' ? ${JSON.stringify(index)} : specifier, context); }`;
  const register =
    "import { register } from 'node:module';" +
    ` register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(hook)}`)});`;
  return `data:text/javascript,${encodeURIComponent(register)}`;
}

function runProgram(
  file: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', '--import', selfPackageHook(), file],
      { cwd: ROOT, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        const code = err === null ? 0 : typeof err.code === 'number' ? err.code : -1;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

describe('README example', function () {
  this.timeout(120_000);

  let readme: string;
  let tmp: string;
  before(async () => {
    readme = await readFile(join(ROOT, 'README.md'), 'utf8');
    tmp = await mkdtemp(join(tmpdir(), 'recoverylog-readme-'));
  });
  after(() => rm(tmp, { recursive: true, force: true }));

  it('is the text of examples/quickstart.ts (which the lint step type-checks)', async () => {
    assert.equal(
      readmeExample(readme),
      await readFile(join(ROOT, 'examples/quickstart.ts'), 'utf8'),
    );
  });

  it('runs as printed, creating its directories, and runs again', async () => {
    const program = join(tmp, 'readme-example.mts');
    await writeFile(program, readmeExample(readme));
    // The example keeps its state under os.tmpdir(): point that at this test's directory.
    const env = { TMPDIR: join(tmp, 'tmp') };
    await mkdir(env.TMPDIR);
    for (const round of ['first run', 'second run']) {
      const r = await runProgram(program, env);
      assert.equal(r.code, 0, `${round}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
      assert.equal(r.stdout, 'wal=000001.log\n\n', round);
      const restored = join(env.TMPDIR, 'recoverylog-quickstart', 'restored');
      assert.equal(await readFile(join(restored, '000001.log'), 'utf8'), 'put k1 v1\n', round);
      assert.equal(await readFile(join(restored, 'MANIFEST'), 'utf8'), 'wal=000001.log\n', round);
    }
  });
});
