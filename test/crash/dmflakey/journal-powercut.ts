/**
 * Power cuts on a real dm-flakey device against the journal (runs INSIDE the test VM; the host
 * entry point is run.sh). Checks the Journal contract: after a crash at any instant, reopening
 * exposes a prefix of whole appends that includes every append whose promise resolved.
 *
 * Each cycle: mount; spawn a writer process (journal-writer.ts) that appends deterministic
 * records to a journal on the flakey mount and reports each resolved append over a pipe (the
 * ledger, off the device); after a random 50-1500 ms cut the power (drop_writes, kill the
 * writer, unmount, allow writes, mount); reopen the journal and compare it with the ledger;
 * unmount and `e2fsck -fn`. The first cut of a round, and 15% of the others, come 0-400 ms after
 * the writer begins to create or reopen the journal instead. The journal grows across the cuts of a round, so every cut also
 * checks that a journal reopened after a crash can be appended to and recovered again.
 *
 * Rounds: ext4 commit=1000 (no background commit can hide a missing sync), ext4 commit=5
 * (partial write-back before the cut), and error_writes windows (appends must fail with a typed
 * error and nothing whose sync failed may be acknowledged; the window ends like a power cut).
 *
 * Env: DMFLAKEY_CUTS (fault cycles over all rounds, default 30), DMFLAKEY_SEED, DMFLAKEY_WORKLOAD
 * (file-journal | plain-file stand-in), DMFLAKEY_SCRATCH_DEV and DMFLAKEY_JOB_DIR (set by vm.sh).
 * Prints `dmflakey: <cuts> power cuts, <ops> acknowledged ops checked, <v> violations` last;
 * exits 1 on any violation or unclean fsck, 2 on a harness error.
 */
import { appendFileSync, cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FlakeyDevice, flakeyTargetVersion, kernelRelease, runCommand } from './flakey.js';
import { journalTarget, type JournalTarget, type WorkloadName } from './journal-target.js';
import { RecordStream, checkRecoveredJournal, type Ack } from './records.js';
import { WriterChild } from './writer-child.js';

type Fault = 'drop' | 'error';

interface RoundPlan {
  label: string;
  mountOptions: string;
  fault: Fault;
  cycles: number;
}

interface Settings {
  cuts: number;
  seed: number;
  workload: WorkloadName;
  scratchDevice: string;
  jobDir: string;
  mountPoint: string;
}

interface Totals {
  cycles: number;
  ackedOpsChecked: number;
  violations: number;
  uncleanFsck: number;
  timings: Record<'writerStart' | 'cut' | 'check' | 'fsck' | 'cycle', number[]>;
}

const MAX_VIOLATION_LINES_PER_CUT = 5;
/** Share of power cuts aimed at the writer's start-up (journal reopen) instead of its appends. */
const EARLY_CUT_SHARE = 0.15;
/** An error_writes window ends at the writer's third failed append, or after this long. */
const ERROR_WINDOW_MAX_MS = 30_000;

function settingsFromEnv(): Settings {
  const scratchDevice = process.env.DMFLAKEY_SCRATCH_DEV;
  const jobDir = process.env.DMFLAKEY_JOB_DIR;
  if (!scratchDevice || !jobDir) {
    throw new Error(
      'DMFLAKEY_SCRATCH_DEV / DMFLAKEY_JOB_DIR are not set: this runs inside the dm-flakey VM ' +
        '(use test/crash/dmflakey/run.sh); it destroys the scratch device.',
    );
  }
  const cuts = Number(process.env.DMFLAKEY_CUTS ?? '30');
  if (!Number.isSafeInteger(cuts) || cuts < 3)
    throw new Error(`DMFLAKEY_CUTS must be an integer >= 3, got ${cuts}`);
  const seed = process.env.DMFLAKEY_SEED
    ? Number(process.env.DMFLAKEY_SEED) >>> 0
    : (Math.random() * 2 ** 32) >>> 0;
  const workload = (process.env.DMFLAKEY_WORKLOAD ?? 'file-journal') as WorkloadName;
  journalTarget(workload); // validates the name
  return { cuts, seed, workload, scratchDevice, jobDir, mountPoint: '/mnt/rl-flakey' };
}

