/**
 * `recoverylog replicate` against the real cluster: copies a file journal a Recorder is writing
 * to JetStream byte for byte, resumes from the replica's head, refuses a replica that is not a
 * prefix (ReplicaDiverged), and with --follow tails the file journal until SIGINT.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FSM, RecordedFs, Recorder, type FSMHints } from '../../src/index.js';
import { FileJournal } from '../../src/journal/file.js';
import { JetStreamJournal } from '../../src/journal/jetstream.js';
import { REPLICATOR_FENCE } from '../../src/cli/replicate.js';
import { run } from '../helpers/cli-run.js';
import { SCENARIO_FS, distinctAuthors, type ScenarioFs } from '../helpers/scenario-helpers.js';
import { cluster } from './cluster.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const emptyHints = (log: string): FSMHints => ({ log, liveNodes: [], properties: [] });

describe('recoverylog replicate (FileJournal → JetStream) on a 3-node cluster', function () {
  this.timeout(60_000);
  const nodeFs = SCENARIO_FS.find((kind) => kind.name === 'node:fs') ?? SCENARIO_FS[0]!;
  let env: ScenarioFs;
  let tmp: string;
  let hosts: string;
  let counter = 0;
  const closers: (() => Promise<void>)[] = [];

  beforeEach(async function () {
    env = await nodeFs.make();
    tmp = await mkdtemp(path.join(tmpdir(), 'rl-js-replicate-'));
    hosts = (await cluster()).urls.map((u) => u.replace(/^nats:\/\//, '')).join(',');
  });
  afterEach(async function () {
    for (const close of closers.splice(0)) await close().catch(() => undefined);
    await env?.cleanup();
    await rm(tmp, { recursive: true, force: true });
  });

  async function recording(label: string) {
    const name = `replicate/${label}-${process.pid}-${(counter += 1)}`;
    const logDir = path.join(tmp, `log-${counter}`);
    const journal = await FileJournal.create(logDir, name);
    closers.push(() => journal.close());
    const [author] = distinctAuthors(1) as [number];
    const dir = await env.newDir(label);
    const recorder = await Recorder.open({
      journal,
      fsm: new FSM(emptyHints(name)),
      author,
      dir,
    });
    const rfs = new RecordedFs(recorder, env.base);
    return { name, logDir, journal, recorder, rfs, dir, url: `nats://${hosts}/${name}` };
  }

  async function exported(args: string[], out: string): Promise<Buffer> {
    const result = await run('export', ...args, '--out', out);
    assert.equal(result.code, 0, result.stderr);
    return readFile(out);
  }

  it('copies the bytes, resumes from the replica head, and the replica plays', async function () {
    const rec = await recording('basic');
    await rec.rfs.writeFile(`${rec.dir}/a`, 'alpha');
    await rec.rfs.writeFile(`${rec.dir}/big`, Buffer.alloc(1_500_000, 3));
    await rec.recorder.barrier();
    const first = await run('replicate', '--log', rec.logDir, '--journal', rec.url);
    assert.equal(first.code, 0, first.stderr);
    assert.match(first.stdout, /bytes appended \(offsets 0\.\.\d+\)/);
    assert.deepEqual(
      await exported(['--journal', rec.url], path.join(tmp, 'js1')),
      await exported(['--log', rec.logDir], path.join(tmp, 'file1')),
    );

    const head1 = await rec.journal.head();
    await rec.rfs.appendFile(`${rec.dir}/a`, ' beta');
    await rec.recorder.barrier();
    const second = await run('replicate', '--log', rec.logDir, '--journal', rec.url);
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, new RegExp(`offsets ${head1}\\.\\.${await rec.journal.head()}`));
    const again = await run('replicate', '--log', rec.logDir, '--journal', rec.url);
    assert.match(again.stdout, / 0 bytes appended/);

    const hints = path.join(tmp, 'hints.json');
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(hints, JSON.stringify(rec.recorder.fsm.buildHints(rec.name))),
    );
    const out = path.join(tmp, 'played');
    const played = await run('play', '--journal', rec.url, '--hints', hints, '--dir', out);
    assert.equal(played.code, 0, played.stderr);
    assert.equal(await readFile(path.join(out, 'a'), 'utf8'), 'alpha beta');
    assert.deepEqual(await readFile(path.join(out, 'big')), Buffer.alloc(1_500_000, 3));
    // The file journal's registers came along, with the replicator's own `author` fence (a
    // fresh recorder sets none on its journal).
    const { urls } = await cluster();
    const replica = await JetStreamJournal.open(rec.name, { servers: urls, readOnly: true });
    closers.push(() => replica.close());
    assert.deepEqual(await rec.journal.registers(), {});
    assert.deepEqual(await replica.registers(), { author: REPLICATOR_FENCE });
  });

  it('refuses a replica that is not a prefix, and a replica taken over', async function () {
    const rec = await recording('diverged');
    await rec.rfs.writeFile(`${rec.dir}/a`, 'alpha');
    await rec.recorder.barrier();
    const { urls } = await cluster();
    const other = await JetStreamJournal.open(rec.name, { servers: urls });
    closers.push(() => other.close());
    await other.append(new Uint8Array([1, 2, 3]));
    const refused = await run('replicate', '--log', rec.logDir, '--journal', rec.url);
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      /not a prefix of the file journal \(the bytes differ, at offset 0\)/,
    );
    assert.equal(await other.head(), 3);

    const rec2 = await recording('takeover');
    await rec2.rfs.writeFile(`${rec2.dir}/a`, 'alpha');
    await rec2.recorder.barrier();
    assert.equal((await run('replicate', '--log', rec2.logDir, '--journal', rec2.url)).code, 0);
    const hints = path.join(tmp, 'hints2.json');
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(hints, JSON.stringify(rec2.recorder.fsm.buildHints(rec2.name))),
    );
    const promoted = await run(
      'play',
      '--journal',
      rec2.url,
      '--hints',
      hints,
      '--dir',
      path.join(tmp, 'p2'),
      '--handoff',
      '77',
    );
    assert.equal(promoted.code, 0, promoted.stderr);
    await rec2.rfs.writeFile(`${rec2.dir}/b`, 'more');
    await rec2.recorder.barrier();
    const fenced = await run('replicate', '--log', rec2.logDir, '--journal', rec2.url);
    assert.equal(fenced.code, 1);
    assert.match(fenced.stderr, /not a prefix/);

    const wrongName = await run(
      'replicate',
      '--log',
      rec2.logDir,
      '--journal',
      `nats://${hosts}/x/y`,
    );
    assert.equal(wrongName.code, 2, wrongName.stderr);
  });

  it('--follow tails the file journal until SIGINT', async function () {
    const rec = await recording('follow');
    await rec.rfs.writeFile(`${rec.dir}/a`, 'alpha');
    await rec.recorder.barrier();
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(ROOT, 'src/cli/main.ts'),
        'replicate',
        '--log',
        rec.logDir,
        '--journal',
        rec.url,
        '--follow',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    closers.push(async () => void child.kill('SIGKILL'));
    const { urls } = await cluster();
    const replica = await JetStreamJournal.open(rec.name, { servers: urls });
    closers.push(() => replica.close());

    const caughtUp = async (): Promise<void> => {
      const want = await rec.journal.head();
      for (let i = 0; (await replica.head()) < want; i++) {
        assert.ok(i < 1500, `the replica did not reach ${want}: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(await replica.head(), want);
    };
    await caughtUp();
    for (let i = 0; i < 5; i++) {
      await rec.rfs.writeFile(`${rec.dir}/f${i}`, `file ${i}`);
      await rec.recorder.barrier();
    }
    await caughtUp();

    child.kill('SIGINT');
    assert.equal(await exited, 130, stderr);
    assert.match(stderr, /holds offsets up to \d+/);
    assert.deepEqual(
      await exported(['--journal', rec.url], path.join(tmp, 'js')),
      await exported(['--log', rec.logDir], path.join(tmp, 'file')),
    );
  });

  it('--follow is fenced (RegisterMismatch) once a Player takes the replica over', async function () {
    const rec = await recording('fenced');
    await rec.rfs.writeFile(`${rec.dir}/a`, 'alpha');
    await rec.recorder.barrier();
    const child = spawn(
      process.execPath,
      [
        '--import',
        'tsx',
        path.join(ROOT, 'src/cli/main.ts'),
        'replicate',
        '--log',
        rec.logDir,
        '--journal',
        rec.url,
        '--follow',
      ],
      { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    closers.push(async () => void child.kill('SIGKILL'));
    const { urls } = await cluster();
    const replica = await JetStreamJournal.open(rec.name, { servers: urls });
    closers.push(() => replica.close());
    const want = await rec.journal.head();
    for (let i = 0; (await replica.head()) < want; i++) {
      assert.ok(i < 1500, `the replica did not reach ${want}: ${stderr}`);
      await new Promise((r) => setTimeout(r, 20));
    }
    const hints = path.join(tmp, 'hints-fenced.json');
    await import('node:fs/promises').then((fs) =>
      fs.writeFile(hints, JSON.stringify(rec.recorder.fsm.buildHints(rec.name))),
    );
    const promoted = await run(
      'play',
      '--journal',
      rec.url,
      '--hints',
      hints,
      '--dir',
      path.join(tmp, 'promoted'),
      '--handoff',
      '99',
    );
    assert.equal(promoted.code, 0, promoted.stderr);
    const headAfterHandoff = await replica.head();
    await rec.rfs.writeFile(`${rec.dir}/b`, 'after the promotion');
    await rec.recorder.barrier();
    assert.equal(await exited, 1, stderr);
    assert.match(stderr, /register/i);
    assert.equal(
      await replica.head(),
      headAfterHandoff,
      'the replicator appended after the hand-off',
    );
  });
});
