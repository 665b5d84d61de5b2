// Test-side access to the local cluster, and the Pod helper that stands in
// for a kubelet: it creates Pods bound to the e2e Node and writes their status
// (IP, Ready) so that kube-controller-manager's endpointslice controller makes
// real EndpointSlices for the Services that select them.

import { KubeConfig } from '@kubernetes/client-node';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ApiError, restClient, type Rest } from '../controller/kube-rest.ts';
import { KUBECONFIG, KUBECTL_DIR, NODE_IP, NODE_NAME } from './cluster.ts';

/** The lab's kubectl as an admin, waited for; a failure says which command and what it printed. */
export function kubectl(args: string[], input?: string): string {
  const r = spawnSync(join(KUBECTL_DIR, 'kubectl'), args, { encoding: 'utf8', input, env: { ...process.env, KUBECONFIG } });
  if (r.status !== 0) throw new Error(`kubectl ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

export function adminKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(KUBECONFIG);
  return kc;
}

let shared: Rest | undefined;
export function admin(): Rest {
  shared ??= restClient(adminKubeConfig(), { userAgent: 'sharedlb-e2e' });
  return shared;
}

/** Poll until fn returns a value that is not undefined/false, or fail with what it last saw. */
export async function eventually<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < deadline) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v;
    } catch (e) {
      last = e;
    }
    await sleep(everyMs);
  }
  throw new Error(`timed out after ${timeoutMs}ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
}

/** Every namespace a test makes carries this label, so a later run can sweep up after an aborted one. */
export const TEST_LABEL = 'sharedlb.io/e2e';

let counter = 0;
/** A fresh namespace with its default ServiceAccount in place. */
export async function namespace(prefix: string, labels: Record<string, string> = {}): Promise<string> {
  const name = `${prefix}-${process.pid}-${++counter}`;
  await admin().post('/api/v1/namespaces', { metadata: { name, labels: { ...labels, [TEST_LABEL]: 'true' } } });
  await eventually(`ServiceAccount ${name}/default`, () => admin().get(`/api/v1/namespaces/${name}/serviceaccounts/default`));
  return name;
}

/**
 * Delete a namespace for good. Its pods must go first, forcibly: with no
 * kubelet to confirm a graceful stop they would hold the namespace in
 * Terminating for ever.
 */
export async function deleteNamespace(name: string): Promise<void> {
  const pods = await admin().get<{ items: Array<{ metadata: { name: string } }> }>(`/api/v1/namespaces/${name}/pods`).catch(() => ({ items: [] }));
  for (const p of pods.items) await deletePod(name, p.metadata.name).catch(() => undefined);
  await admin().delete(`/api/v1/namespaces/${name}`).catch(() => undefined);
}

/** Remove what earlier (perhaps aborted) test runs left: their namespaces and every LoadBalancerPool. */
export async function sweep(): Promise<void> {
  const nss = await admin().get<{ items: Array<{ metadata: { name: string } }> }>(`/api/v1/namespaces?labelSelector=${encodeURIComponent(`${TEST_LABEL}=true`)}`);
  for (const n of nss.items) await deleteNamespace(n.metadata.name);
  await admin().delete('/apis/sharedlb.io/v1alpha1/loadbalancerpools').catch(() => undefined);
  // Their Services would otherwise still count as members while the namespaces terminate.
  await eventually('earlier test namespaces to be gone', async () =>
    (await admin().get<{ items: unknown[] }>(`/api/v1/namespaces?labelSelector=${encodeURIComponent(`${TEST_LABEL}=true`)}`)).items.length === 0, 300_000);
}

export interface PodSpec {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  ip: string;
  /** A second, IPv6 address (the cluster is dual-stack). */
  ip6?: string;
  ports?: Array<{ name?: string; containerPort: number; protocol?: string }>;
  ready?: boolean;
}

/** Create a Pod on the e2e Node and report it Running (and Ready unless told otherwise). */
export async function runPod(p: PodSpec): Promise<void> {
  await admin().post(`/api/v1/namespaces/${p.namespace}/pods`, {
    metadata: { name: p.name, namespace: p.namespace, labels: p.labels },
    spec: {
      nodeName: NODE_NAME,
      automountServiceAccountToken: false,
      containers: [{ name: 'app', image: 'registry.invalid/sharedlb-e2e:none', ports: p.ports ?? [] }],
    },
  });
  await setPodStatus(p.namespace, p.name, p.ip, p.ready ?? true, p.ip6);
}

/** What a kubelet would write: phase, IPs and the Ready condition. */
export async function setPodStatus(namespace: string, name: string, ip: string, ready: boolean, ip6?: string): Promise<void> {
  const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  const cond = (type: string) => ({ type, status: ready ? 'True' : 'False', lastTransitionTime: now });
  const path = `/api/v1/namespaces/${namespace}/pods/${name}/status`;
  for (let attempt = 0; ; attempt++) {
    try {
      await admin().patch(path, {
        status: {
          phase: 'Running',
          hostIP: NODE_IP,
          hostIPs: [{ ip: NODE_IP }],
          podIP: ip,
          podIPs: [{ ip }, ...(ip6 !== undefined ? [{ ip: ip6 }] : [])],
          startTime: now,
          conditions: [cond('PodScheduled'), cond('Initialized'), cond('ContainersReady'), cond('Ready')].map((c) =>
            c.type === 'PodScheduled' || c.type === 'Initialized' ? { ...c, status: 'True' } : c,
          ),
        },
      }, 'merge');
      return;
    } catch (e) {
      if (!(e instanceof ApiError && e.status === 409) || attempt > 5) throw e;
    }
  }
}

export async function deletePod(namespace: string, name: string): Promise<void> {
  await admin().delete(`/api/v1/namespaces/${namespace}/pods/${name}`, { gracePeriodSeconds: 0 });
}
