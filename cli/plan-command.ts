// `sharedlb plan`: offline packing and cost of Service manifests.

import { classText } from '../allocator/classes.ts';
import { plan, type Plan } from '../allocator/plan.ts';
import { implicitPool, parsePool, poolSet, POOL_KIND, type PoolSet } from '../allocator/pools.ts';
import { isProviderName, PROVIDER_NAMES } from '../allocator/profiles.ts';
import { REPACK } from '../allocator/annotations.ts';
import type { ServiceLike } from '../allocator/types.ts';
import { commandArgs, type Io } from './command-args.ts';
import { GATEWAY_KINDS, gatewaysAsMembers } from '../gateway/plan-input.ts';
import { InputError, readObjects, readText } from './manifest-files.ts';
import { money, table } from '../controller/text-table.ts';

export const PLAN_USAGE = `usage: sharedlb plan (-f FILE [-f FILE…] | --from-cluster [--kubeconfig PATH] [--context NAME])
                    [--pools FILE] [--provider NAME] [--max-ports N] [--repack] [-o table|json]

  -f, --filename FILE  Services as YAML or JSON: a v1 List (kubectl get svc -A -o yaml)
                       or multi-document manifests; "-" reads stdin. Repeatable. Gateways
                       (and GatewayClasses) in them are planned as the controller places them.
  --from-cluster       read every Service of the cluster the kubeconfig points at, and its
                       LoadBalancerPools if sharedlb is installed there (nothing is written).
  --kubeconfig PATH    with --from-cluster: kubeconfig to use (default: $KUBECONFIG, then ~/.kube/config)
  --context NAME       with --from-cluster: kubeconfig context to use (default: its current-context)
  --pools FILE         LoadBalancerPool manifests (sharedlb.io/v1alpha1) to plan with.
  --provider NAME      without --pools: one default pool of this provider's profile
                       (${PROVIDER_NAMES.join(', ')}; default aws-nlb).
  --max-ports N        override every pool's maxPortsPerLB.
  --repack             with the shared LBs in the input (kubectl get svc -A of a cluster running
                       sharedlb, and --pools from kubectl get loadbalancerpools -o yaml): how many
                       LBs re-placing movable members (port-policy any, or sharedlb.io/movable:
                       "true") would save, and exactly which of them would move. Nothing is
                       changed: an admin applies it per pool with the annotation ${REPACK}.
  -o, --output FORMAT  table (default) or json.`;

/** What to plan: Services, and pools if they come from the same place. */
export interface PlanInput {
  services: ServiceLike[];
  pools: PoolSet | null;
}


