// The running controller: informers → keyed work queue → pool and member
// reconciles. Event handlers only enqueue keys; every reconcile reads the
// caches and converges.

import type { Server } from 'node:http';
import { hostname } from 'node:os';
import type { KubeConfig, V1Service } from '@kubernetes/client-node';
import { LB_POOL_LABEL } from '../allocator/annotations.ts';
import type { MemberOutcome } from '../allocator/placement/allocate.ts';
import { eventRecorder, type EventRecorder } from './events.ts';
import { kubeWatch } from './informer.ts';
import { rateLimited, restClient, type Rest } from './kube-rest.ts';
import { startLeaderElection, type Elector } from './leader.ts';
import { makeLogger, type Logger } from './logger.ts';
import { memberKey, parseKey, poolKey, type ReconcileKey } from './keys.ts';
import { gatewayApiUsable } from './gateway-state.ts';
import { gatewayWatch, type GatewayWatch } from './gateway-watches.ts';
import { reconcileGateway, reconcileGatewayClass, reconcileRoute, type GatewayContext } from './reconcile-gateway.ts';
import { showback, type Showback } from '../allocator/showback.ts';
import { currentCondition } from './member-status.ts';
import { costGauges, showbackGauges, countRequest, eventsDropped, informerRelists, informerRestarts, memoryGauges, queueMetrics, resyncsSkipped } from './metrics.ts';
import { watchMemory, type MemoryWatch } from './memory-watch.ts';
import { awaitsPlacement, reconcileMember } from './reconcile-member.ts';
import { liveReport } from '../allocator/report.ts';
import { liveLoadBalancer } from './cluster-read.ts';
import { serve, START_GRACE_MS } from './http-server.ts';
import { reconcilePool } from './reconcile-pool.ts';
import { isSharedLB } from './shared-lb.ts';
import { ClusterState, type StateHandlers } from './state.ts';
import { touchesSharing, watchHandlers, type Enqueue, type WatchOptions } from './watches.ts';
import { WorkQueue, type Outcome } from './workqueue.ts';
import { serviceKey } from '../allocator/members.ts';

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
  /** Serve Gateway API classes of controller sharedlb.io/gateway-controller: 'auto' when the API server serves the group at start. */
  gatewayApi?: 'auto' | 'on' | 'off';
}

export class NotLeaderError extends Error {}

/** Each namespace's share of the shared LBs' bills, from the caches; members told to wait cost nothing. */
function namespaceShowback(state: ClusterState): Showback {
  const pools = [...state.poolSet().pools.values()];
  const lbs = state.lbs().map(liveLoadBalancer);
  const members = state.sharingServices().flatMap((svc) => {
    const key = serviceKey(svc);
    const reason = currentCondition(svc)?.reason;
    return isSharedLB(svc, state.namespace) || (reason === undefined && state.holdings(key).length === 0) ? [] : [{ key, group: svc.metadata?.namespace ?? '', state: reason ?? 'Allocated' }];
  });
  return showback(liveReport(pools, lbs), pools, lbs, members, 'namespace');
}

/** Refuses a write unless this replica leads, within its renew deadline: asked before each attempt, retries included. */
function fence(elector: () => Elector | null): (method: string, path: string) => void {
  return (method, path) => {
    if (method !== 'GET' && elector()?.leading !== true) throw new NotLeaderError(`not the leader: refusing ${method} ${path}`);
  };
}

/** Memory pressure, as a Warning on every pool and a log line; its figures as gauges. */
function reportMemoryPressure(state: ClusterState, events: EventRecorder, log: Logger, instance: string): MemoryWatch {
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
  return memory;
}

/** Caches that cannot be listed (a CRD not installed, RBAC missing) hold everything back: say why, every minute. */
function warnWhileUnsynced(state: ClusterState, log: Logger, startedAt: number): NodeJS.Timeout {
  const stuck = setInterval(() => {
    if (state.synced) return void clearInterval(stuck);
    log.warn('caches not synced: nothing is reconciled until they are', { unsynced: state.unsynced(), waitingSeconds: Math.round((Date.now() - startedAt) / 1000) });
  }, START_GRACE_MS);
  stuck.unref();
  return stuck;
}

/**
 * A pass over every pool and member, for what the watches missed. One still
 * draining is not stacked on: on a big cluster re-queuing every key faster
 * than they drain starves the keys that carry real changes.
 */
function resyncEvery(seconds: number, queue: WorkQueue, everything: () => void, log: Logger): NodeJS.Timeout {
  let drainedAtResync = -1;
  const resync = setInterval(() => {
    if (queue.depth > 0 && queue.drained === drainedAtResync) {
      resyncsSkipped.inc();
      log.info('resync skipped: the previous one has not drained', { queueDepth: queue.depth });
      return;
    }
    drainedAtResync = queue.drained;
    everything();
  }, seconds * 1000);
  resync.unref();
  return resync;
}

