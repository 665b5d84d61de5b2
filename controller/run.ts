// The running controller: informers → keyed work queue → pool and member
// reconciles. Event handlers only enqueue keys; every reconcile reads the
// caches and converges.

import type { Server } from 'node:http';
import { hostname } from 'node:os';
import type { KubeConfig, V1Service } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { GROUP, LB_POOL_LABEL, LOAD_BALANCER } from '../allocator/annotations.ts';
import type { MemberOutcome } from '../allocator/placement/allocate.ts';
import type { PoolSet } from '../allocator/pools.ts';
import { eventRecorder } from './events.ts';
import { kubeWatch } from './informer.ts';
import { rateLimited, restClient } from './kube-rest.ts';
import { startLeaderElection, type Elector } from './leader.ts';
import { makeLogger } from './logger.ts';
import { currentCondition } from './member-status.ts';
import { costGauges, countRequest, eventsDropped, informerRelists, informerRestarts, memoryGauges, queueMetrics, resyncsSkipped } from './metrics.ts';
import { watchMemory } from './memory-watch.ts';
import { MANAGED_BY_SLICE, MEMBER_ANNOTATION, SERVICE_NAME_LABEL, SLICE_MANAGER } from './mirror.ts';
import { awaitsPlacement, reconcileMember } from './reconcile-member.ts';
import { liveReport } from '../allocator/report.ts';
import { liveLoadBalancer } from './cluster-read.ts';
import { serve, START_GRACE_MS } from './http-server.ts';
import { reconcilePool } from './reconcile-pool.ts';
import { isSharedLB } from './shared-lb.ts';
import { ClusterState } from './state.ts';
import { WorkQueue } from './workqueue.ts';

export interface Controller {
  readonly leading: boolean;
  stop(): Promise<void>;
  server: Server | null;
}

export interface ControllerOptions {
  kc: KubeConfig;
  namespace: string;
  className: string;
  nodePortRange: { from: number; to: number };
  listen: string | null;
  concurrency: number;
  /** API requests a second from reconciles and events (client-go's QPS); 0: no limit on this side. */
  qps: number;
  resyncSeconds: number;
  /** A full relist reads every object of the cluster again (a page at a time): not often. */
  relistSeconds: number;
  /** Replicas take turns on a Lease; without it, run exactly one replica. */
  leaderElect: boolean;
  lease?: { durationSeconds: number; renewDeadlineSeconds: number; retrySeconds: number };
  eventSeriesSeconds?: number;
}

export class NotLeaderError extends Error {}

/**
 * While a pool's members keep changing, its placement runs at most once in
 * this long (and never more often than its compute allows, see
 * workqueue.ts). Each placement in a burst rewrites the LBs that gained
 * ports, and a cloud's controller takes every change of an LB's ports as a
 * reason to reconcile that cloud LB (cloud-provider's service controller,
 * needsUpdate → portsEqualForLB); every watcher of Services receives the
 * whole LB again. A longer gap means fewer placements and LB writes per
 * burst (bench/results/controller.md counts them), and a member waits up to
 * this long more for its placement. A change in a quiet pool is placed at
 * once.
 */
const POOL_PLACEMENT_GAP_MS = 1000;

