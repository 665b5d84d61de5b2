// Packing quality against the lower bound, per workload family.
//
// For each family (bench/packing-workload.ts) and seed:
//   batch  — `sharedlb plan` on the whole estate at once (a pool's first reconcile);
//   groups — the same members arriving in creation order in groups of 1, 2,
//            5, 10, 25, 100, 400 or random sizes, a placement per group
//            through the allocator the controller runs, each starting from
//            the LBs the one before left (the controller coalesces a
//            burst's arrivals into such groups); from an empty pool and
//            from a half-full one.
// Goals: batch ≤ lower bound + 1; every grouping ≤ 1.1 × lower bound.
//
//   node bench/packing.bench.ts [--seeds 3] [--replay-members 1000] [--only NAME-PART]

import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { parseMember } from '../allocator/members.ts';
import { allocate, type AllocationResult } from '../allocator/placement/allocate.ts';
import { plan } from '../allocator/plan.ts';
import { implicitPool, poolSet } from '../allocator/pools.ts';
import type { MemberRequest, ProviderName } from '../allocator/types.ts';
import { record } from './lib.ts';
import { rng } from '../examples/workload.ts';
import { BASE, FAMILIES, generateFamily } from './packing-workload.ts';

const round3 = (n: number): number => Number(n.toFixed(3));

function used(r: AllocationResult): number {
  return r.loadBalancers.filter((lb) => lb.assignments.length > 0).length;
}

/** How members reach the allocator: `k` arrivals a placement, or groups of random size (1 to 400, seeded). */
type Grouping = number | 'random';
const GROUPINGS: Grouping[] = [1, 2, 5, 10, 25, 100, 400, 'random'];

/**
 * The members as the live controller places them: in creation order, a group
 * per placement, each placement starting from the LBs the one before left
 * (the controller coalesces a burst's arrivals into groups). `half`: the
 * first half are placed at once first (a pool already half full).
 */
function replay(requests: MemberRequest[], provider: ProviderName, maxPorts: number, grouping: Grouping, start: 'empty' | 'half', seed: number): { lbs: number; pending: number } {
  const pools = [implicitPool(provider, maxPorts)];
  const sorted = [...requests].sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : a.key < b.key ? -1 : 1));
  const rand = rng(seed * 7919);
  let lbs: AllocationResult['loadBalancers'] = [];
  let last: AllocationResult | null = null;
  let i = start === 'half' ? Math.floor(sorted.length / 2) : 0;
  if (i > 0) {
    last = allocate({ pools, loadBalancers: lbs, requests: sorted.slice(0, i) });
    lbs = last.loadBalancers;
  }
  while (i < sorted.length) {
    i = Math.min(sorted.length, i + (grouping === 'random' ? 1 + Math.floor(rand() * 400) : grouping));
    last = allocate({ pools, loadBalancers: lbs, requests: sorted.slice(0, i) });
    lbs = last.loadBalancers;
  }
  return { lbs: last === null ? 0 : used(last), pending: last === null ? 0 : [...last.outcomes.values()].filter((o) => o.state !== 'Allocated').length };
}

