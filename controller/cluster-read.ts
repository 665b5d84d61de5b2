// Reading a cluster for the CLI's report and plan: the pools, the shared LBs
// and the Services, once — and first, whether sharedlb is there at all, so
// that a cluster without it gets that said rather than a 404.

import type { V1Namespace, V1Service } from '@kubernetes/client-node';
import { LB_POOL_LABEL, LB_PROVIDER, MANAGED_BY, MANAGED_BY_LABEL, READY_CONDITION } from '../allocator/annotations.ts';
import { showback, type Showback } from '../allocator/showback.ts';
import { isProviderName } from '../allocator/profiles.ts';
import type { ProviderName } from '../allocator/types.ts';
import { isSharedLBObject, readLoadBalancer } from '../allocator/lb-record.ts';
import { parsePool, poolSet, POOL_KIND, type PoolSet } from '../allocator/pools.ts';
import { liveReport, type LiveLoadBalancer, type LiveReport } from '../allocator/report.ts';
import { ApiError, listPages, type Rest } from './kube-rest.ts';
import { serviceKey } from '../allocator/members.ts';

const GROUP_VERSION = '/apis/sharedlb.io/v1alpha1';
/** The LoadBalancerPools' collection: read, watched and written at this path. */
export const POOLS_PATH = `${GROUP_VERSION}/loadbalancerpools`;
const CRD = 'loadbalancerpools.sharedlb.io';
export const INSTALL_HINT = 'install it with `kubectl apply -k manifests/` from the sharedlb repository (README: "Installing on a cluster")';

/** The cluster cannot answer what was asked for a reason a person can act on; the message says it in one line. */
export class ClusterProblem extends Error {}

/** A shared LB Service as the report sees it. */
export function liveLoadBalancer(svc: V1Service): LiveLoadBalancer {
  const ingress = svc.status?.loadBalancer?.ingress?.[0];
  const { classKey, assignments } = readLoadBalancer(svc).state;
  return {
    name: svc.metadata?.name ?? '',
    namespace: svc.metadata?.namespace ?? '',
    pool: svc.metadata?.labels?.[LB_POOL_LABEL] ?? '',
    address: ingress?.ip ?? ingress?.hostname ?? '',
    classKey,
    assignments,
    ...(isProviderName(svc.metadata?.annotations?.[LB_PROVIDER] ?? '') ? { provider: svc.metadata?.annotations?.[LB_PROVIDER] as ProviderName } : {}),
  };
}

/**
 * Whether the API server serves LoadBalancerPools. A CRD just created is
 * served moments later: while it exists but is not yet established, ask
 * again for up to `waitMs`, then say so.
 */
export async function ensureServed(rest: Rest, waitMs = 10_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const discovery = await rest.call('GET', GROUP_VERSION);
    if (discovery.status === 200 && (discovery.body as { resources?: Array<{ name: string }> }).resources?.some((r) => r.name === 'loadbalancerpools')) return;
    if (discovery.status !== 404 && discovery.status !== 200 && discovery.status !== 503) throw new ApiError('GET', GROUP_VERSION, discovery.status, discovery.body);
    const crd = await rest.call('GET', `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${CRD}`);
    if (crd.status === 404) throw new ClusterProblem(`sharedlb is not installed on this cluster: it has no ${POOL_KIND} CRD (${CRD}); ${INSTALL_HINT}`);
    if (Date.now() >= deadline) {
      const established = (crd.body as { status?: { conditions?: Array<{ type: string; status: string; message?: string }> } } | null)?.status?.conditions?.find((c) => c.type === 'Established');
      throw new ClusterProblem(crd.status === 200
        ? `the ${POOL_KIND} CRD exists but the API server does not serve ${GROUP_VERSION.slice(6)} yet (Established: ${established?.status ?? 'unknown'}${established?.message ? `, ${established.message}` : ''}); try again in a moment`
        : `the API server does not serve ${GROUP_VERSION.slice(6)}: sharedlb is not installed on this cluster, or its CRD is not established yet; ${INSTALL_HINT}`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

export async function readPools(rest: Rest): Promise<PoolSet> {
  return poolSet((await rest.get<{ items: unknown[] }>(POOLS_PATH)).items.map(parsePool));
}

/** Every Service of the cluster, in pages (as `kubectl get svc -A` reads them). */
export async function readServices(rest: Rest, labelSelector?: string): Promise<V1Service[]> {
  const out: V1Service[] = [];
  for await (const page of listPages<V1Service>(rest, '/api/v1/services', labelSelector ? { labelSelector } : {})) out.push(...page.items);
  return out;
}

/** How showback groups members: by namespace, or by the value of a label (the Service's, else its namespace's). */
export type ShowbackBy = { kind: 'namespace' } | { kind: 'label'; label: string };

export function parseShowbackBy(text: string): ShowbackBy | null {
  if (text === 'namespace') return { kind: 'namespace' };
  const m = /^label=([A-Za-z0-9][-A-Za-z0-9_./]*)$/.exec(text);
  return m === null ? null : { kind: 'label', label: m[1] as string };
}

/** Each member's share of its LB's bill, summed per namespace or label value (allocator/showback.ts). */
export async function fetchShowback(rest: Rest, by: ShowbackBy): Promise<Showback> {
  await ensureServed(rest);
  const pools = [...(await readPools(rest)).pools.values()];
  const all = await readServices(rest);
  const lbs = all.filter((s) => isSharedLBObject(s)).map(liveLoadBalancer);
  const nsLabels = new Map((await rest.get<{ items: V1Namespace[] }>('/api/v1/namespaces')).items.map((n) => [n.metadata?.name ?? '', n.metadata?.labels ?? {}]));
  const groupOf = (svc: V1Service): string => {
    const ns = svc.metadata?.namespace ?? '';
    if (by.kind === 'namespace') return ns;
    return svc.metadata?.labels?.[by.label] ?? nsLabels.get(ns)?.[by.label] ?? '(none)';
  };
  const recorded = new Set(lbs.flatMap((l) => l.assignments.map((a) => a.member)));
  const members = all.filter((s) => !isSharedLBObject(s)).flatMap((s) => {
    const key = serviceKey(s);
    const reason = (s.status?.conditions ?? []).find((c) => c.type === READY_CONDITION)?.reason;
    return reason === undefined && !recorded.has(key) ? [] : [{ key, group: groupOf(s), state: reason ?? 'Allocated' }];
  });
  const report = liveReport(pools, lbs);
  return showback(report, pools, lbs, members, by.kind === 'namespace' ? 'namespace' : `label=${by.label}`);
}

/** The live report, read straight from the API server (pools, and every shared LB Service). */
export async function fetchLiveReport(rest: Rest): Promise<LiveReport> {
  await ensureServed(rest);
  const pools = await readPools(rest);
  const lbs = await readServices(rest, `${MANAGED_BY_LABEL}=${MANAGED_BY},${LB_POOL_LABEL}`);
  return liveReport([...pools.pools.values()], lbs.map(liveLoadBalancer));
}
