// Removes the given directories (relative to the package root), so that a build starts from an
// empty out dir: tsc never deletes outputs whose sources were moved or excluded, and `files` in
// package.json ships whatever dist/ holds. Uses no dependencies.
import { rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
for (const dir of process.argv.slice(2)) rmSync(join(root, dir), { recursive: true, force: true });
