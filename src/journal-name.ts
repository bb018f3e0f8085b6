import { posix } from 'node:path';

/**
 * Checks a journal (log) name with Gazette's rules and returns a description of what is wrong,
 * or undefined when it is valid. An optional `;meta` suffix is ignored. Rules: length 4..512;
 * only Unicode letters, digits and `-_+/.=%`; already clean as a path (no `//`, `./`, `../`,
 * trailing `/`); no leading `/`.
 */
export function journalNameProblem(name: string): string | undefined {
  const semi = name.indexOf(';');
  const base = semi === -1 ? name : name.slice(0, semi);
  const length = [...base].length;
  if (length < 4 || length > 512) {
    return `invalid length (${length}; expected 4 <= length <= 512)`;
  }
  for (const ch of base) {
    if (!/[\p{L}\p{N}\-_+/.=%]/u.test(ch)) {
      return `not a valid token (${JSON.stringify(base)}): invalid character ${JSON.stringify(ch)}`;
    }
  }
  if (posix.normalize(base) !== base || base.endsWith('/')) {
    return `must be a clean path (${JSON.stringify(base)})`;
  }
  if (base.startsWith('/')) {
    return `cannot begin with '/' (${JSON.stringify(base)})`;
  }
  return undefined;
}
