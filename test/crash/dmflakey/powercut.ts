/**
 * Power cuts on a real dm-flakey device against the recovery log library (runs INSIDE the test
 * VM; the host entry point is run.sh). The workload is an application recording a directory
 * through RecordedFs + Recorder into a FileJournal, all on the flakey mount (recorder-child.ts);
 * it reports each acknowledged op to this driver over a pipe: the ledger lives here, off the
 * device.
 *
 * Each cycle: mount; a child recovers the log (Player hand-off onto the flakey mount), plays the
 * previous writer as a zombie, and records; after a random time the power is cut the go-dmflakey
 * way (suspend --nolockfs, drop_writes, kill, umount, allow, mount); the driver recovers the log
 * onto memory (not the flakey device) and checks I1-I7 (lineage.ts, recovery-check.ts); umount
 * and `e2fsck -fn`. The next child continues the same log (a lineage), so every cut also checks
 * that a recovered log can be taken over and recorded on (I7).
 *
 * Rounds: ext4 commit=1000 (no background commit hides a missing sync), commit=5 (partial
 * write-back before the cut), error_writes windows (a failed sync acknowledges nothing, and the
 * failed Recorder never acknowledges again), and random_write_corrupt aimed at the journal's
 * preallocated files (corruption is detected, never applied).
 *
 * Env: DMFLAKEY_CUTS (cycles over all rounds, default 30), DMFLAKEY_SEED,
 * DMFLAKEY_CORRUPT_PROBABILITY (the highest share of corrupted write bios; each corruption cycle
 * draws its own between a fifth of it and it; default 0.2), DMFLAKEY_SEEDED_NO_SYNC=1 (the
 * harness's seeded bug: the children's journals never sync, so the run must report lost
 * acknowledged ops), DMFLAKEY_SEEDED_BUGS (the library's seeded bugs, src/testing/faults.ts, for
 * the children and the driver's Player), DMFLAKEY_SCRATCH_DEV and DMFLAKEY_JOB_DIR (set by vm.sh).
 * Prints `dmflakey: <cuts> power cuts, <ops> acknowledged ops checked, <v> violations` last;
 * exits 1 on any violation or unclean fsck, 2 on a harness error.
 */
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileJournal } from '../../../src/journal/file.js';
import { SEEDED_BUGS, enableSeededBug, type SeededBug } from '../../../src/testing/faults.js';
import type { Damage, Violation } from '../lib/invariants.js';
import { ChildHandle } from './child-handle.js';
import { damageVerdict, describeDamage, scanJournalFiles } from './damage.js';
import { parseFilefrag, type SectorRange } from './extents.js';
import { FlakeyDevice, flakeyTargetVersion, kernelRelease, runCommand } from './flakey.js';
import { Lineage, errorWindowViolations } from './lineage.js';
import { describeOutcome, monotonicMicros, type ChildReport } from './protocol.js';
import { checkLineageRecovery } from './recovery-check.js';

type Fault = 'drop' | 'error' | 'corrupt';

interface RoundPlan {
  label: string;
  mountOptions: string;
  fault: Fault;
  cycles: number;
}

interface Settings {
  cuts: number;
  seed: number;
  scratchDevice: string;
  jobDir: string;
  mountPoint: string;
  seededBugs: string;
  /** Harness seeded bug: the children's journals never sync (ChildConfig.unsyncedJournal). */
  unsyncedJournal: boolean;
  corruptProbability: number;
}

type Timing = 'childReady' | 'cut' | 'check' | 'fsck' | 'cycle';

interface Totals {
  cycles: number;
  ackedOpsChecked: number;
  violations: number;
  uncleanFsck: number;
  corruption: { damaged: number; detected: number; recovered: number; gaps: string[] };
  timings: Record<Timing, number[]>;
}

const MAX_VIOLATION_LINES_PER_CUT = 4;
/** Share of drop cuts aimed at the child's start (journal open/create, hand-off playback). */
const EARLY_CUT_SHARE = 0.2;
/**
 * Share of the other drop cuts that freeze the child (SIGSTOP) first: then every acknowledgement
 * counts. The rest cut a running child, which can tear a sync in flight, but leaves the
 * acknowledgements made while `dmsetup suspend` ran (~0.3 s) unchecked.
 */
