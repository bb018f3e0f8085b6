/**
 * Reading V8 .cpuprofile files: self and inclusive time per function, with positions mapped back
 * to the TypeScript sources through the build's source maps. Used by bench/profile-summary.ts.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export interface CallFrame {
  functionName: string;
  url: string;
  /** 0-based. */
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

export interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

export interface HotSpot {
  where: string;
  selfMs: number;
  totalMs: number;
}

const BASE64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Per generated line: [generatedColumn, sourceIndex, sourceLine] triples, in column order. */
type LineMap = [number, number, number][][];

interface SourceMap {
  sources: string[];
  lines: LineMap;
  dir: string;
}

/** Decodes the `mappings` of a v3 source map (base64 VLQ, fields relative to the previous). */
export function decodeMappings(mappings: string): LineMap {
  const lines: LineMap = [];
  let source = 0;
  let sourceLine = 0;
  for (const line of mappings.split(';')) {
    const segments: [number, number, number][] = [];
    let column = 0;
    for (const seg of line.split(',')) {
      if (seg === '') continue;
      const fields: number[] = [];
      let value = 0;
      let shift = 0;
      for (const ch of seg) {
        const digit = BASE64.indexOf(ch);
        value += (digit & 31) << shift;
        if (digit & 32) shift += 5;
        else {
          fields.push(value & 1 ? -(value >>> 1) : value >>> 1);
          value = 0;
          shift = 0;
        }
      }
      column += fields[0] ?? 0;
      if (fields.length >= 4) {
        source += fields[1]!;
        sourceLine += fields[2]!;
        segments.push([column, source, sourceLine]);
      }
    }
    lines.push(segments);
  }
  return lines;
}

const maps = new Map<string, SourceMap | undefined>();

function sourceMapOf(jsPath: string): SourceMap | undefined {
  if (!maps.has(jsPath)) {
    const mapPath = `${jsPath}.map`;
    let map: SourceMap | undefined;
    if (existsSync(mapPath)) {
      const raw = JSON.parse(readFileSync(mapPath, 'utf8')) as {
        sources: string[];
        mappings: string;
        sourceRoot?: string;
      };
      map = {
        sources: raw.sources,
        lines: decodeMappings(raw.mappings),
        dir: resolve(dirname(jsPath), raw.sourceRoot ?? ''),
      };
    }
    maps.set(jsPath, map);
  }
  return maps.get(jsPath);
}

/** `file:line` of a call frame, mapped to the TypeScript source when a source map exists. */
function position(cf: CallFrame): string {
  if (!cf.url.startsWith('file://')) return cf.url ? `${cf.url}:${cf.lineNumber + 1}` : '';
  const js = fileURLToPath(cf.url);
  const map = sourceMapOf(js);
  const segments = map?.lines[cf.lineNumber];
  if (map && segments && segments.length > 0) {
    let hit = segments[0]!;
    for (const s of segments) if (s[0] <= cf.columnNumber) hit = s;
    const src = resolve(map.dir, map.sources[hit[1]] ?? '');
    return `${relative(process.cwd(), src)}:${hit[2] + 1}`;
  }
  return `${relative(process.cwd(), js)}:${cf.lineNumber + 1}`;
}

export function location(cf: CallFrame): string {
  const name = cf.functionName || '(anonymous)';
  const at = position(cf);
  return at ? `${name} ${at}` : name;
}

/** Self and inclusive time per function location (recursion counted once per sample). */
export function hotSpots(profile: CpuProfile): HotSpot[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const self = new Map<string, number>();
  const total = new Map<string, number>();
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i] ?? 0) / 1000;
    const leaf = byId.get(id);
    if (!leaf) return;
    const leafWhere = location(leaf.callFrame);
    self.set(leafWhere, (self.get(leafWhere) ?? 0) + ms);
    const seen = new Set<string>();
    for (let n: number | undefined = id; n !== undefined; n = parent.get(n)) {
      const where = location(byId.get(n)!.callFrame);
      if (seen.has(where)) continue;
      seen.add(where);
      total.set(where, (total.get(where) ?? 0) + ms);
    }
  });
  return [...total.entries()].map(([where, totalMs]) => ({
    where,
    totalMs,
    selfMs: self.get(where) ?? 0,
  }));
}
