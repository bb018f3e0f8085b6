import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import {
  appendFile,
  link,
  mkdir,
  open,
  readFile,
  rename,
  unlink,
  writeFile,
} from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { matchRecoveredState, runDemo, wrap } from '../../src/demo/main.js';
import { workloadStates } from '../../src/demo/model.js';
import { entriesFrom, readTree, treeDigest } from '../../src/demo/tree.js';
import { generateWorkload, readStore, type Action } from '../../src/demo/workload.js';

/** Performs the workload with plain node:fs (no recording), checking the model after each call. */
async function performChecked(dir: string, actions: readonly Action[]): Promise<void> {
  const { digests, stateAfterAction } = workloadStates(actions);
  const handles = new Map<number, FileHandle>();
  const p = (rel: string) => join(dir, rel);
  for (const [i, a] of actions.entries()) {
    switch (a.kind) {
      case 'mkdir':
        await mkdir(p(a.path), { recursive: true });
        break;
      case 'create':
        handles.set(a.handle, await open(p(a.path), 'w'));
        break;
      case 'append':
        await handles.get(a.handle)!.appendFile(a.data);
        break;
      case 'close':
        await handles.get(a.handle)!.close();
        handles.delete(a.handle);
        break;
      case 'writeFile':
        await writeFile(p(a.path), a.data);
        break;
      case 'rename':
        await rename(p(a.from), p(a.to));
        break;
      case 'unlink':
        await unlink(p(a.path));
        break;
      case 'link':
        await link(p(a.existing), p(a.newPath));
        break;
      case 'sync':
        break;
    }
    assert.equal(
      treeDigest(await readTree(dir)),
      digests[stateAfterAction[i]],
      `model and disk differ after action #${i} (${JSON.stringify(a).slice(0, 80)})`,
    );
  }
}

