// Installs dependencies when node_modules is missing or older than package-lock.json, so that a
// fresh clone needs only `npm test` or `npm run demo`. Uses no dependencies itself.
import { existsSync, statSync } from 'node:fs';
import { execSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const lock = join(root, 'package-lock.json');
const marker = join(root, 'node_modules', '.package-lock.json');

const stale =
  !existsSync(marker) || (existsSync(lock) && statSync(lock).mtimeMs > statSync(marker).mtimeMs);
if (stale) {
  console.error('[ensure-deps] node_modules missing or stale: running npm ci');
  execSync('npm ci --no-audit --no-fund', { cwd: root, stdio: 'inherit' });
}