/** error_writes windows take a tenth of the cycles (at least one); the rest are split evenly. */
function planRounds(cuts: number): RoundPlan[] {
  const errorWindows = Math.max(1, Math.round(cuts / 10));
  const dropCuts = cuts - errorWindows;
  return [
    {
      label: 'commit=1000',
      mountOptions: 'commit=1000',
      fault: 'drop',
      cycles: Math.ceil(dropCuts / 2),
    },
    {
      label: 'commit=5',
      mountOptions: 'commit=5',
      fault: 'drop',
      cycles: Math.floor(dropCuts / 2),
    },
    { label: 'error_writes', mountOptions: 'commit=1000', fault: 'error', cycles: errorWindows },
  ];
}

/** xorshift32: reproducible choices (delays, seeds) from DMFLAKEY_SEED. */
function prng(seed: number): () => number {
  let x = seed || 0x2545f491;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;

/** One journal's life within a round (restarted fresh after a violation, to keep testing). */
class JournalUnderTest {
  readonly stream: RecordStream;
  readonly dir: string;
  /** Every append known to have resolved before a cut: all must survive every later cut. */
  readonly requiredAcks: Ack[] = [];
  nextIndex = 0;
  exists = false;

  constructor(
    readonly name: string,
    parentDir: string,
    seed: number,
  ) {
    this.dir = join(parentDir, name.replace(/\//g, '_'));
    this.stream = new RecordStream(seed);
  }
}

class PowerCutRun {
  private readonly random: () => number;
  private readonly target: JournalTarget;
  private readonly ledger: string;
  private spareWriter: WriterChild | undefined;
  readonly totals: Totals = {
    cycles: 0,
    ackedOpsChecked: 0,
    violations: 0,
    uncleanFsck: 0,
    timings: { writerStart: [], cut: [], check: [], fsck: [], cycle: [] },
  };

  constructor(
    private readonly settings: Settings,
    private readonly flakey: FlakeyDevice,
  ) {
    this.random = prng(settings.seed);
    this.target = journalTarget(settings.workload);
    this.ledger = join(settings.jobDir, 'ledger.txt');
    writeFileSync(this.ledger, `# seed ${settings.seed}, workload ${settings.workload}\n`);
  }

  async round(plan: RoundPlan, roundNumber: number): Promise<void> {
    const roundDir = join(this.settings.mountPoint, `round-${roundNumber}`);
    let generation = 0;
    const freshJournal = () =>
      new JournalUnderTest(
        `crash/powercut-${roundNumber}-${generation++}`,
        roundDir,
        (this.random() * 2 ** 32) >>> 0,
      );
    let journal = freshJournal();
    const before = { acked: this.totals.ackedOpsChecked, violations: this.totals.violations };
    for (let cycle = 1; cycle <= plan.cycles; cycle++) {
      // Early cuts hit journal creation (the first cut of a round) or reopen + repair.
      const earlyCut = plan.fault === 'drop' && (cycle === 1 || this.random() < EARLY_CUT_SHARE);
      const tag = `${plan.label} #${cycle}`;
      const violations = await this.cycle(plan, tag, journal, roundDir, earlyCut);
      if (violations > 0) journal = freshJournal(); // a broken journal would fail every later check
    }
    console.log(
      `dmflakey: round ${plan.label}: ${plan.cycles} ${plan.fault === 'drop' ? 'power cuts' : 'error_writes windows'}, ` +
        `${this.totals.ackedOpsChecked - before.acked} acknowledged ops checked, ` +
        `${this.totals.violations - before.violations} violations`,
    );
  }

  async close(): Promise<void> {
    await this.spareWriter?.kill();
  }

  /** One fault cycle; returns the number of violations it found. */
  private async cycle(
    plan: RoundPlan,
    tag: string,
    journal: JournalUnderTest,
    roundDir: string,
    earlyCut: boolean,
  ): Promise<number> {
    const t0 = Date.now();
    const violations: string[] = [];
    await this.flakey.mount(plan.mountOptions);
    mkdirSync(roundDir, { recursive: true });
    await runCommand(['sync']); // the round's directory exists durably before any cut

    // The writer was started during the previous cycle's check, when there was one.
    const writer = this.spareWriter ?? new WriterChild(this.settings.workload);
    this.spareWriter = undefined;
    const startup = await this.startWriter(writer, journal, plan, earlyCut, violations);
    const tFault = Date.now();
    await this.inflictFault(plan, writer, startup.failed, violations);
    const tCut = Date.now();
    this.spareWriter = new WriterChild(this.settings.workload); // loads while we check

    // Ledger: under error_writes nothing is silently lost, so every acknowledgement counts.
    const required = writer.acks.filter((ack) => plan.fault === 'error' || !ack.late);
    journal.requiredAcks.push(...required);
    this.appendLedger(tag, journal, writer);
    violations.push(...lateAckViolations(journal.stream, writer));
    const summary = await this.checkJournal(journal, violations);
    if (violations.length > 0) this.archive(tag, journal, violations);
    const tCheck = Date.now();

    await this.flakey.unmount();
    const fsck = await this.flakey.fsck();
    const tFsck = Date.now();
    if (!fsck.clean) {
      this.totals.uncleanFsck++;
      appendFileSync(
        join(this.settings.jobDir, 'fsck.txt'),
        `== ${tag}: exit ${fsck.exitCode}\n${fsck.output}\n`,
      );
    }

    this.totals.cycles++;
    this.totals.ackedOpsChecked += required.length;
    this.totals.violations += violations.length;
    const t = this.totals.timings;
    if (startup.readyMs !== undefined) t.writerStart.push(startup.readyMs);
    t.cut.push(tCut - tFault);
    t.check.push(tCheck - tCut);
    t.fsck.push(tFsck - tCheck);
    t.cycle.push(tFsck - t0);

    const late = writer.acks.length - required.length;
    const failed = writer.failures.length > 0 ? `, ${writer.failures.length} appends failed` : '';
    console.log(
      `dmflakey: [${tag}] ${required.length} acks${late > 0 ? ` (+${late} late)` : ''}${failed}; ` +
        `${summary}; fsck ${fsck.clean ? 'clean' : `exit ${fsck.exitCode}`}; ` +
        `${violations.length} violations; cycle ${seconds(tFsck - t0)} (${startup.description})`,
    );
    for (const line of violations.slice(0, MAX_VIOLATION_LINES_PER_CUT)) {
      console.log(`dmflakey:   VIOLATION ${line}`);
    }
    if (violations.length > MAX_VIOLATION_LINES_PER_CUT) {
      console.log(
        `dmflakey:   ... ${violations.length - MAX_VIOLATION_LINES_PER_CUT} more (see violations.txt)`,
      );
    }
    return violations.length;
  }

  /**
   * Hands the writer its journal and waits until the moment of the fault: a random 50-1500 ms
   * into its appends (error windows: 200-800 ms), or, for an early cut, 0-400 ms after it starts
   * to create or reopen (and so repair) the journal.
   */
  private async startWriter(
    writer: WriterChild,
    journal: JournalUnderTest,
    plan: RoundPlan,
    earlyCut: boolean,
    violations: string[],
  ): Promise<{ failed: boolean; readyMs: number | undefined; description: string }> {
    const preloaded = writer.loadedAt > 0;
    await writer.loaded;
    const tStart = Date.now();
    writer.start({
      workload: this.settings.workload,
      dir: journal.dir,
      journalName: journal.name,
      seed: journal.stream.seed,
      firstIndex: journal.nextIndex,
      create: !journal.exists,
    });
    let failure: string | undefined;
    let tReady: number | undefined;
    const started = writer.ready.then(
      () => void (tReady = Date.now()),
      (error: Error) => void (failure = error.message),
    );
    if (earlyCut) {
      await sleep(this.random() * 400);
    } else {
      await started;
      if (failure === undefined) {
        await sleep(plan.fault === 'drop' ? 50 + this.random() * 1450 : 200 + this.random() * 600);
      }
    }
    if (failure !== undefined && !journal.exists && failure.includes('JournalExistsError')) {
      violations.push(
        `a cut during an earlier create left ${journal.dir} half-created: open() found no journal ` +
          `there and create() refuses (JournalExistsError), so nothing can proceed without deleting files: ${failure}`,
      );
    } else if (failure !== undefined) {
      violations.push(
        `the writer could not ${journal.exists ? 'open' : 'create'} the journal: ${failure}`,
      );
    } else if (writer.exitedEarly !== undefined) {
      violations.push(
        `the writer died before the cut (${writer.exitedEarly}): ${writer.stderrTail()}`,
      );
    }
    const readyMs = tReady === undefined ? undefined : tReady - tStart;
    const load = preloaded
      ? 'preloaded'
      : `loaded in ${seconds(writer.loadedAt - writer.spawnedAt)}`;
    const open =
      readyMs === undefined
        ? `early cut, before the journal was ${journal.exists ? 'reopened' : 'created'}`
        : `journal ${journal.exists ? 'reopened' : 'created'} in ${seconds(readyMs)}${earlyCut ? ', early cut' : ''}`;
    return { failed: failure !== undefined, readyMs, description: `writer ${load}, ${open}` };
  }

  /**
   * drop: a power cut (the writer is killed while writes are dropped). error: writes fail until
   * the writer has seen failures; the window then ends like a power cut.
   */
  private async inflictFault(
    plan: RoundPlan,
    writer: WriterChild,
    writerFailed: boolean,
    violations: string[],
  ): Promise<void> {
    if (plan.fault === 'drop') {
      writer.markCutBegun();
      await this.flakey.powerCut({
        mountOptions: plan.mountOptions,
        whileDropping: () => writer.kill(),
      });
      return;
    }
    await this.flakey.errorWrites();
    await writer.waitForFailures(3, ERROR_WINDOW_MAX_MS);
    await writer.kill();
    await this.flakey.unmount(); // still failing writes: nothing more reaches the disk
    await this.flakey.allowWrites();
    await this.flakey.mount(plan.mountOptions);
    if (!writerFailed) violations.push(...errorWindowViolations(writer));
  }

  /** Reopens the journal and checks it against the ledger; returns a one-line summary. */
  private async checkJournal(journal: JournalUnderTest, violations: string[]): Promise<string> {
    let recovered: Uint8Array | undefined;
    try {
      recovered = await this.target.readAll(journal.dir);
    } catch (error) {
      violations.push(`reopening and reading the journal failed: ${(error as Error).message}`);
      return 'journal unreadable';
    }
    if (recovered === undefined) {
      if (journal.requiredAcks.length > 0) {
        violations.push(
          `the journal is gone although ${journal.requiredAcks.length} appends were acknowledged`,
        );
      }
      journal.exists = false;
      journal.nextIndex = 0;
      return 'no journal';
    }
    const check = checkRecoveredJournal(journal.stream, recovered, journal.requiredAcks);
    violations.push(...check.violations);
    journal.exists = true;
    journal.nextIndex = check.records;
    return `journal ${check.records} records / ${check.bytes} B`;
  }

  private appendLedger(tag: string, journal: JournalUnderTest, writer: WriterChild): void {
    const lines = [
      ...writer.acks.map(
        (a) => `${tag} ${journal.name} ack ${a.index} ${a.begin} ${a.end}${a.late ? ' late' : ''}`,
      ),
      ...writer.failures.map(
        (f) => `${tag} ${journal.name} fail ${f.index} ${f.name} ${f.code} ${f.message}`,
      ),
    ];
    if (lines.length > 0) appendFileSync(this.ledger, lines.join('\n') + '\n');
  }

  /** Keeps the evidence (the journal files; the ledger is already in the job folder). */
  private archive(tag: string, journal: JournalUnderTest, violations: string[]): void {
    const where = join(this.settings.jobDir, 'failures', tag.replace(/[^A-Za-z0-9=#-]+/g, '_'));
    mkdirSync(where, { recursive: true });
    writeFileSync(join(where, 'violations.txt'), violations.join('\n') + '\n');
    try {
      cpSync(journal.dir, join(where, 'journal'), { recursive: true });
    } catch (error) {
      writeFileSync(join(where, 'copy-error.txt'), String(error));
    }
  }
}

/** Acks that prove nothing about durability must still carry their record's offsets. */
function lateAckViolations(stream: RecordStream, writer: WriterChild): string[] {
  const out: string[] = [];
  for (const ack of writer.acks.filter((a) => a.late)) {
    const span = stream.span(ack.index);
    if (ack.begin !== span.begin || ack.end !== span.end) {
      out.push(
        `append of record ${ack.index} resolved with [${ack.begin}, ${ack.end}), expected [${span.begin}, ${span.end})`,
      );
    }
  }
  return out;
}

/** Under error_writes, appends must fail, with the contract's error types. */
function errorWindowViolations(writer: WriterChild): string[] {
  const out: string[] = [];
  if (writer.failures.length === 0) {
    out.push(
      `no append failed within ${ERROR_WINDOW_MAX_MS / 1000} s of writes failing with EIO (${writer.acks.length} acknowledged)`,
    );
  }
  for (const failure of writer.failures.filter((f) => !f.typed)) {
    out.push(
      `append of record ${failure.index} failed with an untyped ${failure.name} (${failure.code}): ${failure.message}`,
    );
  }
  if (writer.failures.length > 0 && !writer.failures.some((f) => f.name === 'JournalWriteError')) {
    out.push(
      `no JournalWriteError among the failures (${writer.failures.map((f) => f.name).join(', ')})`,
    );
  }
  return out;
}

function average(values: number[]): string {
  return values.length === 0 ? '-' : seconds(values.reduce((a, b) => a + b, 0) / values.length);
}

async function main(): Promise<number> {
  const tBegin = Date.now();
  const settings = settingsFromEnv();
  const plans = planRounds(settings.cuts);
  console.log(
    `dmflakey: kernel ${await kernelRelease()}, dm-flakey ${await flakeyTargetVersion()}, node ${process.version}; ` +
      `workload ${settings.workload}; seed ${settings.seed} (DMFLAKEY_SEED=${settings.seed} repeats the choices); ` +
      `rounds ${plans.map((p) => `${p.label} x${p.cycles}`).join(', ')}`,
  );
  const flakey = await FlakeyDevice.create({
    name: 'rl-flakey',
    backingDevice: settings.scratchDevice,
    mountPoint: settings.mountPoint,
  });
  const corrupt = await flakey.supportsFeature('random_write_corrupt');
  console.log(
    `dmflakey: random_write_corrupt ${corrupt ? 'supported' : `not supported by this kernel's dm-flakey; no corruption round`}`,
  );
  await flakey.mkfs();
  const run = new PowerCutRun(settings, flakey);
  try {
    for (const [i, plan] of plans.entries()) await run.round(plan, i + 1);
  } finally {
    await run.close();
    await flakey.teardown();
  }

  const { totals } = run;
  const t = totals.timings;
  console.log(
    `dmflakey: timing per cycle (avg): writer ready ${average(t.writerStart)}, cut+remount ${average(t.cut)}, ` +
      `check ${average(t.check)}, umount+fsck ${average(t.fsck)}, whole cycle ${average(t.cycle)}; ` +
      `driver total ${seconds(Date.now() - tBegin)}`,
  );
  if (totals.uncleanFsck > 0) {
    console.log(
      `dmflakey: e2fsck -fn was not clean after ${totals.uncleanFsck} cuts (a filesystem/tool problem, not a journal ` +
        `violation; output in the job folder's fsck.txt)`,
    );
  }
  if (totals.violations > 0)
    console.log(`dmflakey: evidence kept in ${join(settings.jobDir, 'failures')}`);
  console.log(
    `dmflakey: ${totals.cycles} power cuts, ${totals.ackedOpsChecked} acknowledged ops checked, ${totals.violations} violations`,
  );
  return totals.violations > 0 || totals.uncleanFsck > 0 ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error('dmflakey: harness error:', error);
    process.exit(2);
  },
);
