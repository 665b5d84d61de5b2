// `sharedlb plan -f FILE` as users run it: the command, as a process, on
// files written as kubectl writes them (`kubectl get svc -A -o json` and
// `-o yaml`: uid, resourceVersion, managedFields, labels, clusterIPs,
// status), for generated estates of the packing benchmark's base shape
// (45% preserve over a skewed set of fixed ports, multi-port and TCP+UDP
// members, bad inputs; fixed-port demand growing with the estate).
//
// Against floors measured in the same run, each a process too (its Node
// start-up included, as the command's is; bench/plan-floor.ts):
//   JSON — JSON.parse of the file and a walk over every Service's
//          annotations and ports: what any tool reading it must pay;
//   YAML — js-yaml's loadAll (core schema), the YAML loader the command
//          uses, and the same walk.
// Time is wall time from spawn to exit; peak RSS is the process's
// (/usr/bin/time). Also recorded, labelled as such: plan() as a library
// call after its own JSON.parse, which is not what users run.
//
//   node bench/plan.bench.ts [--runs 3] [--sizes 10000,30000,100000]

import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { plan } from '../allocator/plan.ts';
import { implicitPool, poolSet } from '../allocator/pools.ts';
import type { ServiceLike } from '../allocator/types.ts';
import { kubectlOutput } from './kubectl-output.ts';
import { record } from './lib.ts';
import { generateFamily } from './packing-workload.ts';

const HERE = dirname(fileURLToPath(import.meta.url));
const WORK = join(HERE, '.work');
const SHAREDLB = join(HERE, '..', 'bin', 'sharedlb');
const FLOOR = join(HERE, 'plan-floor.ts');
const TIME = '/usr/bin/time';

type Format = 'json' | 'yaml';
interface Run { ms: number; maxRssMB: number; out: string }

/** plan() as a library call after its own JSON.parse: a figure of a function beneath the command. */
function libraryChild(file: string): void {
  const t0 = performance.now();
  const list = JSON.parse(readFileSync(file, 'utf8')) as { items: ServiceLike[] };
  const p = plan({ services: list.items, pools: poolSet([{ ok: true, pool: implicitPool('aws-nlb') }]) });
  process.stdout.write(JSON.stringify({ ms: performance.now() - t0, loadBalancers: p.summary.loadBalancers }));
}