/** How events reach the queue: pools coalesced, start-up and resync passes in the background. */
function enqueuer(queue: WorkQueue, state: () => ClusterState, o: Pick<ControllerOptions, 'namespace' | 'className'>): Enqueue & { members(filter?: (svc: V1Service) => boolean, background?: boolean): void } {
  const pool = (name: string | undefined): void => {
    // A pool's placement reads every member of it: a burst of member changes is
    // taken by a few pool reconciles, each placing many (see addCoalesced).
    if (name !== undefined) queue.addCoalesced(poolKey(name));
  };
  return {
    pool,
    allPools: () => {
      const names = new Set(state().pools.list().map((p) => p.metadata?.name as string));
      for (const lb of state().lbs()) names.add(lb.metadata?.labels?.[LB_POOL_LABEL] as string);
      for (const n of names) pool(n);
    },
    member: (key: string) => queue.add(memberKey(key)),
    /** `background`: a pass over every member (start-up, resync) rather than a change; it yields to changes. */
    members: (filter: (svc: V1Service) => boolean = () => true, background: boolean = false) => {
      const st = state();
      for (const svc of st.sharingServices()) {
        const key = serviceKey(svc);
        if (!isSharedLB(svc, o.namespace) && touchesSharing(svc, o.className, st.holdings(key).length > 0) && filter(svc)) queue.add(memberKey(key), background);
      }
    },
  };
}

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

/**
 * The API clients: `raw` for the caches' lists and the Lease, never held
 * back (a renewal must never wait behind a burst of writes); `sent` for
 * reconciles and events, fenced — each attempt, retries too, goes only
 * while this replica leads — and `rest`, that one rate-limited with --qps.
 */
function clients(o: ControllerOptions, elector: () => Elector | null): { raw: Rest; sent: Rest; rest: Rest } {
  const options = { userAgent: 'sharedlb-controller', maxSockets: Math.max(8, o.concurrency * 2), onResponse: countRequest };
  const raw = restClient(o.kc, options);
  const sent = o.leaderElect ? restClient(o.kc, { ...options, beforeAttempt: fence(elector) }) : raw;
  return { raw, sent, rest: o.qps > 0 ? rateLimited(sent, o.qps) : sent };
}

/**
 * One queue for both kinds of key, paused until the caches have synced (as
 * client-go's WaitForCacheSync: a pool placed while its LBs are still
 * unlisted would see its members as new; a member reconciled before its LB,
 * as holding nothing).
 */
function reconcileQueue(o: ControllerOptions, log: Logger, reconcile: (k: ReconcileKey) => Promise<Outcome>): WorkQueue {
  const queue = new WorkQueue({
    name: 'sharedlb',
    concurrency: o.concurrency,
    coalesceMs: POOL_PLACEMENT_GAP_MS,
    metrics: queueMetrics('sharedlb', (key) => parseKey(key).kind),
    handler: (key) => reconcile(parseKey(key)),
    onError: (key, error, retryInMs) => log.warn('reconcile failed; will retry', { key, error: error instanceof Error ? error.message : String(error), retryInMs }),
  });
  queue.pause();
  return queue;
}

/** Informer restarts and relists, counted and logged: a stuck watch is seen, not silent. */
function informerObserver(log: Logger): Pick<WatchOptions, 'onRelist' | 'onRestart'> {
  return {
    onRelist: (informer) => informerRelists.inc({ informer }),
    onRestart: (informer, reason, error) => {
      informerRestarts.inc({ informer });
      log.warn('informer restarted', { informer, reason, error: error instanceof Error ? error.message : String(error) });
    },
  };
}

/** Replicas take turns on the Lease; a new leader looks at everything (its predecessor may have stopped part way). */
function elect(o: ControllerOptions, raw: Rest, log: Logger, instance: string, queue: WorkQueue, everything: () => void): Elector {
  return startLeaderElection({
    rest: raw, log, namespace: o.namespace, name: 'sharedlb-controller', identity: instance,
    leaseSeconds: o.lease?.durationSeconds, renewDeadlineSeconds: o.lease?.renewDeadlineSeconds, retrySeconds: o.lease?.retrySeconds,
    onStartedLeading: () => {
      everything();
      queue.resume();
    },
    onStoppedLeading: () => queue.pause(),
  });
}

function dispatch(k: ReconcileKey, pool: Parameters<typeof reconcilePool>[0], member: Parameters<typeof reconcileMember>[0], gw: GatewayContext | null): Promise<Outcome> {
  if (k.kind === 'pool') return reconcilePool(pool, k.pool);
  if (k.kind === 'member') return reconcileMember(member, k.member);
  // Keys of the Gateway API arrive only from its informers, which run only when it is served.
  if (gw === null) return Promise.resolve(undefined);
  if (k.kind === 'gatewayclass') return reconcileGatewayClass(gw, k.name);
  if (k.kind === 'gateway') return reconcileGateway(gw, k.gateway);
  return reconcileRoute(gw, k.routeKind, k.route);
}

