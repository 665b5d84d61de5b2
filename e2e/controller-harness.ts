// Running the real controller as a process against the local cluster, and
// installing what an admin would: the CRD and pools.

import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
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

/** NODE_OPTIONS as manifests/deployment.yaml runs the controller: benchmarks measure that process. */
export function deploymentNodeOptions(): string {
  const d = parse(readFileSync(join(REPO, 'manifests', 'deployment.yaml'), 'utf8').split(/^---$/m)[0] as string) as {
    spec: { template: { spec: { containers: Array<{ env?: Array<{ name: string; value?: string }> }> } } };
  };
  const v = d.spec.template.spec.containers[0]?.env?.find((e) => e.name === 'NODE_OPTIONS')?.value;
  if (v === undefined) throw new Error('manifests/deployment.yaml sets no NODE_OPTIONS');
  return v;
}

/** The bundle the image runs (`npm run build`), for tests and benchmarks that must measure what ships. */
export const BUNDLE = join(REPO, 'dist', 'sharedlb.mjs');

export interface ControllerRun {
  env?: Record<string, string>;
  /** Run dist/sharedlb.mjs instead of the sources. */
  bundle?: boolean;
  /** Flags for node itself (those NODE_OPTIONS refuses, e.g. --trace-gc). */
  nodeArgs?: string[];
}

export async function startController(namespace: string, extra: string[] = [], run: ControllerRun = {}): Promise<RunningController> {
  if (run.bundle && !existsSync(BUNDLE)) throw new Error(`${BUNDLE} is missing: run \`npm run build\` first`);
  mkdirSync(join(ROOT, 'logs'), { recursive: true });
  const log = join(ROOT, 'logs', `controller-${process.pid}-${++runs}.log`);
  const out = openSync(log, 'a');
  const port = await freePort();
  const child = spawn(process.execPath, [...(run.nodeArgs ?? []), run.bundle ? BUNDLE : join(REPO, 'controller', 'cli.ts'), 'controller', `--kubeconfig=${KUBECONFIG}`, `--namespace=${namespace}`, `--listen=127.0.0.1:${port}`, '--resync=30', ...extra], {
    stdio: ['ignore', out, out],
    env: { ...process.env, SHAREDLB_LOG_LEVEL: process.env.SHAREDLB_LOG_LEVEL ?? 'info', ...run.env },
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
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
      const line = text.split('\n').find((l) => l.startsWith(`${name} `) || (!name.includes('{') && l.startsWith(`${name}{`)));
      return Number(line?.split(' ').pop() ?? NaN);
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
