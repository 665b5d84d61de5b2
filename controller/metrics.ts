// Prometheus metrics, with controller-runtime's names where they apply so
// existing dashboards and alerts read them.

import client from 'prom-client';
import type { LiveReport } from '../allocator/report.ts';
import type { Showback } from '../allocator/showback.ts';
import { HOURS } from '../allocator/profiles.ts';
import { resourceOf } from './kube-rest.ts';
import type { QueueMetrics } from './workqueue.ts';
import type { MemorySample } from './memory-watch.ts';

export const registry = new client.Registry();
client.collectDefaultMetrics({ register: registry });

const depth = new client.Gauge({ name: 'workqueue_depth', help: 'Current depth of the work queue', labelNames: ['name'], registers: [registry] });
const adds = new client.Counter({ name: 'workqueue_adds_total', help: 'Adds handled by the work queue', labelNames: ['name'], registers: [registry] });
const retries = new client.Counter({ name: 'workqueue_retries_total', help: 'Retries handled by the work queue', labelNames: ['name'], registers: [registry] });
const queued = new client.Histogram({ name: 'workqueue_queue_duration_seconds', help: 'Time a key waits in the queue', labelNames: ['name'], buckets: client.exponentialBuckets(0.0005, 4, 10), registers: [registry] });
const work = new client.Histogram({ name: 'workqueue_work_duration_seconds', help: 'Time processing one key takes', labelNames: ['name'], buckets: client.exponentialBuckets(0.0005, 4, 10), registers: [registry] });
const reconciles = new client.Counter({ name: 'controller_runtime_reconcile_total', help: 'Reconciles per controller and result', labelNames: ['controller', 'result'], registers: [registry] });
const reconcileErrors = new client.Counter({ name: 'controller_runtime_reconcile_errors_total', help: 'Reconcile errors per controller', labelNames: ['controller'], registers: [registry] });
const reconcileTime = new client.Histogram({ name: 'controller_runtime_reconcile_time_seconds', help: 'Length of a reconcile per controller', labelNames: ['controller'], buckets: client.exponentialBuckets(0.0005, 4, 10), registers: [registry] });
/** client-go's request counter, by RBAC resource instead of host: what the controller asks of the API server. */
const requests = new client.Counter({ name: 'rest_client_requests_total', help: 'Requests to the API server by method, resource and status code (0: no response)', labelNames: ['method', 'resource', 'code'], registers: [registry] });
export function countRequest(method: string, path: string, status: number): void {
  requests.inc({ method, resource: resourceOf(path), code: String(status) });
}
export const informerRelists = new client.Counter({ name: 'sharedlb_informer_relists_total', help: 'Periodic full relists per informer', labelNames: ['informer'], registers: [registry] });
export const resyncsSkipped = new client.Counter({ name: 'sharedlb_resyncs_skipped_total', help: 'Periodic resyncs skipped because the previous one had not drained from the work queue', registers: [registry] });
export const eventsDropped = new client.Counter({ name: 'sharedlb_events_dropped_total', help: 'Events not written because too many were waiting to be (as client-go drops them)', labelNames: ['type'], registers: [registry] });
export const informerRestarts = new client.Counter({ name: 'sharedlb_informer_restarts_total', help: 'Informer restarts after watch or list errors', labelNames: ['informer'], registers: [registry] });

/** `controllerOf` names the reconciler a key belongs to (controller-runtime counts reconciles per controller). */
export function queueMetrics(name: string, controllerOf: (key: string) => string = () => name): QueueMetrics {
  return {
    depth: (n) => depth.set({ name }, n),
    added: () => adds.inc({ name }),
    retried: () => retries.inc({ name }),
    queued: (s) => queued.observe({ name }, s),
    worked: (key, s, result) => {
      const controller = controllerOf(key);
      work.observe({ name }, s);
      reconcileTime.observe({ controller }, s);
      reconciles.inc({ controller, result });
      if (result === 'error') reconcileErrors.inc({ controller });
    },
  };
}

/** Cost and capacity per shared LB and per pool, computed from the live report at each scrape. */
/**
 * Showback per namespace, as FinOps tools collect it (OpenCost's custom
 * costs are hourly): each namespace's share of the shared LBs' bills.
 */