export async function startController(o: ControllerOptions): Promise<Controller> {
  const log = makeLogger();
  const clientOptions = { userAgent: 'sharedlb-controller', maxSockets: Math.max(8, o.concurrency * 2), onResponse: countRequest };
  const raw = restClient(o.kc, clientOptions);
  const instance = `${hostname()}-${process.pid}`;
  let elector: Elector | null = null;
  // Reconciles and events write through a client of their own, fenced: each attempt (retries too) goes only
  // while this replica leads, within its renew deadline. The caches' lists and the Lease use the other one,
  // and are not rate-limited either (a renewal must never wait behind a burst of writes).
  const sent = o.leaderElect
    ? restClient(o.kc, { ...clientOptions, beforeAttempt: (method, path) => {
      if (method !== 'GET' && elector?.leading !== true) throw new NotLeaderError(`not the leader: refusing ${method} ${path}`);
    } })
    : raw;
  const rest = o.qps > 0 ? rateLimited(sent, o.qps) : sent;
  const events = eventRecorder(rest, log, instance, {
    seriesEveryMs: (o.eventSeriesSeconds ?? 60) * 1000,
    onDrop: (type) => eventsDropped.inc({ type }),
    busy: () => queue.busy(1000),
  });
  const outcomes = new Map<string, MemberOutcome>();

  // Handlers need the queue and the queue's reconciles need the state.
  let state: ClusterState;
  const queue: WorkQueue = new WorkQueue({
    name: 'sharedlb',
    concurrency: o.concurrency,
    coalesceMs: POOL_PLACEMENT_GAP_MS,
    metrics: queueMetrics('sharedlb', (key) => key.slice(0, key.indexOf(':'))),
    handler: async (key) => {
      if (key.startsWith('pool:')) return reconcilePool(poolCtx, key.slice(5));
      if (key.startsWith('member:')) return reconcileMember(memberCtx, key.slice(7));
    },
    onError: (key, error, retryInMs) => log.warn('reconcile failed; will retry', { key, error: error instanceof Error ? error.message : String(error), retryInMs }),
  });
  // As client-go's WaitForCacheSync: nothing is reconciled from half-listed
  // caches. A pool placed while its LBs are still unlisted would see its
  // members as new; a member reconciled before its LB, as holding nothing.
  queue.pause();
  const poolKeys = (): Set<string> => {
    const names = new Set(state.pools.list().map((p) => p.metadata?.name as string));
    for (const lb of state.lbs()) names.add(lb.metadata?.labels?.[LB_POOL_LABEL] as string);
    return names;
  };
  // A pool's placement reads every member of it: a burst of member changes is
  // taken by a few pool reconciles, each placing many (see addCoalesced).
  const enqueuePool = (name: string | undefined): void => queue.addCoalesced(`pool:${name}`);
  const enqueuePools = (): void => {
    for (const p of poolKeys()) enqueuePool(p);
  };
  const touchesSharing = (svc: V1Service): boolean => {
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    if (Object.keys(svc.metadata?.annotations ?? {}).some((a) => a.startsWith(`${GROUP}/`))) return true;
    if (svc.spec?.type === 'LoadBalancer' && svc.spec.loadBalancerClass === o.className) return true;
    return currentCondition(svc) !== undefined || state.holdings(key).length > 0;
  };
  // What a pool reconcile reads of each member, digested: a member's own
  // write-backs (annotations, status) change none of it, and must not set off
  // a reconcile of its whole pool (work that grows with the pool) each.
  const placementInputs = new Map<string, string>();
  const placementChanged = (event: string, svc: V1Service): boolean => {
    const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
    const before = placementInputs.get(key);
    if (event === 'delete') {
      placementInputs.delete(key);
      return true;
    }
    const inputs = [state.member(svc, o.className), svc.metadata?.annotations?.[LOAD_BALANCER] ?? null, (svc.spec?.ports ?? []).map((p) => p.appProtocol ?? null)];
    const digest = createHash('sha1').update(JSON.stringify(inputs)).digest('base64');
    placementInputs.set(key, digest);
    return digest !== before;
  };
  let poolsSeen: PoolSet | null = null;
  const everything = (): boolean => true;
  /** `background`: a pass over every member (start-up, resync) rather than a change; it yields to changes. */
  const enqueueMembers = (filter: (svc: V1Service) => boolean = everything, background = false): void => {
    for (const svc of state.sharingServices()) {
      if (!isSharedLB(svc, o.namespace) && touchesSharing(svc) && filter(svc)) queue.add(`member:${svc.metadata?.namespace}/${svc.metadata?.name}`, background);
    }
  };

  state = new ClusterState(kubeWatch(o.kc), raw, o.namespace, o.className, {
    service: (e, svc, members) => {
      if (isSharedLB(svc, o.namespace)) {
        enqueuePool(svc.metadata?.labels?.[LB_POOL_LABEL]);
        for (const m of members) queue.add(`member:${m}`);
        return;
      }
      const key = `${svc.metadata?.namespace}/${svc.metadata?.name}`;
      const echo = state.ownEcho(e, svc);
      if (!touchesSharing(svc)) {
        placementInputs.delete(key);
        return;
      }
      if (!echo && (e === 'delete' || !awaitsPlacement(memberCtx, key, svc))) queue.add(`member:${key}`);
      if (placementChanged(e, svc)) enqueuePools();
    },
    slice: (_e, s) => {
      if (s.metadata?.labels?.[MANAGED_BY_SLICE] === SLICE_MANAGER) {
        const m = s.metadata.annotations?.[MEMBER_ANNOTATION];
        if (m !== undefined) queue.add(`member:${m}`);
        return;
      }
      const svcName = s.metadata?.labels?.[SERVICE_NAME_LABEL];
      const key = `${s.metadata?.namespace}/${svcName}`;
      if (svcName !== undefined && state.holdings(key).length > 0) queue.add(`member:${key}`);
      // Someone else's slice for a shared LB: its pool's reconcile removes it.
      const lb = s.metadata?.namespace === o.namespace && svcName !== undefined ? state.lb(svcName) : undefined;
      if (lb !== undefined && isSharedLB(lb, o.namespace)) enqueuePool(lb.metadata?.labels?.[LB_POOL_LABEL]);
    },
    pool: (_e, p) => {
      enqueuePool(p.metadata?.name);
      // Members read the pools' specs: a status write (the pool reconcile's own) wakes none of them.
      const pools = state.poolSet();
      if (pools !== poolsSeen) enqueueMembers();
      poolsSeen = pools;
    },
    namespace: (e, n) => {
      if (e === 'add') return; // a new namespace holds no Services yet
      enqueuePools();
      enqueueMembers((svc) => svc.metadata?.namespace === n.metadata?.name);
    },
    relist: (informer) => informerRelists.inc({ informer }),
    restart: (informer, reason, error) => {
      informerRestarts.inc({ informer });
      log.warn('informer restarted', { informer, reason, error: error instanceof Error ? error.message : String(error) });
    },
  }, Math.max(30, o.relistSeconds));

  const report = () => liveReport([...state.poolSet().pools.values()], state.lbs().map(liveLoadBalancer));
  costGauges(report);
  let pressured = false;
  const memory = watchMemory((why, sample) => {
    pressured = why !== null;
    const cached = { services: state.services.size, servicesKeptWhole: state.sharingServices().length, endpointSlices: state.slices.size };
    if (why === null) {
      log.info('memory pressure over', { ...cached, liveHeapBytes: sample.liveHeapBytes, heapLimitBytes: sample.heapLimitBytes });
      return;
    }
    const note = `${instance} is short of memory: ${why}. Raise the Deployment's memory limit (docs/sizing.md); the heap limit follows it.`;
    log.warn('memory pressure', { ...cached, ...sample, instance });
    for (const p of state.pools.list()) {
      events.warning({ apiVersion: 'sharedlb.io/v1alpha1', kind: 'LoadBalancerPool', name: p.metadata?.name as string, uid: p.metadata?.uid }, 'MemoryPressure', 'Watch', note);
    }
  });
  memoryGauges(memory.last, () => pressured);

  const moves = new Map<string, string>();
  const poolCtx = { rest, log, state, events, className: o.className, nodePortRange: o.nodePortRange, outcomes, moves, enqueueMember: (k: string) => queue.add(`member:${k}`) };
  const memberCtx = { rest, log, state, events, className: o.className, outcomes, moves, waitingSince: new Map<string, number>() };

  const startedAt = Date.now();
  const server = o.listen === null ? null : await serve(o.listen, {
    unsynced: () => state.unsynced(),
    startingForMs: () => Date.now() - startedAt,
    role: () => (elector === null || elector.leading ? 'leader' : 'follower'),
    report,
  });
  // Caches that cannot be listed (a CRD not installed, RBAC missing) hold everything back: say why, every minute.
  const stuck = setInterval(() => {
    if (state.synced) return void clearInterval(stuck);
    log.warn('caches not synced: nothing is reconciled until they are', { unsynced: state.unsynced(), waitingSeconds: Math.round((Date.now() - startedAt) / 1000) });
  }, START_GRACE_MS);
  stuck.unref();

  log.info('starting', { namespace: o.namespace, class: o.className, instance });
  await state.start();
  log.info('caches synced', { services: state.services.size, servicesKeptWhole: state.sharingServices().length, endpointSlices: state.slices.size, pools: state.pools.size });
  enqueuePools();
  enqueueMembers(everything, true);
  if (!o.leaderElect) queue.resume();
  else {
    elector = startLeaderElection({
      rest: raw,
      log,
      namespace: o.namespace,
      name: 'sharedlb-controller',
      identity: instance,
      leaseSeconds: o.lease?.durationSeconds,
      renewDeadlineSeconds: o.lease?.renewDeadlineSeconds,
      retrySeconds: o.lease?.retrySeconds,
      onStartedLeading: () => {
        enqueuePools();
        enqueueMembers(everything, true);
        queue.resume();
      },
      onStoppedLeading: () => queue.pause(),
    });
  }
  // A resync is for what the watches missed; one still draining is not stacked
  // on: on a big cluster re-queuing every key faster than they drain starves
  // the keys that carry real changes.
  let drainedAtResync = -1;
  const resync = setInterval(() => {
    if (queue.depth > 0 && queue.drained === drainedAtResync) {
      resyncsSkipped.inc();
      log.info('resync skipped: the previous one has not drained', { queueDepth: queue.depth });
      return;
    }
    drainedAtResync = queue.drained;
    enqueuePools();
    enqueueMembers(everything, true);
  }, o.resyncSeconds * 1000);
  resync.unref();

  return {
    server,
    get leading() {
      return elector === null || elector.leading;
    },
    async stop() {
      clearInterval(resync);
      clearInterval(stuck);
      memory.stop();
      await queue.shutdown();
      await events.flush();
      await elector?.stop();
      await state.stop();
      server?.close();
      raw.close();
      sent.close();
      log.info('stopped');
    },
  };
}
