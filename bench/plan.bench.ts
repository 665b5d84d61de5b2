// Planning throughput and packing quality at scale.
//
// For generated estates of the packing benchmark's base shape (45% preserve
// over a skewed set of fixed ports, multi-port and TCP+UDP members, bad
// inputs; fixed-port demand growing with the estate), as `kubectl get svc -A
// -o json` would print them, it measures, each in a fresh process, repeated:
//   floor — JSON.parse of the input and a walk over every Service's
//           annotations and ports: what any tool reading it must pay;
//   plan  — the same parse, then parse members, allocate, and price.
// It records plan/floor in time and peak RSS (median and worst run), LBs
// against the lower bound, and how time grows with size (the exponent k in
// time ∝ n^k between the smallest and largest size).
//
//   node bench/plan.bench.ts [--runs 5] [--sizes 10000,30000,100000]

import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { plan } from '../allocator/plan.ts';
import { implicitPool, poolSet } from '../allocator/pools.ts';
import type { ServiceLike } from '../allocator/types.ts';
import { record } from './lib.ts';
import { generateFamily } from './packing-workload.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const WORK = join(HERE, '.work');

interface Sample { ms: number; maxRssMB: number; loadBalancers?: number; lowerBound?: number; allocated?: number; members?: number }

function child(mode: 'floor' | 'plan', file: string): Sample {
  const text = readFileSync(file, 'utf8');
  const t0 = performance.now();
  const list = JSON.parse(text) as { items: ServiceLike[] };
  if (mode === 'floor') {
    let touched = 0;
    for (const s of list.items) {
      for (const [k, v] of Object.entries(s.metadata?.annotations ?? {})) touched += k.length + v.length;
      for (const p of s.spec?.ports ?? []) touched += (p.port ?? 0) + (p.name?.length ?? 0) + (p.protocol?.length ?? 0);
      touched += (s.spec?.type?.length ?? 0) + (s.metadata?.name?.length ?? 0);
    }
    const ms = performance.now() - t0;
    if (touched === 0) throw new Error('walked nothing');
    return { ms, maxRssMB: process.resourceUsage().maxRSS / 1024 };
  }
  const pools = poolSet([{ ok: true, pool: implicitPool('aws-nlb') }]);
  const p = plan({ services: list.items, pools });
  const ms = performance.now() - t0;
  return {
    ms,
    maxRssMB: process.resourceUsage().maxRSS / 1024,
    loadBalancers: p.summary.loadBalancers,
    lowerBound: p.summary.lowerBound,
    allocated: p.summary.allocated,
    members: p.summary.members,
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

function main(): void {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '5' },
      sizes: { type: 'string', default: '10000,30000,100000' },
      child: { type: 'string' },
      file: { type: 'string' },
    },
  });
  if (values.child !== undefined) {
    process.stdout.write(JSON.stringify(child(values.child as 'floor' | 'plan', values.file as string)));
    return;
  }
  mkdirSync(WORK, { recursive: true });
  const runs = Number(values.runs);
  const rows = [];
  for (const n of values.sizes.split(',').map(Number)) {
    const file = join(WORK, `services-${n}.json`);
    // The base family at this size: fixed-port demand grows with the estate, as it does in a real one.
    const items = generateFamily({ name: 'base', members: n, preserve: 0.45, perPort: (50 * n) / 3000, portsPerLB: 50, multiPort: 0.1, tcpUdp: 0.03 }, 42);
    writeFileSync(file, JSON.stringify({ apiVersion: 'v1', kind: 'List', items }));
    const samples: Record<'floor' | 'plan', Sample[]> = { floor: [], plan: [] };
    for (let i = 0; i < runs; i++) {
      for (const mode of ['floor', 'plan'] as const) {
        const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), '--child', mode, '--file', file], { encoding: 'utf8', maxBuffer: 1 << 20 });
        samples[mode].push(JSON.parse(out) as Sample);
      }
    }
    const last = samples.plan[samples.plan.length - 1] as Sample;
    const floorMs = median(samples.floor.map((s) => s.ms));
    const planMs = median(samples.plan.map((s) => s.ms));
    // Worst run: each plan run against the floor run beside it.
    const ratios = samples.plan.map((s, i) => s.ms / (samples.floor[i] as Sample).ms);
    const rssRatios = samples.plan.map((s, i) => s.maxRssMB / (samples.floor[i] as Sample).maxRssMB);
    const row = {
      services: n,
      members: last.members,
      allocated: last.allocated,
      runs,
      floorMsMedian: Math.round(floorMs),
      planMsMedian: Math.round(planMs),
      planOverFloor: Number((planMs / floorMs).toFixed(2)),
      planOverFloorWorst: Number(Math.max(...ratios).toFixed(2)),
      rssOverFloor: Number(median(rssRatios).toFixed(2)),
      rssOverFloorWorst: Number(Math.max(...rssRatios).toFixed(2)),
      floorPeakRssMB: Math.round(median(samples.floor.map((s) => s.maxRssMB))),
      planPeakRssMB: Math.round(median(samples.plan.map((s) => s.maxRssMB))),
      loadBalancers: last.loadBalancers,
      lowerBound: last.lowerBound,
      planMsAll: samples.plan.map((s) => Math.round(s.ms)),
      floorMsAll: samples.floor.map((s) => Math.round(s.ms)),
    };
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
  const first = rows[0];
  const last = rows[rows.length - 1];
  const exponent = (a: number, b: number): number => Number((Math.log(b / a) / Math.log((last?.services ?? 1) / (first?.services ?? 1))).toFixed(2));
  const growth = first !== undefined && last !== undefined && last !== first
    ? { planTimeExponent: exponent(first.planMsMedian, last.planMsMedian), floorTimeExponent: exponent(first.floorMsMedian, last.floorMsMedian) }
    : null;
  const result = {
    benchmark: 'plan',
    growth,
    date: new Date().toISOString(),
    node: process.version,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 2 ** 30) },
    provider: 'aws-nlb (50 ports per LB)',
    goal: 'plan <= 3x floor in time and <= 2x in peak RSS in every run; loadBalancers <= lowerBound + 1',
    rows,
  };
  record('plan', result, {
    title: 'sharedlb plan benchmark',
    about: [
      `${result.date}, Node ${result.node}, ${result.machine.cpus} × ${result.machine.cpuModel}; medians of ${runs} runs, each in a fresh process.`,
      'Floor: JSON.parse of the `kubectl get svc -A -o json`-shaped input plus a walk over every annotation and port. Plan: the same parse, then member parsing, placement and pricing.',
    ],
    columns: ['Services', 'members', 'floor ms', 'plan ms', 'plan/floor (median, worst)', 'peak RSS floor/plan MB', 'RSS plan/floor (median, worst)', 'LBs', 'lower bound'],
    rows: rows.map((r) => [r.services, r.members, r.floorMsMedian, r.planMsMedian, `${r.planOverFloor}, ${r.planOverFloorWorst}`, `${r.floorPeakRssMB}/${r.planPeakRssMB}`, `${r.rssOverFloor}, ${r.rssOverFloorWorst}`, r.loadBalancers, r.lowerBound]),
    after: [
      `Goal: ${result.goal}.`,
      ...(growth !== null ? [`Growth from ${first?.services} to ${last?.services} Services: plan time ∝ n^${growth.planTimeExponent}, floor time ∝ n^${growth.floorTimeExponent}.`] : []),
    ],
  });
}

main();
