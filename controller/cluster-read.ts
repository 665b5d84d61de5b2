// Reading a cluster for the CLI's report and plan: the pools, the shared LBs
// and the Services, once — and first, whether sharedlb is there at all, so
// that a cluster without it gets that said rather than a 404.

import type { V1Service } from '@kubernetes/client-node';
import { LB_POOL_LABEL, LB_PROVIDER, MANAGED_BY, MANAGED_BY_LABEL } from '../allocator/annotations.ts';
import { isProviderName } from '../allocator/profiles.ts';
import type { ProviderName } from '../allocator/types.ts';
import { readLoadBalancer } from '../allocator/lb-record.ts';
import { parsePool, poolSet, POOL_KIND, type PoolSet } from '../allocator/pools.ts';
import { liveReport, type LiveLoadBalancer, type LiveReport } from '../allocator/report.ts';
import { ApiError, type Rest } from './kube-rest.ts';

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
  let next = '';
  do {
    const q = [`limit=500`, ...(labelSelector ? [`labelSelector=${encodeURIComponent(labelSelector)}`] : []), ...(next ? [`continue=${encodeURIComponent(next)}`] : [])].join('&');
    const page = await rest.get<{ items: V1Service[]; metadata: { continue?: string } }>(`/api/v1/services?${q}`);
    out.push(...page.items);
    next = page.metadata.continue ?? '';
  } while (next !== '');
  return out;
}

/** The live report, read straight from the API server (pools, and every shared LB Service). */
export async function fetchLiveReport(rest: Rest): Promise<LiveReport> {
  await ensureServed(rest);
  const pools = await readPools(rest);
  const lbs = await readServices(rest, `${MANAGED_BY_LABEL}=${MANAGED_BY},${LB_POOL_LABEL}`);
  return liveReport([...pools.pools.values()], lbs.map(liveLoadBalancer));
}