const FREEZE_SHARE = 0.5;
/** An error_writes window ends once the child stopped after its failures, or after this long. */
const ERROR_WINDOW_MAX_MS = 30_000;
const READY_TIMEOUT_MS = 180_000;
/** Preallocated sizes of the journal's files in the corruption round. */
const CORRUPT_DATA_BYTES = 16 << 20;
const CORRUPT_COMMITS_BYTES = 1 << 20;

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
  if (!Number.isSafeInteger(cuts) || cuts < 4)
    throw new Error(`DMFLAKEY_CUTS must be an integer >= 4, got ${cuts}`);
  const seed = process.env.DMFLAKEY_SEED
    ? Number(process.env.DMFLAKEY_SEED) >>> 0
    : (Date.now() ^ (process.pid << 16)) >>> 0;
  const corruptProbability = Number(process.env.DMFLAKEY_CORRUPT_PROBABILITY ?? '0.2');
  if (!(corruptProbability > 0 && corruptProbability <= 1)) {
    throw new Error(`DMFLAKEY_CORRUPT_PROBABILITY must be in (0, 1], got ${corruptProbability}`);
  }
  const seededBugs = process.env.DMFLAKEY_SEEDED_BUGS ?? '';
  for (const name of seededBugs.split(',').filter(Boolean)) {
    if (!(SEEDED_BUGS as readonly string[]).includes(name)) {
      throw new Error(
        `DMFLAKEY_SEEDED_BUGS: unknown seeded bug "${name}" (known: ${SEEDED_BUGS.join(', ')})`,
      );
    }
    enableSeededBug(name as SeededBug); // for the driver's own Player runs
  }
  return {
    cuts,
    seed,
    scratchDevice,
    jobDir,
    mountPoint: '/mnt/rl-flakey',
    seededBugs,
    unsyncedJournal: process.env.DMFLAKEY_SEEDED_NO_SYNC === '1',
    corruptProbability,
  };
}

/**
 * error_writes windows and corruption cycles take a tenth of the cycles each (at least one);
 * the rest are power cuts, split between commit=1000 and commit=5. Without random_write_corrupt
 * its share goes to the power cuts.
 */
export function planRounds(cuts: number, corruptSupported: boolean): RoundPlan[] {
  const errorWindows = Math.max(1, Math.round(cuts / 10));
  const corrupt = corruptSupported ? Math.max(1, Math.round(cuts / 10)) : 0;
  const drops = cuts - errorWindows - corrupt;
  const plans: RoundPlan[] = [
    {
      label: 'commit=1000',
      mountOptions: 'commit=1000',
      fault: 'drop',
      cycles: Math.ceil(drops / 2),
    },
    { label: 'commit=5', mountOptions: 'commit=5', fault: 'drop', cycles: Math.floor(drops / 2) },
    { label: 'error_writes', mountOptions: 'commit=1000', fault: 'error', cycles: errorWindows },
  ];
  if (corrupt > 0) {
    plans.push({
      label: 'random_write_corrupt',
      mountOptions: 'commit=1000',
      fault: 'corrupt',
      cycles: corrupt,
    });
  }
  return plans;
}

/** xorshift32: reproducible choices (delays, seeds, authors) from DMFLAKEY_SEED. */
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

class PowerCutRun {
  private readonly random: () => number;
  private spare: ChildHandle | undefined;
  private readonly usedAuthors = new Set<number>();
  readonly totals: Totals = {
    cycles: 0,
    ackedOpsChecked: 0,
    violations: 0,
    uncleanFsck: 0,
    corruption: { damaged: 0, detected: 0, recovered: 0, gaps: [] },
    timings: { childReady: [], cut: [], check: [], fsck: [], cycle: [] },
  };

  constructor(
    private readonly settings: Settings,
    private readonly flakey: FlakeyDevice,
  ) {
    this.random = prng(settings.seed);
  }

  async round(plan: RoundPlan, roundNumber: number): Promise<void> {
    const before = { acked: this.totals.ackedOpsChecked, violations: this.totals.violations };
    let generation = 0;
    const fresh = () =>
      new Lineage(
        `crash/round-${roundNumber}-${generation}`,
        join(this.settings.mountPoint, `round-${roundNumber}`, `lineage-${generation++}`),
      );
    let lineage = fresh();
    for (let cycle = 1; cycle <= plan.cycles; cycle++) {
      const healthy = await this.cycle(plan, `${plan.label} #${cycle}`, lineage);
      // A broken log would fail every later check; a corruption cycle damages its log on purpose.
      if (!healthy || plan.fault === 'corrupt') lineage = fresh();
    }
    const what =
      plan.fault === 'drop'
        ? 'power cuts'
        : plan.fault === 'error'
          ? 'error_writes windows'
          : 'corruption cuts';
    console.log(
      `dmflakey: round ${plan.label}: ${plan.cycles} ${what}, ` +
        `${this.totals.ackedOpsChecked - before.acked} acknowledged ops checked, ` +
        `${this.totals.violations - before.violations} violations`,
    );
  }