function main(): void {
  const { values } = parseArgs({
    options: { seeds: { type: 'string', default: '3' }, 'replay-members': { type: 'string', default: '1000' }, provider: { type: 'string', default: 'aws-nlb' }, only: { type: 'string' } },
  });
  const seeds = Number(values.seeds);
  const replayMembers = Number(values['replay-members']);
  const provider = values.provider as ProviderName;
  const rows = [];
  for (const f of FAMILIES.filter((x) => values.only === undefined || x.name.includes(values.only))) {
    const runs: Array<{ seed: number; members: number; batchLBs: number; bound: number; batchPending: number; batchMs: number; replayMembers: number; replayBound: number; groups: Array<{ grouping: Grouping; start: 'empty' | 'half'; lbs: number; pending: number }>; replayMs: number }> = [];
    for (let seed = 1; seed <= seeds; seed++) {
      const services = generateFamily(f, seed);
      const pools = poolSet([{ ok: true, pool: implicitPool(f.provider ?? provider, f.portsPerLB) }]);
      const t0 = performance.now();
      const p = plan({ services, pools });
      const batchMs = performance.now() - t0;
      // Replay a smaller estate of the same shape: a placement per group costs O(n) each.
      const small = generateFamily({ ...f, members: replayMembers }, seed);
      const requests = small.flatMap((s) => {
        const m = parseMember(s, pools);
        return m.kind === 'member' ? [m.request] : [];
      });
      const smallBound = allocate({ pools: [...pools.pools.values()], loadBalancers: [], requests }).lowerBound.get('default') ?? 0;
      const t1 = performance.now();
      const groups = GROUPINGS.flatMap((grouping) => (['empty', 'half'] as const).map((start) => ({ grouping, start, ...replay(requests, f.provider ?? provider, f.portsPerLB, grouping, start, seed) })));
      runs.push({
        seed, members: p.summary.members, batchLBs: p.summary.loadBalancers, bound: p.summary.lowerBound, batchPending: p.summary.pending,
        batchMs: Math.round(batchMs), replayMembers: requests.length, replayBound: smallBound, groups,
        replayMs: Math.round(performance.now() - t1),
      });
    }
    const worstBatch = Math.max(...runs.map((x) => x.batchLBs - x.bound));
    // Per grouping and start, the worst ratio to the bound over the seeds.
    const worstBy = (grouping: Grouping, start: string): number => Math.max(...runs.map((x) => (x.groups.find((g) => g.grouping === grouping && g.start === start)?.lbs ?? 0) / Math.max(1, x.replayBound)));
    const byGrouping = Object.fromEntries(GROUPINGS.map((g) => [String(g), { empty: round3(worstBy(g, 'empty')), half: round3(worstBy(g, 'half')) }]));
    const worstReplay = Math.max(...Object.values(byGrouping).flatMap((v) => [v.empty, v.half]));
    const pendingAny = runs.some((x) => x.groups.some((g) => g.pending > 0));
    const row = { family: f.name, params: f, runs, worstBatchOverBound: worstBatch, byGrouping, worstReplayRatio: worstReplay, replayLeftPending: pendingAny };
    rows.push(row);
    process.stderr.write(`${JSON.stringify({ family: f.name, batch: runs.map((x) => `${x.batchLBs}/${x.bound}`), byGrouping })}\n`);
  }
  const result = { benchmark: 'packing', date: new Date().toISOString(), node: process.version, cpus: cpus().length, provider, seeds, replayMembers, rows };
  record('packing', result, {
    title: 'sharedlb packing benchmark',
    about: [
      `${result.date}, Node ${result.node}; provider profile ${provider} with each family's ports per LB; ${seeds} seeds per family.`,
      `Batch: \`sharedlb plan\` on ${BASE.members} members at once. Groups: ${replayMembers} members of the same shape arriving in creation order, a group per placement through the controller's allocator, each placement starting from the LBs the one before left — as the live controller, which coalesces a burst's arrivals, places them — from an empty pool, and from one whose first half was placed at once. Bound: the lower bound per LB class (total ports / capacity, the busiest fixed port, large members).`,
      'Columns give every seed as achieved/bound.',
    ],
    columns: ['family', 'profile', 'preserve', 'per fixed port', 'ports/LB', 'batch LBs/bound', 'worst batch − bound', ...GROUPINGS.map((g) => `groups of ${g}: LBs/bound, empty · half`), 'worst'],
    rows: rows.map((r) => [
      r.family, r.params.provider ?? provider, r.params.preserve, r.params.perPort, r.params.portsPerLB,
      r.runs.map((x) => `${x.batchLBs}/${x.bound}`).join(', '), r.worstBatchOverBound,
      ...GROUPINGS.map((g) => `${r.byGrouping[String(g)]?.empty} · ${r.byGrouping[String(g)]?.half}`),
      `${r.worstReplayRatio}${r.replayLeftPending ? ' (some pending)' : ''}`,
    ]),
    after: ['Goals: batch ≤ bound + 1 in every run; every grouping, from an empty or a half-full pool, ≤ 1.1 × bound in every run. Group cells give the worst seed\'s LBs / bound.'],
  });
}

main();
