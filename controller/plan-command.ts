// `sharedlb plan`: offline packing and cost of Service manifests.

import { plan, type Plan } from '../allocator/plan.ts';
import { implicitPool, parsePool, poolSet, POOL_KIND, type PoolSet } from '../allocator/pools.ts';
import { isProviderName, PROVIDER_NAMES } from '../allocator/profiles.ts';
import type { ServiceLike } from '../allocator/types.ts';
import { commandArgs, type Io } from './command-args.ts';
import { InputError, readObjects, readText } from './manifest-files.ts';
import { money, table } from './text-table.ts';

export const PLAN_USAGE = `usage: sharedlb plan -f FILE [-f FILE…] [--pools FILE] [--provider NAME] [--max-ports N] [-o table|json]

  -f, --filename FILE  Services as YAML or JSON: a v1 List (kubectl get svc -A -o yaml)
                       or multi-document manifests; "-" reads stdin. Repeatable.
  --pools FILE         LoadBalancerPool manifests (sharedlb.io/v1alpha1) to plan with.
  --provider NAME      without --pools: one default pool of this provider's profile
                       (${PROVIDER_NAMES.join(', ')}; default aws-nlb).
  --max-ports N        override every pool's maxPortsPerLB.
  -o, --output FORMAT  table (default) or json.`;


export function planCommand(argv: string[], io: Io): number {
  const args = commandArgs('plan', PLAN_USAGE, argv, {
    filename: { type: 'string', short: 'f', multiple: true },
    pools: { type: 'string' },
    provider: { type: 'string' },
    'max-ports': { type: 'string' },
    output: { type: 'string', short: 'o', default: 'table' },
    help: { type: 'boolean', short: 'h' },
  }, io);
  if (typeof args === 'number') return args;
  const usage = (msg: string): number => {
    io.stderr(`sharedlb plan: ${msg}\n${PLAN_USAGE}\n`);
    return 2;
  };
  if (!args.filename || args.filename.length === 0) return usage('at least one -f FILE is required');
  if (args.output !== 'table' && args.output !== 'json') return usage(`-o must be table or json, not ${args.output}`);
  if (args.provider !== undefined && args.pools !== undefined) return usage('--provider sets up a default pool; with --pools, set provider in the pool manifests');
  const provider = args.provider ?? 'aws-nlb';
  if (!isProviderName(provider)) return usage(`unknown provider ${provider} (one of ${PROVIDER_NAMES.join(', ')})`);
  let maxPorts: number | undefined;
  if (args['max-ports'] !== undefined) {
    maxPorts = Number(args['max-ports']);
    if (!Number.isInteger(maxPorts) || maxPorts < 1 || maxPorts > 65535) return usage('--max-ports must be an integer from 1 to 65535');
  }

  try {
    let stdinUsed = false;
    const stdin = (): string => {
      if (stdinUsed) throw new InputError('"-" may be given only once');
      stdinUsed = true;
      return io.stdin();
    };
    const services: ServiceLike[] = [];
    for (const file of args.filename) {
      const { objects, skipped } = readObjects(file, readText(file, stdin), ['Service']);
      services.push(...(objects as ServiceLike[]));
      if (skipped.size > 0) {
        io.stderr(`${file}: skipped ${[...skipped].map(([k, n]) => `${n} ${k}`).join(', ')} (only Services are planned)\n`);
      }
    }
    const pools = args.pools === undefined ? builtInPools(provider, maxPorts) : poolsFromFile(args.pools, stdin, maxPorts);
    const result = plan({ services, pools });
    io.stdout(args.output === 'json' ? `${JSON.stringify(toJson(result), null, 2)}\n` : renderPlan(result));
    return 0;
  } catch (e) {
    if (e instanceof InputError) {
      io.stderr(`sharedlb plan: ${e.message}\n`);
      return 1;
    }
    throw e;
  }
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

export function renderPlan(p: Plan): string {
  const out: string[] = [];
  out.push(
    table(
      ['LOAD BALANCER', 'POOL', 'MEMBERS', 'PORTS', 'MONTHLY'],
      p.loadBalancers.map((lb) => [lb.name, lb.pool, String(lb.members), `${lb.portsUsed}/${lb.capacity}`, money(lb.monthlyCost, lb.currency)]),
      [false, false, true, true, true],
    ),
  );
  const s = p.summary;
  out.push('');
  out.push(`Members:        ${s.members} (${s.allocated} allocated, ${s.pending} pending, ${s.rejected} rejected)`);
  out.push(`Load balancers: ${s.loadBalancers} (lower bound ${s.lowerBound})`);
  for (const t of p.cost.totals) {
    out.push(`Monthly cost:   ${money(t.monthlyCost, t.currency)} shared vs ${money(t.dedicatedMonthlyCost, t.currency)} on dedicated LBs`);
    const pct = t.dedicatedMonthlyCost > 0 ? ` (${Math.round((t.monthlySavings / t.dedicatedMonthlyCost) * 100)}%)` : '';
    out.push(`Saving:         ${money(t.monthlySavings, t.currency)} per month${pct}`);
  }
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
