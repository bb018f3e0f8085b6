/**
 * Scratch space under os.tmpdir(), removed at exit (also on Ctrl-C) so an interrupted bench
 * does not leave hundreds of MiB behind.
 */
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export class ScratchSpace {
  readonly root: string;
  private counter = 0;
  private removed = false;

  constructor(prefix = 'recoverylog-bench-') {
    this.root = mkdtempSync(join(tmpdir(), prefix));
    const onExit = (): void => this.remove();
    process.once('exit', onExit);
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      process.once(signal, () => {
        this.remove();
        process.exit(130);
      });
    }
  }

  /** A fresh, empty directory (unique name per call). */
  dir(label: string): string {
    const d = join(this.root, `${label}-${this.counter++}`);
    mkdirSync(d, { recursive: true });
    return d;
  }

  /** Removes a directory made by dir() once a run no longer needs it (keeps disk use bounded). */
  discard(dir: string): void {
    rmSync(dir, { recursive: true, force: true });
  }

  remove(): void {
    if (this.removed) return;
    this.removed = true;
    rmSync(this.root, { recursive: true, force: true });
  }
}