  async close(): Promise<void> {
    await this.spare?.kill();
  }

  /** One fault cycle; returns whether the lineage can continue. */
  private async cycle(plan: RoundPlan, tag: string, lineage: Lineage): Promise<boolean> {
    const t0 = Date.now();
    await this.flakey.mount(plan.mountOptions);
    mkdirSync(lineage.dir, { recursive: true });
    await runCommand(['sync']); // the lineage's directory is durable before any cut

    let corruptFiles: SectorRange[] | undefined;
    if (plan.fault === 'corrupt') corruptFiles = await this.prepareCorruptibleJournal(lineage);

    const child = this.spare ?? this.newChild();
    this.spare = undefined;
    const preloaded = child.loadedAt > 0;
    await child.loaded;
    const author = this.newAuthor();
    const zombieAuthor = lineage.lastAuthor;
    const startedAt = monotonicMicros();
    const tStart = Date.now();
    let probability = 0;
    if (corruptFiles !== undefined) {
      // Varied per cycle: from damage everywhere (recovery must fail, typed) to none at all.
      probability = this.settings.corruptProbability * (0.2 + 0.8 * this.random());
      await this.flakey.corruptWritesIn(corruptFiles, probability);
    }
    child.start({
      journalDir: lineage.journalDir,
      journalName: lineage.name,
      hintsDir: lineage.hintsDir,
      treeDir: lineage.treeDir,
      author,
      zombieAuthor,
      seed: (this.random() * 2 ** 32) >>> 0,
      unsyncedJournal: this.settings.unsyncedJournal,
    });

    // The fault's table waits in the inactive slot: the fault starts with suspend + resume.
    const faultTable = this.flakey.preload({ kind: plan.fault === 'error' ? 'error' : 'drop' });
    faultTable.catch(() => undefined);

    const violations: Violation[] = [];
    const earlyCut =
      plan.fault === 'drop' && (lineage.generation === 0 || this.random() < EARLY_CUT_SHARE);
    let ready: ChildReport | undefined;
    if (earlyCut) {
      // Somewhere in the child's open / hand-off playback (its duration last time, plus a margin).
      await sleep(this.random() * (lineage.lastPlayMs * 1.5 + 800));
      ready = child.reports.find((r) => r.t === 'ready');
    } else {
      ready = await child.waitFor((r) => r.t === 'ready', READY_TIMEOUT_MS);
      if (ready !== undefined) {
        this.totals.timings.childReady.push(Date.now() - tStart);
        // Drop cuts: anywhere in the first 1.5 s of recording. Error windows start a little in;
        // corruption runs longer, so that the corrupted writes have time to pile up.
        const [from, span] =
          plan.fault === 'error' ? [200, 600] : plan.fault === 'corrupt' ? [500, 2000] : [50, 1450];
        await sleep(from + this.random() * span);
      }
    }
    violations.push(...this.childTrouble(child, lineage, earlyCut));

    await faultTable;
    const tFault = Date.now();
    let cutAt: number | undefined;
    let windowMs = 0;
    let frozen = false;
    if (plan.fault === 'error' && ready !== undefined && child.exitStatus === undefined) {
      const tWindow = Date.now();
      await this.flakey.errorWrites();
      await child.waitFor((r) => r.t === 'stopped', ERROR_WINDOW_MAX_MS);
      windowMs = Date.now() - tWindow;
      await this.flakey.allowWrites();
      child.probe();
      await child.waitFor((r) => r.t === 'probe', 20_000);
      violations.push(...errorWindowViolations(child.reports, windowMs));
      cutAt = undefined; // nothing was dropped: every acknowledgement counts
    } else if (plan.fault === 'drop' && !earlyCut && this.random() < FREEZE_SHARE) {
      // Freeze the child, then cut: every acknowledgement it made was made before the cut.
      child.freeze();
      frozen = true;
      cutAt = undefined;
    } else {
      // The cut takes effect during `dmsetup suspend`, some 0.3 s after this moment:
      // acknowledgements from then on ("late") prove nothing and are not required.
      cutAt = monotonicMicros();
    }
    await this.flakey.powerCut({
      mountOptions: plan.mountOptions,
      whileDropping: async () => {
        await child.kill();
        this.spare = this.newChild(); // loads (off the flakey mount) while we remount and check
      },
    });
    const tCut = Date.now();

    // Media damage, as the disk holds it now (before any open repairs the journal).
    let damage: Damage = { kind: 'crash' };
    let damageLine = '';
    let journalFiles: { data: Uint8Array; commits: Uint8Array } | undefined;
    if (plan.fault === 'corrupt') {
      journalFiles = {
        data: await readFile(join(lineage.journalDir, 'data')),
        commits: await readFile(join(lineage.journalDir, 'commits')),
      };
      const ackedHead = Math.max(
        0,
        ...child.reports.flatMap((r) =>
          r.t === 'ack' && r.i > 0 && r.at < cutAt! ? [r.head] : [],
        ),
      );
      const scan = scanJournalFiles(journalFiles.data, journalFiles.commits);
      damage = damageVerdict(scan, ackedHead);
      damageLine = `; corrupting ${(probability * 100).toFixed(0)}% of write bios: journal ${describeDamage(scan, ackedHead)}`;
    }

    const absorbed = lineage.absorb({ author, startedAt, reports: child.reports });
    violations.push(...absorbed.violations);
    const expect = lineage.expectation(cutAt);
    const requiredOps = newlyAcknowledgedOps(lineage, cutAt);
    const check = await checkLineageRecovery(lineage, expect, {
      damage,
      payloads: plan.fault === 'corrupt' ? lineage.payloads() : undefined,
      random: this.random,
    });
    violations.push(...check.violations);
    if (check.missing) lineage.settleMissing();
    else if (check.k !== undefined && check.checked !== undefined)
      lineage.settle(check.k, check.checked);
    if (plan.fault === 'corrupt') this.countCorruption(damage, check.detected, check.gap, tag);
    if (plan.fault !== 'error') violations.push(...unexpectedFailures(child.reports));
    if (violations.length > 0) this.archive(tag, lineage, violations, child.reports, journalFiles);
    const tCheck = Date.now();

    await this.flakey.unmount();
    const fsck = await this.flakey.fsck();
    const tFsck = Date.now();
    if (!fsck.clean) {
      this.totals.uncleanFsck++;
      writeFileSync(
        join(this.settings.jobDir, `fsck-${tag.replace(/[^A-Za-z0-9=#-]+/g, '_')}.txt`),
        fsck.output,
      );
    }

    this.totals.cycles++;
    this.totals.ackedOpsChecked += requiredOps;
    this.totals.violations += violations.length;
    const t = this.totals.timings;
    t.cut.push(tCut - tFault);
    t.check.push(tCheck - tCut);
    t.fsck.push(tFsck - tCheck);
    t.cycle.push(tFsck - t0);

    const acks = child.reports.filter((r) => r.t === 'ack' && r.i > 0);
    const late = cutAt === undefined ? 0 : acks.filter((r) => r.at >= cutAt!).length;
    const fails = child.reports.filter((r) => r.t === 'fail').length;
    const recovered = child.reports.find((r) => r.t === 'recovered');
    const start =
      `child ${preloaded ? 'preloaded' : `loaded in ${seconds(child.loadedAt - child.spawnedAt)}`}` +
      (recovered?.t === 'recovered' ? `, hand-off playback ${seconds(recovered.playMs)}` : '') +
      (earlyCut ? `, early cut${ready === undefined ? ' (before recording)' : ''}` : '') +
      (frozen ? ', child frozen before the cut' : '') +
      (plan.fault === 'error' ? `, error window ${seconds(windowMs)}` : '') +
      `; check: hinted ${seconds(check.timings.hinted)}, from 0 ${seconds(check.timings.fromZero)}, ` +
      `crash+again ${seconds(check.timings.crashAgain)}, hints ${seconds(check.timings.storedHints)}`;
    console.log(
      `dmflakey: [${tag}] gen ${lineage.generation}: ${absorbed.ops} ops, ${acks.length - late} acks` +
        `${late > 0 ? ` (+${late} late)` : ''}${fails > 0 ? `, ${fails} failures` : ''}; ${check.summary}` +
        `${damageLine}; fsck ${fsck.clean ? 'clean' : `exit ${fsck.exitCode}`}; ${violations.length} violations; ` +
        `cycle ${seconds(tFsck - t0)} (${start})`,
    );
    for (const v of violations.slice(0, MAX_VIOLATION_LINES_PER_CUT)) {
      console.log(
        `dmflakey:   VIOLATION ${v.invariant}: ${v.message.split('\n').slice(0, 6).join(' | ')}`,
      );
    }
    if (violations.length > MAX_VIOLATION_LINES_PER_CUT) {
      console.log(
        `dmflakey:   ... ${violations.length - MAX_VIOLATION_LINES_PER_CUT} more (see the job folder's failures/)`,
      );
    }
    // The lineage goes on only if its log recovered and nothing was violated.
    return violations.length === 0 && (check.checked !== undefined || check.missing);
  }

