/** registers.ts: fencing matches, union, canonical encoding and validation of register sets. */
import assert from 'node:assert/strict';
import {
  MAX_REGISTERS_BYTES,
  decodeRegisters,
  encodeRegisters,
  registersEqual,
  registersMatch,
  registersProblem,
  unionRegisters,
} from '../../src/journal/registers.js';

describe('journal registers', () => {
  describe('registersMatch', () => {
    it('a journal with no registers matches any check (a fresh journal accepts every writer)', () => {
      assert.equal(registersMatch({}, { author: 'a' }), true);
    });

    it('matches when every checked label has exactly that value', () => {
      assert.equal(registersMatch({ author: 'a', epoch: '3' }, { author: 'a' }), true);
    });

    it('refuses a checked label with another value', () => {
      assert.equal(registersMatch({ author: 'a' }, { author: 'b' }), false);
    });

    it('refuses a checked label the journal does not have', () => {
      assert.equal(registersMatch({ author: 'a' }, { epoch: '3' }), false);
    });

    it('does not take a label from the prototype for a register', () => {
      assert.equal(registersMatch({ author: 'a' }, { toString: 'x' }), false);
    });
  });

  describe('unionRegisters', () => {
    it('sets every label of the update, keeps the others, and returns a frozen set', () => {
      const union = unionRegisters({ author: 'a', epoch: '1' }, { epoch: '2', extra: 'x' });
      assert.deepEqual(union, { author: 'a', epoch: '2', extra: 'x' });
      assert.ok(Object.isFrozen(union));
    });
  });

  describe('registersEqual', () => {
    it('is true for the same labels and values in any order', () => {
      assert.equal(registersEqual({ a: '1', b: '2' }, { b: '2', a: '1' }), true);
    });

    it('is false when the label counts differ', () => {
      assert.equal(registersEqual({ a: '1' }, { a: '1', b: '2' }), false);
    });

    it('is false when a value differs', () => {
      assert.equal(registersEqual({ a: '1' }, { a: '2' }), false);
    });

    it('is false when the labels differ', () => {
      assert.equal(registersEqual({ a: '1' }, { b: '1' }), false);
    });
  });

  describe('registersProblem', () => {
    it('accepts an empty set and string values', () => {
      assert.equal(registersProblem({}), undefined);
      assert.equal(registersProblem({ author: 'a' }), undefined);
    });

    for (const [what, value] of [
      ['null', null],
      ['an array', ['a']],
      ['a string', 'author=a'],
    ] as const) {
      it(`refuses ${what}: registers must be an object`, () => {
        assert.match(registersProblem(value) ?? '', /must be an object/);
      });
    }

    it('refuses an empty label', () => {
      assert.match(registersProblem({ '': 'x' }) ?? '', /non-empty/);
    });

    it('refuses a value that is not a string, naming the label', () => {
      assert.match(registersProblem({ epoch: 3 }) ?? '', /"epoch" must have a string value/);
    });

    it(`refuses a set whose encoding exceeds ${MAX_REGISTERS_BYTES} bytes`, () => {
      assert.match(
        registersProblem({ big: 'x'.repeat(MAX_REGISTERS_BYTES) }) ?? '',
        /exceed 65536 bytes/,
      );
    });

    it('accepts a set whose worst-case bound is over the limit but whose encoding is not', () => {
      // 6 bytes per character bound: 6 * 12000 > 64 KiB, but the ASCII encoding is ~12 KB.
      assert.equal(registersProblem({ label: 'x'.repeat(12_000) }), undefined);
    });
  });

  describe('encodeRegisters / decodeRegisters', () => {
    it('encodes equal sets to equal bytes (labels sorted)', () => {
      assert.deepEqual(encodeRegisters({ b: '2', a: '1' }), encodeRegisters({ a: '1', b: '2' }));
      assert.equal(
        new TextDecoder().decode(encodeRegisters({ b: '2', a: '1' })),
        '{"a":"1","b":"2"}',
      );
    });

    it('decodes what it encoded, frozen', () => {
      const decoded = decodeRegisters(encodeRegisters({ author: 'ä', epoch: '7' }));
      assert.deepEqual(decoded, { author: 'ä', epoch: '7' });
      assert.ok(Object.isFrozen(decoded));
    });

    it('refuses bytes that are not UTF-8', () => {
      assert.equal(decodeRegisters(Uint8Array.of(0x7b, 0xff, 0x7d)), undefined);
    });

    it('refuses bytes that are not JSON', () => {
      assert.equal(decodeRegisters(new TextEncoder().encode('{"a":')), undefined);
    });

    it('refuses JSON that is not a register set', () => {
      assert.equal(decodeRegisters(new TextEncoder().encode('["a"]')), undefined);
      assert.equal(decodeRegisters(new TextEncoder().encode('{"a":1}')), undefined);
    });
  });
});
