// Leader election on a coordination.k8s.io/v1 Lease, as client-go's
// leaderelection does it: acquire when the lease is free or expired — expired
// by our own clock since we last saw its record change, never by the
// holder's renewTime — renew every retry period, and lead only until the
// renew deadline counted from the start of the last successful renewal:
// before the lease can expire and another replica take over, so two
// leaders never write at the same time. client-node ships
// no leader election; Lease times are MicroTime (microseconds), which the
// generated client cannot write, so this goes through the REST client.

import type { Logger } from './logger.ts';
import { ApiError, microTime, type Rest } from './kube-rest.ts';

export interface LeaderOptions {
  rest: Rest;
  log: Logger;
  namespace: string;
  name: string;
  identity: string;
  leaseSeconds?: number;
  renewDeadlineSeconds?: number;
  retrySeconds?: number;
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

interface Lease {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  spec: {
    holderIdentity?: string;
    leaseDurationSeconds?: number;
    acquireTime?: string;
    renewTime?: string;
    leaseTransitions?: number;
  };
}

export interface Elector {
  readonly leading: boolean;
  stop(): Promise<void>;
}

/** Another holder's record as last seen, and when we saw it change (our clock, never the holder's: client-go's observedTime). */
type Observed = { record: string; at: number } | null;

/**
 * One try at holding the Lease, started at `start`: 'held' if it is ours
 * now (created, renewed, or taken over once expired), else who holds it.
 * `observed` is updated as a follower's view of the holder's record.
 */
async function tryAcquireOrRenew(o: LeaderOptions, start: number, view: { observed: Observed }): Promise<'held' | { heldBy: string }> {
  const leaseSeconds = o.leaseSeconds ?? 15;
  const path = `/apis/coordination.k8s.io/v1/namespaces/${o.namespace}/leases`;
  const now = new Date(start);
  let lease: Lease | null = null;
  try {
    lease = await o.rest.get<Lease>(`${path}/${o.name}`);
  } catch (e) {
    if (!(e instanceof ApiError && e.status === 404)) throw e;
  }
  const spec = { holderIdentity: o.identity, leaseDurationSeconds: leaseSeconds, renewTime: microTime(now) };
  if (lease === null) {
    await o.rest.post(path, { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: o.name, namespace: o.namespace }, spec: { ...spec, acquireTime: microTime(now), leaseTransitions: 0 } });
  } else if (lease.spec.holderIdentity === o.identity) {
    await o.rest.put(`${path}/${o.name}`, { ...lease, spec: { ...lease.spec, ...spec } });
  } else {
    const holder = lease.spec.holderIdentity ?? '';
    const record = JSON.stringify(lease.spec);
    if (view.observed?.record !== record) view.observed = { record, at: start };
    if (holder !== '' && start < view.observed.at + (lease.spec.leaseDurationSeconds ?? leaseSeconds) * 1000) return { heldBy: holder };
    await o.rest.put(`${path}/${o.name}`, {
      ...lease,
      spec: { ...lease.spec, ...spec, acquireTime: microTime(now), leaseTransitions: (lease.spec.leaseTransitions ?? 0) + 1 },
    });
  }
  view.observed = null;
  return 'held';
}

/** Give the Lease up on shutdown, so a successor need not wait it out. */
async function release(o: LeaderOptions): Promise<void> {
  const path = `/apis/coordination.k8s.io/v1/namespaces/${o.namespace}/leases/${o.name}`;
  try {
    const lease = await o.rest.get<Lease>(path);
    if (lease.spec.holderIdentity === o.identity) await o.rest.put(path, { ...lease, spec: { ...lease.spec, holderIdentity: '', leaseDurationSeconds: 1 } });
  } catch {
    // the lease simply expires
  }
}

export function startLeaderElection(o: LeaderOptions): Elector {
  const renewDeadline = (o.renewDeadlineSeconds ?? 10) * 1000;
  const retry = (o.retrySeconds ?? 2) * 1000;
  let leading = false;
  /** When the last successful renewal began: leadership lasts until this + the renew deadline, and not a moment longer. */
  let lastRenew = 0;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const view: { observed: Observed } = { observed: null };
  const valid = (): boolean => leading && Date.now() - lastRenew <= renewDeadline;

  const stepDown = (why: string): void => {
    if (!leading) return;
    leading = false;
    o.log.warn('stopped leading', { lease: `${o.namespace}/${o.name}`, identity: o.identity, why });
    o.onStoppedLeading();
  };

  const attempt = async (): Promise<void> => {
    const start = Date.now();
    const r = await tryAcquireOrRenew(o, start, view);
    if (r !== 'held') return stepDown(`lease held by ${r.heldBy}`);
    // A renewal that comes back after its own deadline is no renewal: a successor may already be writing.
    if (Date.now() - start > renewDeadline) return stepDown('a renewal returned after the renew deadline');
    lastRenew = start;
    if (!leading) {
      leading = true;
      o.log.info('started leading', { lease: `${o.namespace}/${o.name}`, identity: o.identity });
      o.onStartedLeading();
    }
  };

  const loop = async (): Promise<void> => {
    if (stopped) return;
    try {
      await attempt();
    } catch (e) {
      o.log.warn('lease update failed', { lease: `${o.namespace}/${o.name}`, error: e instanceof Error ? e.message : String(e) });
    }
    if (leading && !valid()) stepDown('could not renew within the renew deadline');
    if (!stopped) timer = setTimeout(() => void loop(), retry);
  };
  // The deadline is also checked between attempts, so a hung renewal cannot keep a leader writing.
  const watchdog = setInterval(() => {
    if (leading && !valid()) stepDown('could not renew within the renew deadline');
  }, 250);
  watchdog.unref();
  void loop();

  return {
    /** True only within the renew deadline of the last renewal's start, whatever the watchdog has yet to notice. */
    get leading() {
      return valid();
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      clearInterval(watchdog);
      if (!leading) return;
      await release(o);
      stepDown('shutting down');
    },
  };
}
