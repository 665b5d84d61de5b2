// Packing quality against the lower bound, per workload family.
//
// For each family (bench/packing-workload.ts) and seed:
//   batch  — `sharedlb plan` on the whole estate at once (a pool's first reconcile);
//   replay — the same members arriving one by one in creation order, each
//            through the allocator the controller runs, with the LBs the
//            previous arrival left (what a live cluster does).
// Goals (issue 12): batch ≤ lower bound + 1; replay ≤ 1.1 × lower bound.
//
//   node bench/packing.bench.ts [--seeds 3] [--replay-members 1500] [--only NAME-PART]

import { cpus } from 'node:os';
import { parseArgs } from 'node:util';
import { parseMember } from '../allocator/members.ts';
import { allocate, type AllocationResult } from '../allocator/placement/allocate.ts';
import { plan } from '../allocator/plan.ts';
import { implicitPool, poolSet } from '../allocator/pools.ts';
import type { MemberRequest, ProviderName } from '../allocator/types.ts';
import { record } from './lib.ts';
import { generateFamily, type Family } from './packing-workload.ts';

const BASE: Omit<Family, 'name'> = { members: 3000, preserve: 0.45, perPort: 50, portsPerLB: 50, multiPort: 0.1, tcpUdp: 0.03 };

const FAMILIES: Family[] = [
  { name: 'base (issue shape)', ...BASE },
  { name: 'preserve 0%', ...BASE, preserve: 0 },
  { name: 'preserve 20%', ...BASE, preserve: 0.2 },
  { name: 'preserve 80%', ...BASE, preserve: 0.8 },
  { name: '1 per fixed port', ...BASE, perPort: 1 },
  { name: '10 per fixed port', ...BASE, perPort: 10 },
  { name: '100 per fixed port', ...BASE, perPort: 100 },
  { name: '5 ports per LB', ...BASE, portsPerLB: 5 },
  { name: '250 ports per LB', ...BASE, portsPerLB: 250 },
  { name: 'multi-port 30%', ...BASE, multiPort: 0.3 },
  { name: 'TCP+UDP pairs 20%', ...BASE, tcpUdp: 0.2 },
  { name: '80% preserve, 100/port, 250/LB', ...BASE, preserve: 0.8, perPort: 100, portsPerLB: 250 },
  // Other profiles' rules: GCP LBs carry one protocol each; Hetzner's carry TCP only, 5 ports; MetalLB's 250 ports, all protocols.
  { name: 'gcp (one protocol per LB, 100/LB)', ...BASE, portsPerLB: 100, provider: 'gcp' },
  { name: 'hetzner (TCP only, 5/LB)', ...BASE, portsPerLB: 5, provider: 'hetzner' },
  { name: 'metallb (250/LB)', ...BASE, portsPerLB: 250, provider: 'metallb' },
];

function used(r: AllocationResult): number {
  return r.loadBalancers.filter((lb) => lb.assignments.length > 0).length;
}

function replay(requests: MemberRequest[], provider: ProviderName, maxPorts: number): { lbs: number; pending: number } {
  const pools = [implicitPool(provider, maxPorts)];
  const sorted = [...requests].sort((a, b) => (a.created < b.created ? -1 : a.created > b.created ? 1 : a.key < b.key ? -1 : 1));
  let lbs: AllocationResult['loadBalancers'] = [];
  let last: AllocationResult | null = null;
  for (let i = 1; i <= sorted.length; i++) {
    last = allocate({ pools, loadBalancers: lbs, requests: sorted.slice(0, i) });
    lbs = last.loadBalancers;
  }
  return { lbs: last === null ? 0 : used(last), pending: last === null ? 0 : [...last.outcomes.values()].filter((o) => o.state !== 'Allocated').length };
}

function main(): void {
  const { values } = parseArgs({
    options: { seeds: { type: 'string', default: '3' }, 'replay-members': { type: 'string', default: '1500' }, provider: { type: 'string', default: 'aws-nlb' }, only: { type: 'string' } },
  });
  const seeds = Number(values.seeds);
  const replayMembers = Number(values['replay-members']);
  const provider = values.provider as ProviderName;
  const rows = [];
  for (const f of FAMILIES.filter((x) => values.only === undefined || x.name.includes(values.only))) {
    const runs = [];
    for (let seed = 1; seed <= seeds; seed++) {
      const services = generateFamily(f, seed);
      const pools = poolSet([{ ok: true, pool: implicitPool(f.provider ?? provider, f.portsPerLB) }]);
      const t0 = performance.now();
      const p = plan({ services, pools });
      const batchMs = performance.now() - t0;
      // Replay a smaller estate of the same shape: one allocation per arrival costs O(n) each.
      const small = generateFamily({ ...f, members: replayMembers }, seed);
      const requests = small.flatMap((s) => {
        const m = parseMember(s, pools);
        return m.kind === 'member' ? [m.request] : [];
      });
      const smallBound = allocate({ pools: [...pools.pools.values()], loadBalancers: [], requests }).lowerBound.get('default') ?? 0;
      const t1 = performance.now();
      const r = replay(requests, f.provider ?? provider, f.portsPerLB);
      runs.push({
        seed, members: p.summary.members, batchLBs: p.summary.loadBalancers, bound: p.summary.lowerBound, batchPending: p.summary.pending,
        batchMs: Math.round(batchMs), replayMembers: requests.length, replayLBs: r.lbs, replayBound: smallBound, replayPending: r.pending,
        replayMs: Math.round(performance.now() - t1),
      });
    }
    const worstBatch = Math.max(...runs.map((x) => x.batchLBs - x.bound));
    const worstReplay = Math.max(...runs.map((x) => x.replayLBs / Math.max(1, x.replayBound)));
    const row = { family: f.name, params: f, runs, worstBatchOverBound: worstBatch, worstReplayRatio: Number(worstReplay.toFixed(3)) };
    rows.push(row);
    process.stderr.write(`${JSON.stringify({ family: f.name, runs: runs.map((x) => `${x.batchLBs}/${x.bound} replay ${x.replayLBs}/${x.replayBound}`) })}\n`);
  }
  const result = { benchmark: 'packing', date: new Date().toISOString(), node: process.version, cpus: cpus().length, provider, seeds, replayMembers, rows };
  record('packing', result, {
    title: 'sharedlb packing benchmark',
    about: [
      `${result.date}, Node ${result.node}; provider profile ${provider} with each family's ports per LB; ${seeds} seeds per family.`,
      `Batch: \`sharedlb plan\` on ${BASE.members} members at once. Replay: ${replayMembers} members of the same shape arriving one by one in creation order, each through the controller's allocator with the LBs the previous arrival left. Bound: the lower bound per LB class (total ports / capacity, the busiest fixed port, large members).`,
      'Columns give every seed as achieved/bound.',
    ],
    columns: ['family', 'profile', 'preserve', 'per fixed port', 'ports/LB', 'batch LBs/bound', 'worst batch − bound', 'replay LBs/bound', 'worst replay ratio'],
    rows: rows.map((r) => [
      r.family, r.params.provider ?? provider, r.params.preserve, r.params.perPort, r.params.portsPerLB,
      r.runs.map((x) => `${x.batchLBs}/${x.bound}`).join(', '), r.worstBatchOverBound,
      r.runs.map((x) => `${x.replayLBs}/${x.replayBound}`).join(', '), r.worstReplayRatio,
    ]),
    after: ['Goals: batch ≤ bound + 1 in every run; replay ≤ 1.1 × bound in every run.'],
  });
}

main();