export function showbackGauges(shares: () => Showback): void {
  let cached: { at: number; s: Showback } | null = null;
  const current = (): Showback => {
    if (cached === null || Date.now() - cached.at > 1000) cached = { at: Date.now(), s: shares() };
    return cached.s;
  };
  const gauge = (name: string, help: string, per: number): void => {
    new client.Gauge({
      name, help, labelNames: ['namespace', 'currency'], registers: [registry],
      collect() {
        this.reset();
        for (const r of current().rows) if (r.currency !== '') this.set({ namespace: r.group, currency: r.currency }, Number((r.monthlyCost / per).toFixed(6)));
      },
    });
  };
  gauge('sharedlb_namespace_monthly_cost', "A namespace's share of the shared LBs' monthly bills (by ports held)", 1);
  gauge('sharedlb_namespace_hourly_cost', `A namespace's share of the shared LBs' bills per hour (${HOURS} hours a month)`, HOURS);
}

export function costGauges(report: () => LiveReport): void {
  // One report per scrape, however many gauges read it.
  let cached: { at: number; r: LiveReport } | null = null;
  const current = (): LiveReport => {
    if (cached === null || Date.now() - cached.at > 1000) cached = { at: Date.now(), r: report() };
    return cached.r;
  };
  const gauge = (name: string, help: string, labelNames: string[], rows: (r: LiveReport) => Array<[Record<string, string>, number]>): void => {
    new client.Gauge({
      name, help, labelNames, registers: [registry],
      collect() {
        this.reset();
        for (const [labels, v] of rows(current())) this.set(labels, v);
      },
    });
  };
  type Row = LiveReport['loadBalancers'][number];
  type PoolRow = LiveReport['pools'][number];
  const perLB = (f: (l: Row) => number) => (r: LiveReport) =>
    r.loadBalancers.map((l): [Record<string, string>, number] => [{ pool: l.pool, load_balancer: `${l.namespace}/${l.name}`, currency: l.currency }, f(l)]);
  const perPool = (f: (p: PoolRow) => number) => (r: LiveReport) =>
    r.pools.map((p): [Record<string, string>, number] => [{ pool: p.pool, provider: p.provider, currency: p.currency }, f(p)]);
  const lbLabels = ['pool', 'load_balancer', 'currency'];
  const poolLabels = ['pool', 'provider', 'currency'];
  gauge('sharedlb_ports_used', 'Ports in use on a shared LB', lbLabels, perLB((l) => l.portsUsed));
  gauge('sharedlb_ports_capacity', 'Ports a shared LB may carry', lbLabels, perLB((l) => l.capacity));
  gauge('sharedlb_load_balancer_members', 'Members on a shared LB', lbLabels, perLB((l) => l.members));
  gauge('sharedlb_monthly_cost', 'Monthly list cost of a shared LB', lbLabels, perLB((l) => l.monthlyCost));
  gauge('sharedlb_monthly_savings', 'Monthly saving of a shared LB against dedicated LBs for its members', lbLabels, perLB((l) => l.monthlySavings));
  gauge('sharedlb_pool_load_balancers', 'Shared LBs of a pool', poolLabels, perPool((p) => p.loadBalancers));
  gauge('sharedlb_pool_members', 'Allocated members of a pool', poolLabels, perPool((p) => p.members));
  gauge('sharedlb_pool_monthly_cost', "Monthly list cost of a pool's shared LBs", poolLabels, perPool((p) => p.monthlyCost));
  gauge('sharedlb_pool_monthly_savings', 'Monthly saving of a pool against dedicated LBs', poolLabels, perPool((p) => p.monthlySavings));
}

/** What the memory watch last saw: an alert on sharedlb_memory_pressure fires before the OOM killer does. */
export function memoryGauges(last: () => MemorySample | null, pressured: () => boolean): void {
  const gauge = (name: string, help: string, read: (s: MemorySample) => number): void => {
    new client.Gauge({
      name, help, registers: [registry],
      collect() {
        const s = last();
        if (s !== null) this.set(read(s));
      },
    });
  };
  gauge('sharedlb_heap_live_bytes', 'V8 heap in use right after the last full garbage collection', (s) => s.liveHeapBytes);
  gauge('sharedlb_heap_limit_bytes', "V8's heap limit (derived from the container's memory limit)", (s) => s.heapLimitBytes);
  gauge('sharedlb_memory_limit_bytes', "The container's memory limit (0: none)", (s) => s.containerLimitBytes);
  new client.Gauge({
    name: 'sharedlb_memory_pressure', help: '1 while the heap or the process is close to its limit', registers: [registry],
    collect() {
      this.set(pressured() ? 1 : 0);
    },
  });
}
