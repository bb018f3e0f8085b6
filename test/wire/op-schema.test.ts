/**
 * The RecordedOp codec spells its protobuf keys as literal bytes in its hot `switch`es
 * (op-decode.ts, op-encode.ts) while the schema (op-schema.ts) holds each field's number and
 * wire type. The literals are not exported, so this test proves them through behaviour: for
 * every field of every message in the schema it derives the key (field number << 3 | wire type)
 * and builds the field's bytes from it, then checks that the decoder puts the value in that
 * field (a wrong literal would skip it as unknown, or refuse it) and that the encoder writes
 * exactly those bytes back (a wrong literal there would change them).
 */
import assert from 'node:assert/strict';
import { decodeRecordedOp, encodeRecordedOp } from '../../src/wire/codec.js';
import { ProtoDecodeError } from '../../src/wire/errors.js';
import {
  CHMOD,
  CREATE,
  DIRECTORY,
  FIXED32,
  LENGTH_DELIMITED,
  LINK,
  PROPERTY,
  RECORDED_OP,
  TRUNCATE,
  VARINT,
  WRITE,
  type Message,
} from '../../src/wire/op-schema.js';

function varint(value: number): number[] {
  const out: number[] = [];
  for (; value >= 0x80; value = Math.floor(value / 0x80)) out.push((value % 0x80) | 0x80);
  out.push(value);
  return out;
}

const key = (tag: number, wireType: number): number[] => varint((tag << 3) | wireType);

/** A sample value per wire type: its bytes and what it decodes to. */
const SAMPLES: Record<number, { bytes: number[]; value: number | string }> = {
  [VARINT]: { bytes: [0x05], value: 5 },
  [FIXED32]: { bytes: [0x01, 0x02, 0x03, 0x04], value: 0x04030201 },
  [LENGTH_DELIMITED]: { bytes: [0x01, 0x78], value: 'x' },
};

/** The sub-message each length-delimited RecordedOp field holds (`log` is a string). */
const SUB_MESSAGES: Record<string, Message> = {
  create: CREATE,
  link: LINK,
  unlink: LINK,
  write: WRITE,
  property: PROPERTY,
  chmod: CHMOD,
  truncate: TRUNCATE,
  mkdir: DIRECTORY,
  rmdir: DIRECTORY,
};

const camel = (name: string): string =>
  name.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());

function fields(message: Message): Array<{ tag: number; name: string; wireType: number }> {
  return message.table.flatMap((entry, tag) =>
    entry === undefined ? [] : [{ tag, name: entry[0], wireType: entry[1] }],
  );
}

interface Case {
  field: string;
  /** The op's bytes holding only this field. */
  bytes: Uint8Array;
  /** Where its value must land in the decoded op, and the value (undefined: present, empty). */
  path: string[];
  value: unknown;
  /** The field's number and wire type, and the key of the RecordedOp field around it if any. */
  tag: number;
  wireType: number;
  name: string;
  outerKey?: number[];
}

/** One case per schema field. */
function cases(): Case[] {
  const out: Case[] = [];
  for (const { tag, name, wireType } of fields(RECORDED_OP)) {
    const sub = SUB_MESSAGES[name];
    if (sub === undefined) {
      const sample = SAMPLES[wireType]!;
      out.push({
        field: `RecordedOp.${name}`,
        bytes: Uint8Array.from([...key(tag, wireType), ...sample.bytes]),
        path: [camel(name)],
        value: sample.value,
        tag,
        wireType,
        name,
      });
      continue;
    }
    // The sub-message itself, empty (present, all zero), then each of its fields.
    out.push({
      field: `RecordedOp.${name}`,
      bytes: Uint8Array.from([...key(tag, wireType), 0]),
      path: [camel(name)],
      value: undefined,
      tag,
      wireType,
      name,
    });
    for (const inner of fields(sub)) {
      const sample = SAMPLES[inner.wireType]!;
      const body = [...key(inner.tag, inner.wireType), ...sample.bytes];
      out.push({
        field: `RecordedOp.${name}.${inner.name}`,
        bytes: Uint8Array.from([...key(tag, wireType), ...varint(body.length), ...body]),
        path: [camel(name), camel(inner.name)],
        value: sample.value,
        ...inner,
        outerKey: key(tag, wireType),
      });
    }
  }
  return out;
}

describe('wire/op-schema: the codec’s literal keys agree with the schema', () => {
  it('covers every message: each length-delimited RecordedOp field but log is a sub-message', () => {
    const subFields = fields(RECORDED_OP)
      .filter((f) => f.wireType === LENGTH_DELIMITED && f.name !== 'log')
      .map((f) => f.name);
    assert.deepEqual(subFields, Object.keys(SUB_MESSAGES));
    assert.equal(cases().length, 34); // 15 RecordedOp fields + 19 fields of its sub-messages
  });

  for (const { field, bytes, path, value } of cases()) {
    it(`${field}: the decoder reads the schema's key, the encoder writes it`, () => {
      const decoded = decodeRecordedOp(bytes) as unknown as Record<string, unknown>;
      let at: unknown = decoded;
      for (const step of path) {
        assert.ok(at !== undefined && typeof at === 'object', `${field}: ${step} missing`);
        at = (at as Record<string, unknown>)[step];
      }
      if (value === undefined) assert.equal(typeof at, 'object', `${field} is present`);
      else assert.equal(at, value, `${field} decoded`);
      assert.deepEqual(
        Buffer.from(encodeRecordedOp(decoded as never)).toString('hex'),
        Buffer.from(bytes).toString('hex'),
        `${field} re-encoded`,
      );
    });
  }

  it('every schema field with another wire type is refused with the schema’s name and type', () => {
    // The decoder's default branch names a known field from the schema: a key literal that
    // disagreed with the schema would reach it for the right wire type, and fail here too.
    for (const { field, tag, wireType, name, outerKey } of cases()) {
      const wrong = wireType === FIXED32 ? VARINT : FIXED32;
      const inner = [...key(tag, wrong), ...SAMPLES[wrong]!.bytes];
      const bytes = outerKey === undefined ? inner : [...outerKey, inner.length, ...inner];
      assert.throws(
        () => decodeRecordedOp(Uint8Array.from(bytes)),
        (error: unknown) =>
          error instanceof ProtoDecodeError &&
          error.message.includes(
            `field ${name} (tag ${tag}) has wire type ${wrong}, expected ${wireType}`,
          ),
        field,
      );
    }
  });
});