  private newChild(): ChildHandle {
    return new ChildHandle({ seededBugs: this.settings.seededBugs });
  }

  private newAuthor(): number {
    for (;;) {
      const author = (this.random() * 0xffffffff) >>> 0;
      if (author !== 0 && !this.usedAuthors.has(author)) {
        this.usedAuthors.add(author);
        return author;
      }
    }
  }

  /** A child that could not start recording (and why), unless the cut came first on purpose. */
  private childTrouble(child: ChildHandle, lineage: Lineage, earlyCut: boolean): Violation[] {
    const error = child.reports.find((r) => r.t === 'error');
    if (error?.t === 'error') {
      const halfCreated =
        error.stage === 'open' &&
        error.outcome.errorCode === 'JournalExists' &&
        lineage.checked === undefined;
      return [
        {
          invariant: 'I7',
          message: halfCreated
            ? `a cut during an earlier create left ${lineage.journalDir} half-created: open() finds no ` +
              `journal there and create() refuses: ${describeOutcome(error.outcome)}`
            : `the child failed at ${error.stage}: ${describeOutcome(error.outcome)}`,
        },
      ];
    }
    if (child.exitedEarly !== undefined) {
      return [
        {
          invariant: 'I7',
          message: `the child died on its own (${child.exitedEarly}): ${child.stderrTail()}`,
        },
      ];
    }
    if (!earlyCut && !child.reports.some((r) => r.t === 'ready')) {
      return [
        {
          invariant: 'I7',
          message: `the child was not recording after ${READY_TIMEOUT_MS / 1000} s: ${child.stderrTail()}`,
        },
      ];
    }
    return [];
  }

