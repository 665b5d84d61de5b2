// Reading Kubernetes objects from YAML or JSON files for the CLI: a v1 List
// (as `kubectl get -o yaml|json` prints it) or multi-document manifests.
// Errors name the file and the line, because that is where the fix goes.

import { readFileSync } from 'node:fs';
import { CORE_SCHEMA, loadAll } from 'js-yaml';
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

/**
 * Objects of the given kinds from one file's text; Lists are unpacked.
 * Plain data first (JSON.parse for JSON, js-yaml for YAML: a planner reads
 * kubectl dumps of a whole cluster); only when that fails is the text read
 * again through a document model, to say at which line.
 */
export function readObjects(file: string, text: string, kinds: readonly string[]): ReadResult {
  let docs: unknown[];
  try {
    docs = /^\s*[[{]/.test(text) ? [JSON.parse(text)] : loadAll(text, null, { schema: CORE_SCHEMA });
  } catch {
    return readPositioned(file, text, kinds);
  }
  const objects: KubeObject[] = [];
  const skipped = new Map<string, number>();
  let sawObject = false;
  for (const doc of docs) {
    if (doc === null || doc === undefined) continue;
    const v = doc as KubeObject;
    const list = typeof v === 'object' && !Array.isArray(v) && typeof v.kind === 'string' && v.kind.endsWith('List');
    if (list && !Array.isArray(v.items)) return readPositioned(file, text, kinds);
    for (const o of list ? (v.items as unknown[]) : [doc]) {
      const obj = o as KubeObject;
      if (obj === null || typeof obj !== 'object' || Array.isArray(obj) || typeof obj.kind !== 'string' || typeof obj.apiVersion !== 'string') return readPositioned(file, text, kinds);
      sawObject = true;
      if (kinds.includes(obj.kind)) objects.push(obj);
      else skipped.set(obj.kind, (skipped.get(obj.kind) ?? 0) + 1);
    }
  }
  if (!sawObject) return readPositioned(file, text, kinds);
  return { objects, skipped };
}

/** As readObjects, through yaml's document model: slow, but every error says where. */
function readPositioned(file: string, text: string, kinds: readonly string[]): ReadResult {
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
      for (const [i, item] of v.items.entries()) take(item, `items[${i}]`, doc.getIn(['items', i], true));
    } else {
      take(value, 'the document');
    }
  }
  if (!sawObject) throw new InputError(`${name}: holds no Kubernetes objects`);
  return { objects, skipped };
}