export async function planCommand(argv: string[], io: Io): Promise<number> {
  const args = commandArgs('plan', PLAN_USAGE, argv, {
    filename: { type: 'string', short: 'f', multiple: true },
    'from-cluster': { type: 'boolean', default: false },
    kubeconfig: { type: 'string' },
    context: { type: 'string' },
    pools: { type: 'string' },
    provider: { type: 'string' },
    'max-ports': { type: 'string' },
    repack: { type: 'boolean', default: false },
    output: { type: 'string', short: 'o', default: 'table' },
    help: { type: 'boolean', short: 'h' },
  }, io);
  if (typeof args === 'number') return args;
  const usage = (msg: string): number => {
    io.stderr(`sharedlb plan: ${msg}\n${PLAN_USAGE}\n`);
    return 2;
  };
  const fromCluster = args['from-cluster'];
  if (fromCluster && (args.filename ?? []).length > 0) return usage('-f and --from-cluster do not mix: plan files or a cluster');
  if (!fromCluster && (args.filename ?? []).length === 0) return usage('at least one -f FILE, or --from-cluster, is required');
  if (!fromCluster && (args.kubeconfig !== undefined || args.context !== undefined)) return usage('--kubeconfig and --context go with --from-cluster');
  if (args.output !== 'table' && args.output !== 'json') return usage(`-o must be table or json, not ${args.output}`);
  if (args.provider !== undefined && args.pools !== undefined) return usage('--provider sets up a default pool; with --pools, set provider in the pool manifests');
  const provider = args.provider ?? 'aws-nlb';
  if (!isProviderName(provider)) return usage(`unknown provider ${provider} (one of ${PROVIDER_NAMES.join(', ')})`);
  let maxPorts: number | undefined;
  if (args['max-ports'] !== undefined) {
    maxPorts = Number(args['max-ports']);
    if (!Number.isInteger(maxPorts) || maxPorts < 1 || maxPorts > 65535) return usage('--max-ports must be an integer from 1 to 65535');
  }

  let stdinUsed = false;
  const stdin = (): string => {
    if (stdinUsed) throw new InputError('"-" may be given only once');
    stdinUsed = true;
    return io.stdin();
  };
  let input: PlanInput | undefined;
  if (fromCluster) {
    // Loaded only when asked for: planning files needs no Kubernetes client (it costs most of a start-up).
    const cluster = await (await import('./plan-cluster.ts')).readCluster(args, args.pools === undefined && args.provider === undefined, io);
    if (typeof cluster === 'number') return cluster;
    input = cluster;
  }
  try {
    input ??= { services: readServiceFiles(args.filename ?? [], stdin, io), pools: null };
    const { services } = input;
    const pools = args.pools !== undefined ? poolsFromFile(args.pools, stdin, maxPorts) : input.pools !== null ? withMaxPorts(input.pools, maxPorts) : builtInPools(provider, maxPorts);
    const result = plan({ services, pools });
    if (args.repack) {
      const r = repackReport(result, plan({ services, pools, repack: true }));
      io.stdout(args.output === 'json' ? `${JSON.stringify(r, null, 2)}\n` : renderRepack(r));
      return 0;
    }
    io.stdout(args.output === 'json' ? `${JSON.stringify(toJson(result), null, 2)}\n` : renderPlan(result));
    return refusedEveryone(result, io);
  } catch (e) {
    if (e instanceof InputError) {
      io.stderr(`sharedlb plan: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
}

/** A plan that serves nobody of those who asked is a failure a script must see: exit 1, the reasons counted. */
function refusedEveryone(result: Plan, io: Io): number {
  const { members, allocated } = result.summary;
  if (members === 0 || allocated > 0) return 0;
  const reasons = new Map<string, number>();
  for (const m of result.members) reasons.set(m.reason, (reasons.get(m.reason) ?? 0) + 1);
  const counted = [...reasons].sort((a, b) => b[1] - a[1]).map(([r, n]) => `${n} ${r}`).join(', ');
  const first = result.members[0];
  io.stderr(`sharedlb plan: no member could be placed (${counted}); e.g. ${first?.service}: ${first?.message}\n`);
  return 1;
}

/** Services, and Gateways as the member Services the controller would make of them. */
function readServiceFiles(files: string[], stdin: () => string, io: Io): ServiceLike[] {
  const services: ServiceLike[] = [];
  const gatewayObjects: Array<{ kind?: string }> = [];
  for (const file of files) {
    const { objects, skipped } = readObjects(file, readText(file, stdin), ['Service', ...GATEWAY_KINDS]);
    for (const o of objects) (o.kind === 'Service' ? services : gatewayObjects).push(o as ServiceLike);
    if (skipped.size > 0) {
      io.stderr(`${file}: skipped ${[...skipped].map(([k, n]) => `${n} ${k}`).join(', ')} (only Services and Gateways are planned)\n`);
    }
  }
  const gateways = gatewaysAsMembers(gatewayObjects);
  for (const n of gateways.notes) io.stderr(`${n}\n`);
  return [...services, ...gateways.services];
}

function withMaxPorts(pools: PoolSet, maxPorts: number | undefined): PoolSet {
  if (maxPorts === undefined) return pools;
  return poolSet([...pools.pools.values()].map((pool) => ({ ok: true as const, pool: { ...pool, maxPortsPerLB: maxPorts } })));
}

function builtInPools(provider: Parameters<typeof implicitPool>[0], maxPorts: number | undefined): PoolSet {
  const pool = implicitPool(provider, maxPorts);
  return poolSet([{ ok: true, pool }]);
}

function poolsFromFile(file: string, stdin: () => string, maxPorts: number | undefined): PoolSet {
  const { objects } = readObjects(file, readText(file, stdin), [POOL_KIND]);
  if (objects.length === 0) throw new InputError(`${file}: holds no ${POOL_KIND}`);
  const parsed = objects.map((o) => parsePool(maxPorts === undefined ? o : { ...o, spec: { ...(o.spec as object), maxPortsPerLB: maxPorts } }));
  const broken = parsed.flatMap((p) => (p.ok ? [] : [`${POOL_KIND} ${p.name || '(unnamed)'}: ${p.problems.join('; ')}`]));
  if (broken.length > 0) throw new InputError(`${file}: ${broken.join('\n  ')}`);
  return poolSet(parsed);
}

/** The documented JSON shape; per-pool and per-currency figures ride along under `cost`. */
function toJson(p: Plan): unknown {
  return {
    loadBalancers: p.loadBalancers,
    members: p.members,
    summary: p.summary,
    cost: { pools: p.cost.pools, totals: p.cost.totals, assumptions: p.cost.assumptions, sources: p.cost.sources },
  };
}

interface Holding { loadBalancer: string | null; ports: Array<{ servicePort: string; protocol: string; externalPort: number | null }> }

export interface RepackReport {
  loadBalancersNow: number;
  loadBalancersAfter: number;
  lowerBound: number;
  movable: number;
  currency: string | null;
  monthlyCostNow: number | null;
  monthlyCostAfter: number | null;
  /** Every member whose address would change, from where to where. */
  moves: Array<{ service: string; from: Holding; to: Holding }>;
  /** The pools an admin would annotate to apply it. */
  pools: string[];
}

/** The layout as it stands against the same members with the movable ones re-placed. */
export function repackReport(now: Plan, after: Plan): RepackReport {
  const before = new Map(now.members.map((m) => [m.service, m]));
  const holding = (m: Plan['members'][number]): Holding => ({ loadBalancer: m.loadBalancer, ports: m.ports.map(({ servicePort, protocol, externalPort }) => ({ servicePort, protocol, externalPort })) });
  const moves = after.members.filter((m) => m.moved !== null).map((m) => ({ service: m.service, from: holding(before.get(m.service) ?? m), to: holding(m) }));
  return {
    loadBalancersNow: now.summary.loadBalancers,
    loadBalancersAfter: after.summary.loadBalancers,
    lowerBound: after.summary.lowerBound,
    movable: after.members.filter((m) => m.movable).length,
    currency: after.summary.currency,
    monthlyCostNow: now.summary.monthlyCost,
    monthlyCostAfter: after.summary.monthlyCost,
    moves,
    pools: [...new Set(moves.map((m) => after.members.find((x) => x.service === m.service)?.pool).filter((x): x is string => typeof x === 'string'))].sort(),
  };
}

export function renderRepack(r: RepackReport): string {
  const where = (h: Holding): string => `${h.loadBalancer ?? '(none)'} ${h.ports.map((p) => `${p.externalPort ?? '?'}/${p.protocol}`).join(',')}`;
  const out = [
    `Shared LBs:      ${r.loadBalancersNow} now, ${r.loadBalancersAfter} after a repack (lower bound ${r.lowerBound})`,
    ...(r.currency !== null && r.monthlyCostNow !== null && r.monthlyCostAfter !== null
      ? [`Monthly cost:    ${money(r.monthlyCostNow, r.currency)} now, ${money(r.monthlyCostAfter, r.currency)} after`] : []),
    `Movable members: ${r.movable} (port-policy any, or sharedlb.io/movable: "true"); ${r.moves.length} would get a new address:`,
  ];
  if (r.moves.length > 0) out.push(table(['MEMBER', 'NOW', 'AFTER'], r.moves.map((m) => [m.service, where(m.from), where(m.to)]), [false, false, false]));
  if (r.moves.length > 0) {
    out.push('', 'Nothing was changed. To apply, per pool (each moved member gets an AddressChanged Warning event):');
    for (const p of r.pools) out.push(`  kubectl annotate loadbalancerpool ${p} ${REPACK}=$(date +%s) --overwrite`);
  }
  return `${out.join('\n')}\n`;
}

export function renderPlan(p: Plan): string {
  const out: string[] = [];
  const s = p.summary;
  // The summary first: what a reader came for, before a table of every LB.
  out.push(`Members:        ${s.members} (${s.allocated} allocated, ${s.pending} pending, ${s.rejected} rejected)`);
  out.push(`Load balancers: ${s.loadBalancers} (lower bound ${s.lowerBound})`);
  for (const t of p.cost.totals) {
    out.push(`Monthly cost:   ${money(t.monthlyCost, t.currency)} shared vs ${money(t.dedicatedMonthlyCost, t.currency)} on dedicated LBs`);
    const pct = t.dedicatedMonthlyCost > 0 ? ` (${Math.round((t.monthlySavings / t.dedicatedMonthlyCost) * 100)}%)` : '';
    out.push(`Saving:         ${money(t.monthlySavings, t.currency)} per month${pct}`);
  }
  out.push('');
  out.push(
    table(
      ['LOAD BALANCER', 'POOL', 'CLASS', 'MEMBERS', 'PORTS', 'MONTHLY', 'DEDICATED', 'SAVING'],
      p.loadBalancers.map((lb) => [lb.name, lb.pool, classText(lb.class), String(lb.members), `${lb.portsUsed}/${lb.capacity}`, money(lb.monthlyCost, lb.currency), money(lb.dedicatedMonthlyCost, lb.currency), money(lb.monthlySavings, lb.currency)]),
      [false, false, false, true, true, true, true, true],
    ),
  );
  const trouble = p.members.filter((m) => m.state !== 'Allocated');
  if (trouble.length > 0) {
    out.push('', 'Not allocated:');
    for (const m of trouble) out.push(`  ${m.service}: ${m.state} (${m.reason}): ${m.message}`);
  }
  out.push('', 'Assumptions:');
  for (const a of p.cost.assumptions) out.push(`  - ${a}`);
  if (p.cost.sources.length > 0) {
    out.push('', 'Price sources:');
    for (const src of p.cost.sources) out.push(`  - ${src}`);
  }
  return `${out.join('\n')}\n`;
}
