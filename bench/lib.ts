// What the benchmarks share: the load generator, and how a result is recorded.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { up } from '../e2e/cluster.ts';
import { installCRD } from '../e2e/controller-harness.ts';
import { admin, sweep } from '../e2e/kube.ts';

const RESULTS = join(import.meta.dirname, 'results');

/** The local control plane, up, with the CRD, and with nothing left by an earlier run to load it; a quiet controller. */
export async function quietCluster(): Promise<void> {
  process.env.SHAREDLB_LOG_LEVEL = 'warn';
  await up();
  await installCRD();
  await sweep();
}

/** items through fn with at most `concurrency` in flight. */
export async function inBatches<T>(items: T[], concurrency: number, fn: (item: T, index: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (next < items.length) {
      const i = next++;
      await fn(items[i] as T, i);
    }
  }));
}

/**
 * kube-controller-manager deletes a namespace's Services one request at a
 * time: tens of thousands outlast the benchmark. Deleted here in parallel
 * first, the namespace then goes in seconds.
 */
export async function deleteServices(ns: string): Promise<void> {
  const names = (await admin().get<{ items: Array<{ metadata: { name: string } }> }>(`/api/v1/namespaces/${ns}/services`)).items.map((x) => x.metadata.name);
  await inBatches(names, 32, (name) => admin().delete(`/api/v1/namespaces/${ns}/services/${name}`).catch(() => undefined));
}

/** A memory figure of a process, in MB, from /proc/PID/status (VmRSS: now, VmHWM: peak). */
export function procMB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

export interface Report {
  title: string;
  /** Paragraphs before the table: when, on what, what is measured. */
  about: string[];
  columns: string[];
  rows: unknown[][];
  /** Paragraphs after it: the goal, and what a missed goal is owed to. */
  after: string[];
}

/** bench/results/NAME.json (the figures) and NAME.md (for people), and the markdown on stdout. */
export function record(name: string, result: object, r: Report): void {
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, `${name}.json`), `${JSON.stringify(result, null, 2)}\n`);
  const md = [
    `# ${r.title}`,
    '',
    ...r.about.flatMap((p) => [p, '']),
    `| ${r.columns.join(' | ')} |`,
    `|${r.columns.map(() => '---:').join('|')}|`,
    ...r.rows.map((row) => `| ${row.map(String).join(' | ')} |`),
    '',
    ...r.after.flatMap((p) => [p, '']),
  ].join('\n');
  writeFileSync(join(RESULTS, `${name}.md`), md);
  process.stdout.write(md);
}
