/**
 * A reader in another process for lean-commit.test.ts. Run as
 *   node --import tsx test/journal/tail-child.ts <dir>
 * It opens the journal, says `ready`, then tails it with blocking reads and says `seen <offset>`
 * after every read (the offset it has read up to), until the parent kills it.
 */
import { FileJournal } from '../../src/journal/file.js';

async function main(): Promise<void> {
  const journal = await FileJournal.open(process.argv[2] ?? '');
  process.stdout.write('ready\n');
  let offset = 0;
  for (;;) {
    const { bytes } = await journal.read(offset, { blocking: true });
    offset += bytes.byteLength;
    process.stdout.write(`seen ${offset}\n`);
  }
}

main().catch((error: unknown) => {
  process.stdout.write(`error ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
});