  /**
   * The corruption round's log: created by the driver, its files preallocated (fallocate
   * --keep-size: appends land in blocks that exist now), and their sectors located.
   */
  private async prepareCorruptibleJournal(lineage: Lineage): Promise<SectorRange[]> {
    const journal = await FileJournal.create(lineage.journalDir, lineage.name);
    await journal.close();
    const ranges: SectorRange[] = [];
    for (const [file, bytes] of [
      ['data', CORRUPT_DATA_BYTES],
      ['commits', CORRUPT_COMMITS_BYTES],
    ] as const) {
      const path = join(lineage.journalDir, file);
      await runCommand(['fallocate', '--keep-size', '--length', String(bytes), path]);
      await runCommand(['sync']);
      ranges.push(...parseFilefrag((await runCommand(['filefrag', '-v', path])).stdout));
    }
    lineage.ledger.journalCreatedAt = 0; // durable before any child ran
    return ranges;
  }

  private countCorruption(
    damage: Damage,
    detected: boolean,
    gap: string | undefined,
    tag: string,
  ): void {
    const c = this.totals.corruption;
    if (damage.kind === 'media') c.damaged++;
    if (detected) c.detected++;
    else c.recovered++;
    if (gap !== undefined) c.gaps.push(`${tag}: ${gap}`);
  }

