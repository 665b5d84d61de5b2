// Services + pools → the layout the controller would converge to, priced.
// `sharedlb plan` prints this; it is also what the controller's report is
// made of, so the offline answer and the live one cannot drift apart.

import { clusterIPFamilies, effectiveClass, type EffectiveClass } from './classes.ts';
import { isSharedLBObject, readLoadBalancer } from './lb-record.ts';
import { cents, dedicatedByLB, priceLayout, type CostReport } from './cost.ts';
import { parseMember, type MemberParse } from './members.ts';
import { allocate, type AllocationResult } from './placement/allocate.ts';
import type { PoolSet } from './pools.ts';
import type { LoadBalancerState, Pool, Protocol, ServiceLike } from './types.ts';

export interface PlanMember {
  service: string;
  pool: string | null;
  state: 'Allocated' | 'Pending' | 'Rejected';
  reason: string;
  message: string;
  loadBalancer: string | null;
  ports: Array<{ servicePort: string; protocol: Protocol; port: number; externalPort: number | null }>;
  /** Where it was, when the plan moves it (the input held its shared LBs). */
  moved: null | { from: string; to: string };
  /** It accepts a new address in a repack. */
  movable: boolean;
}

export interface PlanLoadBalancer {
  name: string;
  pool: string;
  /** What defines it: members of different classes never share an LB. */
  class: EffectiveClass;
  members: number;
  portsUsed: number;
  capacity: number;
  currency: string;
  monthlyCost: number;
  /** What its members would cost on LBs of their own, and the difference. */
  dedicatedMonthlyCost: number;
  monthlySavings: number;
  ports: Array<{ port: number; protocol: Protocol; member: string; servicePort: string }>;
}

export interface Plan {
  loadBalancers: PlanLoadBalancer[];
  members: PlanMember[];
  summary: {
    members: number;
    allocated: number;
    pending: number;
    rejected: number;
    loadBalancers: number;
    lowerBound: number;
    /** Set only when every pool bills in one currency. */
    currency: string | null;
    monthlyCost: number | null;
    dedicatedMonthlyCost: number | null;
    monthlySavings: number | null;
  };
  cost: CostReport;
}

export interface PlanInput {
  /** Services; shared LB Services among them (kubectl get svc -A of a cluster running sharedlb) are read as the LBs that exist. */
  services: ServiceLike[];
  pools: PoolSet;
  /** Shared LBs that already exist, besides those among `services`. */
  loadBalancers?: LoadBalancerState[];
  /** Re-place movable members (see AllocationInput.repack). */
  repack?: boolean;
  className?: string;
  namespaceLabels?: (namespace: string) => Record<string, string> | undefined;
}

export function plan(input: PlanInput): Plan {
  const defaultFamilies = clusterIPFamilies(input.services);
  const existing = [...(input.loadBalancers ?? []), ...input.services.filter(isSharedLBObject).map((s) => readLoadBalancer(s).state)];
  const parsed: MemberParse[] = input.services.filter((s) => !isSharedLBObject(s)).map((s) =>
    parseMember(s, input.pools, {
      className: input.className,
      namespaceLabels: input.namespaceLabels?.(s.metadata?.namespace ?? 'default'),
      defaultIPFamilies: defaultFamilies,
    }),
  );
  const requests = parsed.flatMap((p) => (p.kind === 'member' ? [p.request] : []));
  const pools = [...input.pools.pools.values()];
  const result: AllocationResult = allocate({ pools, loadBalancers: existing, requests, repack: input.repack ?? false });

  const members: PlanMember[] = [];
  for (const p of parsed) {
    if (p.kind === 'ignored') continue;
    if (p.kind === 'rejected') {
      members.push({ service: p.key, pool: p.pool, state: 'Rejected', reason: p.reason, message: p.message, loadBalancer: null, ports: [], moved: null, movable: false });
      continue;
    }
    const r = p.request;
    const o = result.outcomes.get(r.key);
    const external = new Map((o?.ports ?? []).map((x) => [x.servicePort, x.externalPort]));
    members.push({
      service: r.key,
      pool: r.pool,
      state: o?.state ?? 'Pending',
      reason: o?.reason ?? 'NoCapacity',
      message: o?.message ?? '',
      loadBalancer: o?.loadBalancer ?? null,
      ports: r.ports.map((x) => ({ servicePort: x.name, protocol: x.protocol, port: x.port, externalPort: external.get(x.name) ?? null })),
      moved: o?.moved ?? null,
      movable: r.movable === true,
    });
  }
  members.sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));

  const used = result.loadBalancers.filter((lb) => lb.assignments.length > 0);
  const allocated = members.filter((m) => m.state === 'Allocated');
  const cost = priceLayout(
    pools,
    used,
    allocated.map((m) => ({ key: m.service, pool: m.pool as string, ports: m.ports })),
  );
  const costByLB = new Map(cost.loadBalancers.map((c) => [c.name, c]));
  const dedicated = dedicatedByLB(pools, allocated.map((m) => ({ pool: m.pool as string, lb: m.loadBalancer as string, ports: m.ports })));
  const loadBalancers: PlanLoadBalancer[] = used.map((lb) => {
    const c = costByLB.get(lb.name);
    const alone = cents(dedicated.get(lb.name) ?? 0);
    return {
      name: lb.name,
      pool: lb.pool,
      class: effectiveClass(input.pools.pools.get(lb.pool) as Pool, lb.classKey, defaultFamilies),
      members: c?.members ?? 0,
      portsUsed: lb.assignments.length,
      capacity: c?.capacity ?? 0,
      currency: c?.currency ?? '',
      monthlyCost: c?.monthlyCost ?? 0,
      dedicatedMonthlyCost: alone,
      monthlySavings: cents(alone - (c?.monthlyCost ?? 0)),
      ports: lb.assignments, // an Assignment is exactly { port, protocol, member, servicePort }
    };
  });
  const single = cost.totals.length === 1 ? cost.totals[0] : undefined;
  return {
    loadBalancers,
    members,
    summary: {
      members: members.length,
      allocated: allocated.length,
      pending: members.filter((m) => m.state === 'Pending').length,
      rejected: members.filter((m) => m.state === 'Rejected').length,
      loadBalancers: used.length,
      lowerBound: [...result.lowerBound.values()].reduce((a, b) => a + b, 0),
      currency: single?.currency ?? null,
      monthlyCost: single?.monthlyCost ?? (cost.totals.length === 0 ? 0 : null),
      dedicatedMonthlyCost: single?.dedicatedMonthlyCost ?? (cost.totals.length === 0 ? 0 : null),
      monthlySavings: single?.monthlySavings ?? (cost.totals.length === 0 ? 0 : null),
    },
    cost,
  };
}
