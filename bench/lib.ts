// What the benchmarks share: the load generator, and how a result is recorded.

import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readState, up } from '../e2e/cluster.ts';
import { installCRD } from '../e2e/controller-harness.ts';
import { Watch } from '@kubernetes/client-node';
import { admin, adminKubeConfig, sweep } from '../e2e/kube.ts';

const RESULTS = join(import.meta.dirname, 'results');

// A benchmark stopped by a signal must not leave its controller running: Node
// skips 'exit' handlers (the harness's, which kill it) when a signal ends it.
for (const [signal, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) process.once(signal, () => process.exit(code));

/**
 * Ports on each of the benchmarks' shared LBs: 20 000 members take 200 LBs,
 * within the cloud simulator's 254 addresses (at 50 ports, 400 LBs ran it dry).
 */
export const BENCH_PORTS_PER_LB = 100;

/** The local control plane, up, with the CRD, and with nothing left by an earlier run to load it; a quiet controller. */
export async function quietCluster(): Promise<void> {
  process.env.SHAREDLB_LOG_LEVEL = 'warn';
  await up();
  await installCRD();
  await sweep();
  // The simulator refuses an LB with more listeners than it allows (50 unless told): it must take the benchmarks' LBs.
  const cm = '/api/v1/namespaces/kube-system/configmaps/cloud-simulator';
  await admin().delete(cm).catch(() => undefined);
  await admin().post('/api/v1/namespaces/kube-system/configmaps', { metadata: { name: 'cloud-simulator' }, data: { maxListeners: String(BENCH_PORTS_PER_LB) } });
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

export interface ReadyWatch {
  /** Resolves with performance.now() at the moment the n-th member was seen Ready. */
  all: Promise<number>;
  ready(): number;
  /** When each member was first seen Ready (performance.now()). */
  readyAt: Map<string, number>;
  stop(): void;
}

/**
 * Members Ready — in a namespace, or carrying a label anywhere — from one
 * watch: polling a list of N Services every half second would be the
 * benchmark's own load on the API server (tens of MB of JSON a minute at
 * 20 000 members), charged to the controller.
 */
export async function watchReady(where: { namespace: string } | { labelSelector: string }, n: number, timeoutMs: number): Promise<ReadyWatch> {
  const [path, query] = 'namespace' in where ? [`/api/v1/namespaces/${where.namespace}/services`, {}] : ['/api/v1/services', { labelSelector: where.labelSelector }];
  const ready = new Set<string>();
  const readyAt = new Map<string, number>();
  let settle: (t: number) => void = () => {};
  let fail: (e: Error) => void = () => {};
  const all = new Promise<number>((resolve, reject) => {
    settle = resolve;
    fail = reject;
  });
  const timer = setTimeout(() => fail(new Error(`${ready.size}/${n} members Ready after ${timeoutMs} ms`)), timeoutMs);
  let req: { abort(): void } | undefined;
  let stopped = false;
  const start = async (): Promise<void> => {
    req = await new Watch(adminKubeConfig()).watch(path, query, (type: string, svc: { metadata: { name: string; namespace: string }; status?: { conditions?: Array<{ type: string; status: string }> } }) => {
      const isReady = type !== 'DELETED' && (svc.status?.conditions ?? []).some((c) => c.type === 'sharedlb.io/Ready' && c.status === 'True');
      const key = `${svc.metadata.namespace}/${svc.metadata.name}`;
      if (isReady && !readyAt.has(key)) readyAt.set(key, performance.now());
      if (isReady) ready.add(key);
      else ready.delete(key);
      if (ready.size === n) settle(performance.now());
    }, () => {
      // The server ends a watch after its timeout: watch again (members seen stay counted; a relist re-adds them).
      if (!stopped) void start().catch((e: Error) => fail(e));
    });
  };
  await start();
  void all.finally(() => clearTimeout(timer)).catch(() => undefined);
  return { all, ready: () => ready.size, readyAt, stop: () => {
    stopped = true;
    req?.abort();
  } };
}

/** The p-th percentile of xs (the nearest value at or below it; p = 100: the largest). */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
}

/** A memory figure of a process, in MB, from /proc/PID/status (VmRSS: now, VmHWM: peak). */
/** The rows a run printed to stderr (a JSON object a line, each with `key`): to record a run stopped before it could. */
export function printedRows<T>(file: string, key: string): T[] {
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => key in r) as T[];
}

export function procMB(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  return Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;
}

/**
 * CPU seconds the local control plane (etcd, kube-apiserver,
 * kube-controller-manager, cloud simulator) has used so far: what the same
 * writes cost it from one phase to the next shows how the machine's pace drifts.
 */
export function controlPlaneCpuSeconds(): number {
  const st = readState();
  if (st === null) throw new Error('no local control plane');
  return Object.values(st.pids).reduce((s, pid) => s + (pid === undefined ? 0 : procCpuSeconds(pid)), 0);
}

/** CPU seconds (user + system) a process has used so far. */
export function procCpuSeconds(pid: number): number {
  // Fields 14 and 15 of /proc/PID/stat, after the parenthesised command name.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
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
