// Reading Kubernetes objects from YAML or JSON files for the CLI: a v1 List
// (as `kubectl get -o yaml|json` prints it) or multi-document manifests.
// Errors name the file and the line, because that is where the fix goes.

import { readFileSync } from 'node:fs';
import { LineCounter, parseAllDocuments } from 'yaml';

export class InputError extends Error {}

export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string };
  [k: string]: unknown;
}

export interface ReadResult {
  objects: KubeObject[];
  /** Kinds present but not asked for, with counts, for a warning. */
  skipped: Map<string, number>;
}

export function readText(file: string, stdin: () => string): string {
  if (file === '-') return stdin();
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new InputError(`${file}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (e as Error).message}`);
  }
}

/** Objects of the given kinds from one file's text; Lists are unpacked. */
export function readObjects(file: string, text: string, kinds: readonly string[]): ReadResult {
  const name = file === '-' ? '<stdin>' : file;
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  if (!Array.isArray(docs)) throw new InputError(`${name}: not YAML or JSON`);
  const objects: KubeObject[] = [];
  const skipped = new Map<string, number>();
  let sawObject = false;
  for (const doc of docs) {
    const err = doc.errors[0];
    if (err !== undefined) {
      const pos = lines.linePos(err.pos[0]);
      throw new InputError(`${name}:${pos.line}:${pos.col}: not valid YAML or JSON: ${err.message.split('\n')[0]}`);
    }
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue; // an empty document, e.g. after a trailing ---
    const at = lines.linePos(doc.contents?.range[0] ?? doc.range[0]);
    const where = `${name}:${at.line}`;
    const take = (o: unknown, path: string, node?: unknown): void => {
      const range = (node as { range?: [number, number, number] } | undefined)?.range;
      const here = range === undefined ? `${name}:${at.line}` : `${name}:${lines.linePos(range[0]).line}`;
      if (o === null || typeof o !== 'object' || Array.isArray(o)) {
        throw new InputError(`${here}: ${path} is not a Kubernetes object (expected a mapping with apiVersion and kind)`);
      }
      const obj = o as KubeObject;
      if (typeof obj.kind !== 'string' || typeof obj.apiVersion !== 'string') {
        throw new InputError(`${here}: ${path} has no apiVersion and kind: not a Kubernetes object`);
      }
      sawObject = true;
      if (kinds.includes(obj.kind)) objects.push(obj);
      else skipped.set(obj.kind, (skipped.get(obj.kind) ?? 0) + 1);
    };
    const v = value as KubeObject;
    if (v !== null && typeof v === 'object' && !Array.isArray(v) && typeof v.kind === 'string' && v.kind.endsWith('List')) {
      if (!Array.isArray(v.items)) throw new InputError(`${where}: ${v.kind} has no items list`);
      v.items.forEach((item, i) => take(item, `items[${i}]`, doc.getIn(['items', i], true)));
    } else {
      take(value, 'the document');
    }
  }
  if (!sawObject) throw new InputError(`${name}: holds no Kubernetes objects`);
  return { objects, skipped };
}
