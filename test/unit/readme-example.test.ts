import assert from 'node:assert/strict';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { quickstart } from '../../examples/quickstart.js';

describe('README example (examples/quickstart.ts)', () => {
  it('records a directory and restores it elsewhere', async () => {
    const { restored, manifest } = await quickstart();
    try {
      assert.equal(manifest, 'wal=000001.log\n');
      assert.equal(await readFile(join(restored, '000001.log'), 'utf8'), 'put k1 v1\n');
    } finally {
      await rm(join(restored, '..'), { recursive: true, force: true });
    }
  });
});