describe('demo', function () {
  this.timeout(60_000);
  let tmp: string;
  beforeEach(() => {
    tmp = mkdtempSync(join(tmpdir(), 'recoverylog-demo-test-'));
  });
  afterEach(() => rmSync(tmp, { recursive: true, force: true }));

  describe('workload and model', () => {
    it('is deterministic per seed and exercises every kind of file-system call', () => {
      const a = generateWorkload({ seed: 99, puts: 200 });
      assert.deepEqual(generateWorkload({ seed: 99, puts: 200 }), a);
      assert.notDeepEqual(generateWorkload({ seed: 100, puts: 200 }), a);
      const kinds = new Set(a.map((x) => x.kind));
      for (const kind of [
        'mkdir',
        'create',
        'append',
        'close',
        'writeFile',
        'rename',
        'unlink',
        'link',
        'sync',
      ]) {
        assert.ok(kinds.has(kind as Action['kind']), `no ${kind} action`);
      }
      assert.ok(a.some((x) => x.kind === 'rename' && x.to === 'IDENTITY'));
      const puts = a.reduce((n, x) => n + (x.kind === 'append' ? x.puts : 0), 0);
      assert.equal(puts, 200);
    });

    it('the model predicts the real directory after every call, and the store reads back', async () => {
      const actions = generateWorkload({ seed: 5, puts: 150 });
      await performChecked(tmp, actions);
      // The store's logical content: the last value written for each key.
      const expected = new Map<string, string>();
      for (const a of actions) {
        if (a.kind !== 'append') continue;
        for (const line of a.data.split('\n').filter((l) => l !== '')) {
          const eq = line.indexOf('=');
          expected.set(line.slice(0, eq), line.slice(eq + 1));
        }
      }
      const store = await readStore(async (path) =>
        readFile(join(tmp, path), 'utf8').catch(() => undefined),
      );
      assert.ok(store !== undefined);
      assert.deepEqual(new Map([...store.values].sort()), new Map([...expected].sort()));
    });

    it('the model notices a wrong byte or a missing hard link', async () => {
      const actions = generateWorkload({ seed: 5, puts: 60 });
      const { digests } = workloadStates(actions);
      const final = digests[digests.length - 1];
      await performChecked(tmp, actions);
      assert.equal(treeDigest(await readTree(tmp)), final);
      await appendFile(join(tmp, 'MANIFEST'), 'x');
      assert.notEqual(treeDigest(await readTree(tmp)), final);

      // Same paths and bytes, but two names of one file versus two separate files.
      const file = (path: string, identity: string) => ({ path, identity, sha256: 'h', size: 1 });
      const linked = treeDigest(entriesFrom([file('a', '1'), file('b', '1')]));
      const copied = treeDigest(entriesFrom([file('a', '1'), file('b', '2')]));
      assert.notEqual(linked, copied);
    });
  });

  describe('verification', () => {
    const digests = ['d0', 'd1', 'd2', 'd1', 'd4'];
    it('accepts the acknowledged state or any later one', () => {
      assert.deepEqual(matchRecoveredState(digests, 2, 'd2'), { state: 2 });
      assert.deepEqual(matchRecoveredState(digests, 2, 'd4'), { state: 4 });
      // A digest seen before and after the acknowledged state: the later occurrence counts.
      assert.deepEqual(matchRecoveredState(digests, 2, 'd1'), { state: 3 });
    });
    it('rejects older states (acknowledged data lost) and states that never existed', () => {
      assert.deepEqual(matchRecoveredState(digests, 3, 'd0'), { olderState: 0 });
      assert.deepEqual(matchRecoveredState(digests, 3, 'd2'), { olderState: 2 });
      assert.deepEqual(matchRecoveredState(digests, 0, 'nope'), {});
    });
    it('wraps story lines under their number', () => {
      assert.deepEqual(wrap('1. aaa bbb ccc', 9), ['1. aaa', '   bbb', '   ccc']);
      assert.deepEqual(wrap('   xx yy', 6), ['   xx', '   yy']);
    });
  });

  describe('end to end (a real child process is killed with SIGKILL)', () => {
    it('recovers a state at or after the last acknowledged one', async () => {
      const story: string[] = [];
      const result = await runDemo({
        seed: 4242,
        puts: 160,
        killAfterAcks: 6,
        workDir: tmp,
        print: (line) => story.push(line),
      });
      const text = story.join('\n');
      assert.equal(result.verified, true, text);
      assert.equal(result.killed, true, 'the child must be killed mid-way');
      // Acknowledgements that arrive while the kill is under way count too.
      assert.ok(result.acks >= 6);
      assert.ok(result.ackedState > 0 && result.ackedState < result.totalStates, text);
      assert.ok(result.recoveredState >= result.ackedState, text);
      assert.ok((result.stats?.opsApplied ?? 0) > 0);
      assert.match(text, /SIGKILL sent .* after acknowledgement #6/);
      assert.match(text, /^VERIFIED/m);
      // The recovered directory holds exactly what the verdict says.
      const recovered = await readTree(join(tmp, 'recovered'));
      const { digests } = workloadStates(generateWorkload({ seed: 4242, puts: 160 }));
      assert.equal(treeDigest(recovered), digests[result.recoveredState]);
    });

    it('reports a failure when the recovered tree is not a state of the workload', async () => {
      const story: string[] = [];
      const result = await runDemo({
        seed: 77,
        puts: 100,
        killAfterAcks: 4,
        workDir: tmp,
        print: (line) => story.push(line),
        beforeVerify: async (dir) => appendFile(join(dir, 'MANIFEST'), 'corrupted'),
      });
      assert.equal(result.verified, false);
      assert.equal(result.recoveredState, -1);
      assert.match(result.problem ?? '', /not any state at or after the acknowledged state/);
      assert.match(result.problem ?? '', /content differs: MANIFEST/);
      assert.match(story.join('\n'), /^FAILED/m);
    });
  });
});
