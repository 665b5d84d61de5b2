// Running the real controller as a process against the local cluster, and
// installing what an admin would: the CRD and pools.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { ApiError } from '../controller/kube-rest.ts';
import { freePort, KUBECONFIG, ROOT } from './cluster.ts';
import { admin, eventually } from './kube.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const CRD = join(REPO, 'manifests', 'crd', 'loadbalancerpools.sharedlb.io.yaml');

export async function installCRD(): Promise<void> {
  const crd = parse(readFileSync(CRD, 'utf8')) as { metadata: { name: string } };
  try {
    await admin().post('/apis/apiextensions.k8s.io/v1/customresourcedefinitions', crd);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 409)) throw e;
    const cur = await admin().get<{ metadata: { resourceVersion: string } }>(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
    await admin().put(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`, { ...crd, metadata: { ...crd.metadata, resourceVersion: cur.metadata.resourceVersion } });
  }
  await eventually('the CRD to be established', async () => {
    const c = await admin().get<{ status?: { conditions?: Array<{ type: string; status: string }> } }>(`/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${crd.metadata.name}`);
    return c.status?.conditions?.some((x) => x.type === 'Established' && x.status === 'True');
  });
  await eventually('the LoadBalancerPool API to be served', () => admin().get('/apis/sharedlb.io/v1alpha1/loadbalancerpools'));
}

export async function createPool(name: string, spec: Record<string, unknown>): Promise<void> {
  await admin().post('/apis/sharedlb.io/v1alpha1/loadbalancerpools', { apiVersion: 'sharedlb.io/v1alpha1', kind: 'LoadBalancerPool', metadata: { name }, spec });
}

export async function deletePool(name: string): Promise<void> {
  await admin().delete(`/apis/sharedlb.io/v1alpha1/loadbalancerpools/${name}`).catch(() => undefined);
}

let runs = 0;
export interface RunningController {
  process: ChildProcess;
  log: string;
  port: number;
  /** SIGTERM and wait for exit. */
  stop(): Promise<void>;
  /** SIGKILL: a crash at an arbitrary point. */
  kill(): Promise<void>;
  metric(name: string): Promise<number>;
  /** API requests by "METHOD resource", from rest_client_requests_total. */
  requests(): Promise<Map<string, number>>;
  /** All non-GET requests: what the controller wrote, events included. */
  writes(): Promise<number>;
  logText(): string;
}

/** The controller container as manifests/deployment.yaml declares it: benchmarks measure that process. */
function deploymentContainer(): { env?: Array<{ name: string; value?: string }>; resources?: { limits?: { memory?: string } } } {
  const d = parse(readFileSync(join(REPO, 'manifests', 'deployment.yaml'), 'utf8').split(/^---$/m)[0] as string) as {
    spec: { template: { spec: { containers: Array<ReturnType<typeof deploymentContainer>> } } };
  };
  const c = d.spec.template.spec.containers[0];
  if (c === undefined) throw new Error('manifests/deployment.yaml has no container');
  return c;
}

export function deploymentNodeOptions(): string {
  const v = deploymentContainer().env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
  if (v === undefined) throw new Error('manifests/deployment.yaml sets no NODE_OPTIONS');
  return v;
}

/** The container's memory limit in bytes (a quantity such as 512Mi). */
export function deploymentMemoryLimit(): number {
  const q = deploymentContainer().resources?.limits?.memory ?? '';
  const m = /^(\d+)(Ki|Mi|Gi)?$/.exec(q);
  if (m === null) throw new Error(`manifests/deployment.yaml: memory limit ${JSON.stringify(q)} is not a quantity this harness reads`);
  return Number(m[1]) * ({ Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 }[m[2] as 'Ki' | 'Mi' | 'Gi'] ?? 1);
}

/**
 * A memory cgroup with this limit, as a pod's container gets: Node sizes its
 * heap from it (--max-old-space-size-percentage), and the kernel kills past
 * it. cgroup v2 (memory.max) or v1 (memory.limit_in_bytes).
 */
function memoryCgroup(limit: number): { procs: string; remove: () => void } {
  const name = `sharedlb-bench-${process.pid}-${runs}`;
  const v2 = existsSync('/sys/fs/cgroup/cgroup.controllers');
  const dir = v2 ? join('/sys/fs/cgroup', name) : join('/sys/fs/cgroup/memory', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, v2 ? 'memory.max' : 'memory.limit_in_bytes'), String(limit));
  return {
    procs: join(dir, 'cgroup.procs'),
    // A cgroup goes with rmdir (its files cannot be unlinked), once its process has exited.
    remove: () => {
      try {
        rmdirSync(dir);
      } catch {
        // already gone
      }
    },
  };
}

/** The bundle the image runs (`npm run build`), for tests and benchmarks that must measure what ships. */
export const BUNDLE = join(REPO, 'dist', 'sharedlb.mjs');

export interface ControllerRun {
  env?: Record<string, string>;
  /** Run dist/sharedlb.mjs instead of the sources. */
  bundle?: boolean;
  /** As the Deployment runs it: the bundle, its NODE_OPTIONS and default periods, inside a memory cgroup with its memory limit. */
  deployment?: boolean;
  /** Flags for node itself (those NODE_OPTIONS refuses, e.g. --trace-gc). */
  nodeArgs?: string[];
}

export async function startController(namespace: string, extra: string[] = [], run: ControllerRun = {}): Promise<RunningController> {
  const bundle = run.bundle === true || run.deployment === true;
  if (bundle && !existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` first`);
  mkdirSync(join(ROOT, 'logs'), { recursive: true });
  const log = join(ROOT, 'logs', `controller-${process.pid}-${++runs}.log`);
  const out = openSync(log, 'a');
  const port = await freePort();
  // Tests resync often to see convergence without an event; the Deployment's process keeps the shipped period.
  const resync = run.deployment ? [] : ['--resync=30'];
  const args = [...(run.nodeArgs ?? []), bundle ? BUNDLE : join(REPO, 'cli', 'main.ts'), 'controller', `--kubeconfig=${KUBECONFIG}`, `--namespace=${namespace}`, `--listen=127.0.0.1:${port}`, ...resync, ...extra];
  const env = { ...process.env, SHAREDLB_LOG_LEVEL: process.env.SHAREDLB_LOG_LEVEL ?? 'info', ...(run.deployment ? { NODE_OPTIONS: deploymentNodeOptions() } : {}), ...run.env };
  // In the cgroup before node starts: V8 sizes its heap once, at start.
  const cgroup = run.deployment ? memoryCgroup(deploymentMemoryLimit()) : null;
  const child = cgroup === null
    ? spawn(process.execPath, args, { stdio: ['ignore', out, out], env })
    : spawn('sh', ['-c', 'echo $$ > "$0" && exec "$@"', cgroup.procs, process.execPath, ...args], { stdio: ['ignore', out, out], env });
  // A test or benchmark that dies must not leave its controller reconciling the next run's objects.
  const orphan = (): void => void child.kill('SIGKILL');
  process.once('exit', orphan);
  const exited = new Promise<void>((resolve) => child.once('exit', () => {
    process.off('exit', orphan);
    cgroup?.remove();
    resolve();
  }));
  const ctl: RunningController = {
    process: child,
    log,
    port,
    logText: () => readFileSync(log, 'utf8'),
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
    async kill() {
      child.kill('SIGKILL');
      await exited;
    },
    async metric(name) {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      // The sum over the label sets that have every label named (none named: all of them).
      const [metric, labels = ''] = name.replace(/}$/, '').split('{') as [string, string?];
      const wanted = labels.split(',').filter(Boolean);
      const lines = text.split('\n').filter((l) => {
        if (!l.startsWith(`${metric} `) && !l.startsWith(`${metric}{`)) return false;
        const have = (l.match(/^[^{ ]*\{([^}]*)\}/)?.[1] ?? '').split(',');
        return wanted.every((w) => have.includes(w));
      });
      return lines.length === 0 ? NaN : lines.reduce((a, l) => a + Number(l.split(' ').pop()), 0);
    },
    async requests() {
      const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const out = new Map<string, number>();
      for (const m of text.matchAll(/^rest_client_requests_total\{method="(\w+)",resource="([^"]*)",code="\d+"\} (\d+)$/gm)) {
        const k = `${m[1]} ${m[2]}`;
        out.set(k, (out.get(k) ?? 0) + Number(m[3]));
      }
      return out;
    },
    async writes() {
      let n = 0;
      for (const [k, v] of await ctl.requests()) if (!k.startsWith('GET ')) n += v;
      return n;
    },
  };
  await eventually('the controller to be ready', async () => {
    if (child.exitCode !== null) throw new Error(`controller exited:\n${ctl.logText().slice(-2000)}`);
    return (await fetch(`http://127.0.0.1:${port}/readyz`).catch(() => null))?.ok;
  }, 30_000);
  return ctl;
}
