// Prometheus metrics, with controller-runtime's names where they apply so
// existing dashboards and alerts read them.

import client from 'prom-client';
import type { QueueMetrics } from './workqueue.ts';

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
/** Writes to the API server since start, read from the reconcilers' own count. */
export function countWrites(writes: { count: number }): void {
  new client.Gauge({
    name: 'sharedlb_api_writes',
    help: 'Writes sharedlb made to the API server since it started',
    registers: [registry],
    collect() {
      this.set(writes.count);
    },
  });
}
export const informerRestarts = new client.Counter({ name: 'sharedlb_informer_restarts_total', help: 'Informer restarts after watch or list errors', labelNames: ['informer'], registers: [registry] });

export function queueMetrics(name: string): QueueMetrics {
  return {
    depth: (n) => depth.set({ name }, n),
    added: () => adds.inc({ name }),
    retried: () => retries.inc({ name }),
    queued: (s) => queued.observe({ name }, s),
    worked: (s, result) => {
      work.observe({ name }, s);
      reconcileTime.observe({ controller: name }, s);
      reconciles.inc({ controller: name, result });
      if (result === 'error') reconcileErrors.inc({ controller: name });
    },
  };
}
