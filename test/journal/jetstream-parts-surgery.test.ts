/**
 * Surgery on a JetStream part's headers (src/journal/jetstream-parts.ts `decodePartMeta`): the
 * headers `partHeaders` writes, with one header removed or altered, and the exact description
 * `decodePartMeta` returns in place of a part. The payload has no layout of its own (it is the
 * journal's bytes); only its length is checked against the headers.
 *
 * Already covered in jetstream-parts.test.ts: no header at all, a final part one byte short,
 * an index equal to the count (2/2), and a negative Rl-Begin.
 */
import assert from 'node:assert/strict';
import { decodePartMeta, partHeaders, type PartMeta } from '../../src/journal/jetstream-parts.js';

/** Part 1 of 3 of the commit [100, 400): bytes [200, 300). */
const META: PartMeta = {
  commit: 'w1.7.1',
  begin: 100,
  end: 400,
  index: 1,
  count: 3,
  offset: 200,
  registers: { author: 'abc' },
};
const PAYLOAD = 100;

/** Decodes META's headers with `name` set to `value` (undefined: removed). */
function decodeWith(name: string, value: string | undefined, payload = PAYLOAD) {
  const headers = new Map(partHeaders(META));
  if (value === undefined) headers.delete(name);
  else headers.set(name, value);
  return decodePartMeta((key) => headers.get(key), payload);
}

const MALFORMED = 'malformed Rl-Begin/Rl-End/Rl-Off/Rl-Part headers';

describe('journal/jetstream-parts: header surgery', () => {
  it('part headers: intact headers decode to the part', () => {
    assert.deepEqual(decodeWith('Rl-Commit', META.commit), META);
  });

  it('part headers: an empty Rl-Commit is no Rl-Commit header', () => {
    assert.equal(decodeWith('Rl-Commit', ''), 'no Rl-Commit header');
    assert.equal(decodeWith('Rl-Commit', undefined), 'no Rl-Commit header');
  });

  for (const name of ['Rl-Begin', 'Rl-End', 'Rl-Off']) {
    it(`part headers: a missing or non-canonical ${name} is malformed`, () => {
      for (const value of [undefined, '', '0100', '1e2', ' 100', '100 ', '+100', '100.0', '0x64']) {
        assert.equal(decodeWith(name, value), MALFORMED, `${name}: ${JSON.stringify(value)}`);
      }
    });

    it(`part headers: an ${name} beyond 2^53 - 1 or over 16 digits is malformed`, () => {
      assert.equal(decodeWith(name, '9007199254740992'), MALFORMED);
      assert.equal(decodeWith(name, '12345678901234567'), MALFORMED);
    });
  }

  it('part headers: a missing or malformed Rl-Part is malformed', () => {
    for (const value of [undefined, '', '1', '1/', '/3', '01/3', '1/03', '1/0', '-1/3', '1/3/3']) {
      assert.equal(decodeWith('Rl-Part', value), MALFORMED, JSON.stringify(value));
    }
    assert.equal(decodeWith('Rl-Part', '1/1234567890'), MALFORMED, 'a count of 10 digits');
  });

  it('part headers: an index beyond the count is inconsistent', () => {
    assert.equal(
      decodeWith('Rl-Part', '5/3'),
      'inconsistent part headers (part 5/3, commit [100, 400), part offset 200, 100 bytes)',
    );
  });

  it('part headers: an end before the begin is inconsistent', () => {
    assert.match(String(decodeWith('Rl-End', '99')), /^inconsistent part headers .*\[100, 99\)/);
  });

  it('part headers: a part offset before the commit begin is inconsistent', () => {
    assert.match(String(decodeWith('Rl-Off', '99')), /^inconsistent .*part offset 99, 100 bytes/);
  });

  it('part headers: a payload running past the commit end is inconsistent', () => {
    assert.match(String(decodeWith('Rl-Off', '301')), /^inconsistent .*part offset 301, 100 bytes/);
    assert.match(
      String(decodeWith('Rl-Off', '200', 201)),
      /^inconsistent .*part offset 200, 201 bytes/,
    );
    // Reaching the end exactly is fine for a part that is not the final one.
    assert.equal(typeof decodeWith('Rl-Off', '300'), 'object');
  });

  it('part headers: a final part ending before the commit end says where it ends', () => {
    assert.equal(
      decodeWith('Rl-Part', '2/3'),
      'the final part ends at 300, not at the commit end 400',
    );
  });

  it('part headers: an Rl-Regs that is not a register set is malformed', () => {
    for (const value of ['{"author":', '["abc"]', '{"author":1}', '{"":"x"}', 'null']) {
      assert.equal(decodeWith('Rl-Regs', value), 'malformed Rl-Regs header', value);
    }
  });

  it('part headers: an empty or missing Rl-Regs means no registers', () => {
    for (const value of ['', undefined]) {
      const decoded = decodeWith('Rl-Regs', value);
      assert.ok(typeof decoded === 'object', String(decoded));
      assert.deepEqual(decoded.registers, {});
    }
  });
});