  /** Keeps the evidence: the log's files (as found after the cut), hints, ledger, violations. */
  private archive(
    tag: string,
    lineage: Lineage,
    violations: Violation[],
    reports: readonly ChildReport[],
    journalFiles: { data: Uint8Array; commits: Uint8Array } | undefined,
  ): void {
    const where = join(this.settings.jobDir, 'failures', tag.replace(/[^A-Za-z0-9=#-]+/g, '_'));
    mkdirSync(where, { recursive: true });
    writeFileSync(
      join(where, 'violations.txt'),
      violations.map((v) => `${v.invariant}: ${v.message}`).join('\n\n') + '\n',
    );
    writeFileSync(join(where, 'ledger.json'), JSON.stringify(lineage.ledger.toJSON()) + '\n');
    writeFileSync(
      join(where, 'reports.jsonl'),
      reports.map((r) => JSON.stringify(r)).join('\n') + '\n',
    );
    if (journalFiles !== undefined) {
      mkdirSync(join(where, 'journal-as-cut'), { recursive: true });
      writeFileSync(join(where, 'journal-as-cut', 'data'), journalFiles.data);
      writeFileSync(join(where, 'journal-as-cut', 'commits'), journalFiles.commits);
    }
    for (const part of ['journal', 'hints']) {
      try {
        cpSync(join(lineage.dir, part), join(where, part), { recursive: true });
      } catch (error) {
        writeFileSync(join(where, `${part}-copy-error.txt`), String(error));
      }
    }
  }
}

/** Outside error_writes windows nothing the workload does may fail. */
function unexpectedFailures(reports: readonly ChildReport[]): Violation[] {
  return reports.flatMap((r): Violation[] =>
    r.t === 'fail'
      ? [
          {
            invariant: 'I7',
            message: `${r.what} after op ${r.i} failed while the device worked: ${describeOutcome(r.outcome)}`,
          },
        ]
      : [],
  );
}

/** Ops (not hand-off no-ops) of the newest epoch acknowledged before the cut. */
function newlyAcknowledgedOps(lineage: Lineage, cutAt: number | undefined): number {
  const { ledger } = lineage;
  const c = cutAt ?? Number.POSITIVE_INFINITY;
  return ledger.history.filter(
    (e) =>
      e.epoch === ledger.epoch && e.op.kind !== 'noop' && e.ackedAt !== undefined && e.ackedAt <= c,
  ).length;
}

function average(values: number[]): string {
  return values.length === 0 ? '-' : seconds(values.reduce((a, b) => a + b, 0) / values.length);
}

async function main(): Promise<number> {
  const tBegin = Date.now();
  const settings = settingsFromEnv();
  const flakey = await FlakeyDevice.create({
    name: 'rl-flakey',
    backingDevice: settings.scratchDevice,
    mountPoint: settings.mountPoint,
  });
  const corrupt = await flakey.supportsFeature('random_write_corrupt');
  const plans = planRounds(settings.cuts, corrupt);
  console.log(
    `dmflakey: kernel ${await kernelRelease()}, dm-flakey ${await flakeyTargetVersion()}, node ${process.version}; ` +
      `seed ${settings.seed} (DMFLAKEY_SEED=${settings.seed} repeats the choices)` +
      `${settings.seededBugs ? `; SEEDED BUGS ${settings.seededBugs}` : ''}` +
      `${settings.unsyncedJournal ? '; SEEDED BUG: journals never sync' : ''}; ` +
      `rounds ${plans.map((p) => `${p.label} x${p.cycles}`).join(', ')}`,
  );
  if (!corrupt) {
    console.log(
      "dmflakey: random_write_corrupt is not supported by this kernel's dm-flakey (needs Linux 6.6+): no corruption round",
    );
  }
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
  const c = totals.corruption;
  if (corrupt) {
    console.log(
      `dmflakey: corruption: ${c.damaged} cuts left damaged journal bytes; ${c.detected} recoveries failed with a typed ` +
        `integrity error, ${c.recovered} recovered a checked prefix` +
        (c.gaps.length > 0 ? `; known gaps tolerated: ${c.gaps.join('; ')}` : ''),
    );
  }
  console.log(
    `dmflakey: timing per cycle (avg): child recording after ${average(t.childReady)}, cut+remount ${average(t.cut)}, ` +
      `check ${average(t.check)}, umount+fsck ${average(t.fsck)}, whole cycle ${average(t.cycle)}; ` +
      `driver total ${seconds(Date.now() - tBegin)}`,
  );
  if (totals.uncleanFsck > 0) {
    console.log(
      `dmflakey: e2fsck -fn was not clean after ${totals.uncleanFsck} cuts (a filesystem/tool problem, not a recovery ` +
        `log violation; output in the job folder's fsck-*.txt); the run fails`,
    );
  }
  if (totals.violations > 0)
    console.log(`dmflakey: evidence kept in ${join(settings.jobDir, 'failures')}`);
  console.log(
    `dmflakey: ${totals.cycles} power cuts, ${totals.ackedOpsChecked} acknowledged ops checked, ${totals.violations} violations`,
  );
  return totals.violations > 0 || totals.uncleanFsck > 0 ? 1 : 0;
}

// Only when run as the program (the unit tests import planRounds).
if (process.argv[1] !== undefined && /powercut\.(m?js|ts)$/.test(process.argv[1])) {
  main().then(
    (code) => process.exit(code),
    (error: unknown) => {
      console.error('dmflakey: harness error:', error);
      process.exit(2);
    },
  );
}