/** A process, timed from spawn to exit, its peak RSS read by /usr/bin/time. */
function timed(argv: string[]): Run {
  const t0 = performance.now();
  const r = spawnSync(TIME, ['-f', 'maxrss=%M', ...argv], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = performance.now() - t0;
  const rss = /maxrss=(\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || rss === null) throw new Error(`${argv.join(' ')}: exit ${r.status}: ${(r.stderr ?? '').slice(-500)}`);
  return { ms, maxRssMB: Number(rss[1]) / 1024, out: r.stdout };
}

/** One row: a size and format, its runs paired with the floor runs beside them. */
function summarize(n: number, format: Format, file: string, floor: Run[], command: Run[]) {
  const summary = /^Members:\s+(\d+) \((\d+) allocated[\s\S]*?^Load balancers: (\d+) \(lower bound (\d+)\)/m.exec(command[0]?.out ?? '');
  const ratios = command.map((c, i) => c.ms / (floor[i] as Run).ms);
  const rssRatios = command.map((c, i) => c.maxRssMB / (floor[i] as Run).maxRssMB);
  return {
    services: n,
    format,
    fileMB: Math.round(readFileSync(file).length / 2 ** 20),
    members: Number(summary?.[1]),
    allocated: Number(summary?.[2]),
    loadBalancers: Number(summary?.[3]),
    lowerBound: Number(summary?.[4]),
    runs: command.length,
    floorMsMedian: Math.round(median(floor.map((r) => r.ms))),
    commandMsMedian: Math.round(median(command.map((r) => r.ms))),
    timeOverFloor: round2(median(ratios)),
    timeOverFloorWorst: round2(Math.max(...ratios)),
    floorPeakRssMB: Math.round(median(floor.map((r) => r.maxRssMB))),
    commandPeakRssMB: Math.round(median(command.map((r) => r.maxRssMB))),
    rssOverFloor: round2(median(rssRatios)),
    rssOverFloorWorst: round2(Math.max(...rssRatios)),
    floorMsAll: floor.map((r) => Math.round(r.ms)),
    commandMsAll: command.map((r) => Math.round(r.ms)),
  };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const round2 = (n: number): number => Number(n.toFixed(2));

function main(): void {
  const { values } = parseArgs({
    options: {
      runs: { type: 'string', default: '3' },
      sizes: { type: 'string', default: '10000,30000,100000' },
      child: { type: 'string' },
      file: { type: 'string' },
    },
  });
  if (values.child === 'library') {
    libraryChild(values.file as string);
    return;
  }
  if (!existsSync(TIME)) throw new Error(`${TIME} is needed for peak RSS: install Debian's time package`);
  mkdirSync(WORK, { recursive: true });
  const runs = Number(values.runs);
  const node = process.execPath;
  const self = fileURLToPath(import.meta.url);
  const rows: Array<ReturnType<typeof summarize>> = [];
  const library: Array<{ services: number; planMs: number }> = [];
  for (const n of values.sizes.split(',').map(Number)) {
    // The base family at this size: fixed-port demand grows with the estate, as it does in a real one.
    const items = generateFamily({ name: 'base', members: n, preserve: 0.45, perPort: (50 * n) / 3000, portsPerLB: 50, multiPort: 0.1, tcpUdp: 0.03 }, 42);
    for (const format of ['json', 'yaml'] as const) {
      const file = join(WORK, `services-${n}.${format}`);
      writeFileSync(file, kubectlOutput(items, format));
      const floor: Run[] = [];
      const command: Run[] = [];
      for (let i = 0; i < runs; i++) {
        floor.push(timed([node, FLOOR, format, file]));
        command.push(timed([SHAREDLB, 'plan', '-f', file]));
      }
      const row = summarize(n, format, file, floor, command);
      rows.push(row);
      process.stderr.write(`${JSON.stringify(row)}\n`);
      if (format === 'json') {
        const lib = JSON.parse(execFileSync(node, [self, '--child', 'library', '--file', file], { encoding: 'utf8' })) as { ms: number; loadBalancers: number };
        library.push({ services: n, planMs: Math.round(lib.ms) });
      }
      rmSync(file);
    }
  }
  const growth = (format: Format) => {
    const r = rows.filter((x) => x.format === format);
    const first = r[0];
    const last = r[r.length - 1];
    if (first === undefined || last === undefined || first === last) return null;
    const k = (a: number, b: number): number => round2(Math.log(b / a) / Math.log(last.services / first.services));
    return { commandTimeExponent: k(first.commandMsMedian, last.commandMsMedian), floorTimeExponent: k(first.floorMsMedian, last.floorMsMedian), commandRssExponent: k(first.commandPeakRssMB, last.commandPeakRssMB) };
  };
  const result = {
    benchmark: 'plan',
    date: new Date().toISOString(),
    node: process.version,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGB: Math.round(totalmem() / 2 ** 30) },
    provider: 'aws-nlb (50 ports per LB)',
    goal: '`sharedlb plan -f` <= 3x its floor in time and <= 2x in peak RSS, JSON and YAML, in every run; loadBalancers <= lowerBound + 1',
    growth: { json: growth('json'), yaml: growth('yaml') },
    rows,
    library,
  };
  record('plan', result, {
    title: 'sharedlb plan benchmark: the command on kubectl\'s output',
    about: [
      `${result.date}, Node ${result.node}, ${result.machine.cpus} × ${result.machine.cpuModel}; ${runs} runs of each, every one a fresh process timed from spawn to exit (Node's start-up included on both sides).`,
      'Command: `bin/sharedlb plan -f FILE`, FILE as `kubectl get svc -A -o json|yaml` writes it. Floor: a process that parses the same file (JSON.parse; js-yaml loadAll, the YAML loader the command uses) and walks every Service\'s annotations and ports. Ratios pair each command run with the floor run beside it.',
    ],
    columns: ['Services', 'format', 'file MB', 'members', 'floor ms', 'command ms', 'time ×floor (median, worst)', 'peak RSS floor/command MB', 'RSS ×floor (median, worst)', 'LBs', 'lower bound'],
    rows: rows.map((r) => [r.services, r.format, r.fileMB, r.members, r.floorMsMedian, r.commandMsMedian, `${r.timeOverFloor}, ${r.timeOverFloorWorst}`, `${r.floorPeakRssMB}/${r.commandPeakRssMB}`, `${r.rssOverFloor}, ${r.rssOverFloorWorst}`, r.loadBalancers, r.lowerBound]),
    after: [
      `Goal: ${result.goal}.`,
      ...(['json', 'yaml'] as const).flatMap((f) => {
        const g = result.growth[f];
        return g === null ? [] : [`Growth (${f}, ${rows[0]?.services} to ${rows[rows.length - 1]?.services} Services): command time ∝ n^${g.commandTimeExponent}, floor time ∝ n^${g.floorTimeExponent}, command peak RSS ∝ n^${g.commandRssExponent}.`];
      }),
      `Library level, not the product's figure — plan() after its own JSON.parse, in-process: ${library.map((l) => `${l.services} Services ${l.planMs} ms`).join(', ')}.`,
    ],
  });
}

main();
