/**
 * Real clients on RecordedFs, with no adapter of ours (issue 9, item 5): published packages that
 * take a custom file system do their work through it, the Player recovers the directory, and the
 * recovered tree equals the live one. isomorphic-git takes `fs` (callback or promises form),
 * rollup 4 its `fs` option (fs/promises-shaped), webpack 5 its `outputFileSystem` (callback-style).
 * The recovered git repository passes the real `git fsck --full --strict`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import git, { type FsClient } from 'isomorphic-git';
import { rollup, type RollupFsModule } from 'rollup';
import webpack from 'webpack';
import type { RecordedFs } from '../../src/recorded-fs.js';
import { KINDS, recordedEnv, type RecordedEnv } from '../helpers/recorded-tree.js';

function realGit(dir: string, ...args: string[]): string {
  return execFileSync('git', ['-C', dir, ...args], {
    encoding: 'utf8',
    env: { ...process.env, GIT_CONFIG_NOSYSTEM: '1', HOME: dir, GIT_CONFIG_GLOBAL: '/dev/null' },
  });
}

describe('real clients on RecordedFs', function () {
  this.timeout(60_000);
  let env: RecordedEnv;
  const p = (rel: string): string => `${env.dir}/${rel}`;
  afterEach(async () => {
    await env?.cleanup();
  });

  const gitForms: [string, (rfs: RecordedFs) => FsClient][] = [
    ['fs: rfs.asNodeFs() (callback functions + promises)', (rfs) => rfs.asNodeFs()],
    ['fs: { promises: rfs }', (rfs) => ({ promises: rfs })],
    ['fs: rfs', (rfs) => rfs],
  ];
  for (const [form, fsOf] of gitForms) {
    it(`isomorphic-git (${form}): init, add, commits, branches, checkout; recovered repo passes git fsck --strict`, async () => {
      env = await recordedEnv('node:fs');
      const fs = fsOf(env.rfs);
      const dir = p('repo');
      const author = {
        name: 'Rec Order',
        email: 'rec@example.com',
        timestamp: 1_700_000_000,
        timezoneOffset: 0,
      };
      const commit = (message: string) => git.commit({ fs, dir, message, author });
      await git.init({ fs, dir, defaultBranch: 'main' });
      await env.rfs.writeFile(`${dir}/README.md`, '# recorded\n');
      await env.rfs.mkdir(`${dir}/src/lib`, { recursive: true });
      await env.rfs.writeFile(`${dir}/src/lib/a.txt`, 'alpha\n');
      await git.add({ fs, dir, filepath: '.' });
      const first = await commit('first');
      await env.rfs.appendFile(`${dir}/README.md`, 'more\n');
      await env.rfs.writeFile(`${dir}/src/b.bin`, new Float64Array([1.5, 2.5]));
      await git.add({ fs, dir, filepath: 'README.md' });
      await git.add({ fs, dir, filepath: 'src/b.bin' });
      await commit('second');
      await git.branch({ fs, dir, ref: 'feature', checkout: true });
      await env.rfs.writeFile(`${dir}/feature.txt`, 'feature work\n');
      await git.remove({ fs, dir, filepath: 'src/lib/a.txt' });
      await env.rfs.unlink(`${dir}/src/lib/a.txt`);
      await git.add({ fs, dir, filepath: 'feature.txt' });
      const featureHead = await commit('feature commit');
      await git.checkout({ fs, dir, ref: 'main' });
      await git.tag({ fs, dir, ref: 'v1', object: first });
      await git.branch({ fs, dir, ref: 'scratch' });
      await git.deleteBranch({ fs, dir, ref: 'scratch' });
      const mainHead = await git.resolveRef({ fs, dir, ref: 'main' });
      assert.equal(await env.rfs.readFile(`${dir}/src/lib/a.txt`, 'utf8'), 'alpha\n');

      assert.equal(env.recorder.failed, undefined);
      const recovered = await env.recover();
      const live = await env.snapshot(env.dir);
      const back = await env.snapshot(recovered);
      assert.deepEqual(back.files, live.files);
      assert.deepEqual(back.links, live.links);
      assert.deepEqual(back.modes, live.modes);
      const repo = `${recovered}/repo`;
      realGit(repo, 'fsck', '--full', '--strict', '--no-dangling');
      assert.equal(realGit(repo, 'rev-parse', 'main').trim(), mainHead);
      assert.equal(realGit(repo, 'rev-parse', 'feature').trim(), featureHead);
      assert.equal(realGit(repo, 'rev-parse', 'v1').trim(), first);
      assert.deepEqual(realGit(repo, 'log', '--format=%s', 'feature').trim().split('\n'), [
        'feature commit',
        'second',
        'first',
      ]);
      assert.equal(realGit(repo, 'status', '--porcelain'), '', 'the recovered work tree is clean');
      assert.equal(realGit(repo, 'symbolic-ref', 'HEAD').trim(), 'refs/heads/main');
    });
  }

  for (const kind of KINDS) {
    it(`rollup 4 with fs: rfs (${kind}): bundles and writes chunks and source maps; recovered tree equals`, async () => {
      env = await recordedEnv(kind);
      await env.rfs.mkdir(p('src'), { recursive: true });
      await env.rfs.writeFile(
        p('src/main.js'),
        "import { dep } from './dep.js';\nexport const main = () => dep() + import('./lazy.js');\n",
      );
      await env.rfs.writeFile(p('src/dep.js'), "export function dep() { return 'dep'; }\n");
      await env.rfs.writeFile(p('src/lazy.js'), "export default 'lazy';\n");
      // (Even node:fs/promises does not type-check as RollupFsModule: its mkdir returns a value.)
      const fs = env.rfs as unknown as RollupFsModule;
      const bundle = await rollup({ input: p('src/main.js'), fs });
      const { output } = await bundle.write({ dir: p('dist/es'), format: 'es', sourcemap: true });
      await bundle.write({
        file: p('dist/cjs/main.cjs'),
        format: 'cjs',
        inlineDynamicImports: true,
      });
      await bundle.close();
      assert.ok(output.length >= 2, 'a main chunk and a lazy chunk');
      for (const chunk of output)
        assert.ok((await env.rfs.stat(p(`dist/es/${chunk.fileName}`))).isFile());
      assert.match(await env.rfs.readFile(p('dist/cjs/main.cjs'), 'utf8'), /function dep\(\)/);
      await env.assertRecoversLive();
    });
  }

  it('webpack 5 with outputFileSystem: rfs.asNodeFs(): emits, then a clean rebuild unlinks; recovered tree equals', async () => {
    env = await recordedEnv('node:fs');
    await env.rfs.mkdir(p('src'), { recursive: true });
    await env.rfs.writeFile(
      p('src/index.js'),
      "import('./lazy.js').then((m) => console.log(m.default));\n",
    );
    await env.rfs.writeFile(p('src/lazy.js'), "export default 'lazy';\n");
    const build = async (entry: string): Promise<void> => {
      const compiler = webpack({
        mode: 'development',
        devtool: false,
        context: env.dir,
        entry: { [entry]: './src/index.js' },
        output: { path: p('dist'), filename: '[name].js', clean: true },
        infrastructureLogging: { level: 'none' },
      });
      compiler.outputFileSystem = env.rfs.asNodeFs() as unknown as typeof compiler.outputFileSystem;
      await new Promise<void>((resolve, reject) =>
        compiler.run((err, stats) => {
          if (err) return reject(err);
          if (stats?.hasErrors()) return reject(new Error(stats.toString('errors-only')));
          compiler.close((closeErr) => (closeErr ? reject(closeErr) : resolve()));
        }),
      );
    };
    await build('first');
    assert.ok((await env.rfs.readdir(p('dist'))).includes('first.js'));
    await build('second'); // output.clean removes first.js through the recorded fs.
    const files = await env.rfs.readdir(p('dist'));
    assert.ok(files.includes('second.js') && !files.includes('first.js'), files.join(','));
    await env.assertRecoversLive();
  });
});
