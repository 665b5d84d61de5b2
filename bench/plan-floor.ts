// The plan benchmark's floor, as a process of its own with nothing loaded but
// the parser: parse a kubectl dump (JSON.parse, or js-yaml's loadAll, the
// YAML loader the command uses) and touch what a planner reads of every
// Service — what any tool reading the file must pay.
//
//   node bench/plan-floor.ts json|yaml FILE

import { readFileSync } from 'node:fs';
import { CORE_SCHEMA, loadAll } from 'js-yaml';

interface Svc { metadata?: { name?: string; annotations?: Record<string, string> }; spec?: { type?: string; ports?: Array<{ port?: number; name?: string; protocol?: string }> } }

const [format, file] = process.argv.slice(2) as [string, string];
const text = readFileSync(file, 'utf8');
const docs = format === 'json' ? [JSON.parse(text)] : loadAll(text, null, { schema: CORE_SCHEMA });
let touched = 0;
for (const doc of docs as Array<{ items: Svc[] }>) {
  for (const s of doc.items) {
    for (const [k, v] of Object.entries(s.metadata?.annotations ?? {})) touched += k.length + v.length;
    for (const p of s.spec?.ports ?? []) touched += (p.port ?? 0) + (p.name?.length ?? 0) + (p.protocol?.length ?? 0);
    touched += (s.spec?.type?.length ?? 0) + (s.metadata?.name?.length ?? 0);
  }
}
if (touched === 0) throw new Error('walked nothing');