/** The Gateway API side, when it is asked for, or (auto) when the API server serves it. */
async function gatewaySide(o: ControllerOptions, raw: Rest, queue: WorkQueue, log: Logger): Promise<GatewayWatch | null> {
  const mode = o.gatewayApi ?? 'auto';
  if (mode === 'off') return null;
  const usable = await gatewayApiUsable(raw);
  if (usable !== true) {
    if (mode === 'on') throw new Error(`--gateway-api=on, but ${usable}`);
    log.info('Gateway API not served: no GatewayClass is reconciled', { mode, why: usable });
    return null;
  }
  const { onRelist: relist, onRestart: restart } = informerObserver(log);
  const observer = { relist, restart };
  return gatewayWatch(kubeWatch(o.kc), raw, { add: (k, background) => queue.add(k, background) }, Math.max(30, o.relistSeconds), observer);
}

/** Service, slice, pool and namespace events reach the Gateway side too; a pool's only when its spec changed (not at its status writes). */
function withGateways(h: StateHandlers, gw: GatewayWatch | null): StateHandlers {
  if (gw === null) return h;
  const generations = new Map<string, number | undefined>();
  return {
    ...h,
    service: (e, svc, members) => {
      gw.service(svc);
      h.service(e, svc, members);
    },
    slice: (e, s) => {
      gw.slice(s);
      h.slice(e, s);
    },
    pool: (e, p) => {
      const name = p.metadata?.name as string;
      if (e === 'delete' || generations.get(name) !== p.metadata?.generation || !generations.has(name)) gw.all();
      if (e === 'delete') generations.delete(name);
      else generations.set(name, p.metadata?.generation);
      h.pool(e, p);
    },
    namespace: (e, n) => {
      if (e !== 'add') gw.all();
      h.namespace(e, n);
    },
  };
}

export async function startController(o: ControllerOptions): Promise<Controller> {
  const log = makeLogger();
  const instance = `${hostname()}-${process.pid}`;
  let elector: Elector | null = null;
  const { raw, sent, rest } = clients(o, () => elector);
  const events = eventRecorder(rest, log, instance, {
    seriesEveryMs: (o.eventSeriesSeconds ?? 60) * 1000,
    onDrop: (type) => eventsDropped.inc({ type }),
    busy: () => queue.busy(1000),
  });
  const outcomes = new Map<string, MemberOutcome>();

  // Handlers need the queue and the queue's reconciles need the state.
  let state: ClusterState;
  const queue = reconcileQueue(o, log, (k) => dispatch(k, poolCtx, memberCtx, gwCtx));
  const enqueue = enqueuer(queue, () => state, o);
  const gw = await gatewaySide(o, raw, queue, log);
  state = new ClusterState(kubeWatch(o.kc), raw, o.namespace, o.className, withGateways(watchHandlers({
    state: () => state, namespace: o.namespace, className: o.className, enqueue,
    awaitsPlacement: (key, svc) => awaitsPlacement(memberCtx, key, svc),
    ...informerObserver(log),
  }), gw), Math.max(30, o.relistSeconds));

  const report = () => liveReport([...state.poolSet().pools.values()], state.lbs().map(liveLoadBalancer));
  const shares = () => namespaceShowback(state);
  costGauges(report);
  showbackGauges(shares);
  const memory = reportMemoryPressure(state, events, log, instance);

  const moves = new Map<string, string>();
  const poolCtx = { rest, log, state, events, className: o.className, nodePortRange: o.nodePortRange, outcomes, moves, enqueueMember: enqueue.member };
  const memberCtx = { rest, log, state, events, className: o.className, outcomes, moves, waitingSince: new Map<string, number>() };
  const gwCtx: GatewayContext | null = gw === null ? null : { rest, log, state, gateways: gw.state, events };

  const startedAt = Date.now();
  const server = o.listen === null ? null : await serve(o.listen, {
    unsynced: () => [...state.unsynced(), ...(gw?.state.unsynced() ?? [])],
    startingForMs: () => Date.now() - startedAt,
    role: () => (elector === null || elector.leading ? 'leader' : 'follower'),
    report,
    showback: shares,
  });
  const stuck = warnWhileUnsynced(state, log, startedAt);

  log.info('starting', { namespace: o.namespace, class: o.className, instance });
  await state.start();
  await gw?.state.start();
  log.info('caches synced', { services: state.services.size, servicesKeptWhole: state.sharingServices().length, endpointSlices: state.slices.size, pools: state.pools.size });
  const everything = (): void => {
    enqueue.allPools();
    enqueue.members(undefined, true);
    gw?.all(true);
  };
  everything();
  if (o.leaderElect) elector = elect(o, raw, log, instance, queue, everything);
  else queue.resume();
  const resync = resyncEvery(o.resyncSeconds, queue, everything, log);

  // Stopped in this order: no new work, the work under way finished, its events written, the Lease released.
  return running(server, () => elector, [
    () => clearInterval(resync), () => clearInterval(stuck), () => memory.stop(), () => queue.shutdown(), () => events.flush(),
    () => elector?.stop(), () => state.stop(), () => gw?.state.stop(), () => server?.close(), () => raw.close(), () => sent.close(), () => log.info('stopped'),
  ]);
}

function running(server: Server | null, elector: () => Elector | null, stops: Array<() => unknown>): Controller {
  return {
    server,
    get leading() {
      return elector()?.leading ?? true;
    },
    async stop() {
      for (const s of stops) await s();
    },
  };
}
