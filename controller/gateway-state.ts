// The Gateway API side of the read cache: GatewayClasses, Gateways, the
// routes sharedlb serves and ReferenceGrants, each by list+watch, with the
// index the reconciles need (which routes name which Gateway, which
// Gateways forward to which Service). Started only where the API server
// serves gateway.networking.k8s.io (see gatewayApiUsable).

import { parentRefOf } from '../gateway/model.ts';
import { CONTROLLER_NAME, GATEWAY_GROUP, objectKey, type GatewayClassObject, type GatewayObject, type ReferenceGrantObject, ROUTE_KINDS, type RouteKind, type RouteObject } from '../gateway/types.ts';
import { ResilientInformer, type InformerEvent, type WatchFn } from './informer.ts';
import { ApiError, type Rest } from './kube-rest.ts';
import { entry } from '../allocator/collections.ts';

const V1 = `/apis/${GATEWAY_GROUP}/v1`;
const ROUTE_PATHS: Record<RouteKind, string> = { TCPRoute: `${V1}/tcproutes`, UDPRoute: `${V1}/udproutes`, HTTPRoute: `${V1}/httproutes` };
export const GATEWAY_PATHS = { classes: `${V1}/gatewayclasses`, gateways: `${V1}/gateways`, grants: `/apis/${GATEWAY_GROUP}/v1beta1/referencegrants`, routes: ROUTE_PATHS };

/**
 * Whether the Gateway API can be served here: the API server serves its v1
 * group (the CRDs are installed), and this controller may list it (the
 * grants of manifests/gateway-api are bound). Otherwise, why not.
 */
export async function gatewayApiUsable(rest: Rest): Promise<true | string> {
  try {
    const r = await rest.get<{ resources?: Array<{ name: string }> }>(V1);
    const names = new Set((r.resources ?? []).map((x) => x.name));
    const missing = ['gatewayclasses', 'gateways', 'tcproutes', 'udproutes'].filter((n) => !names.has(n));
    if (missing.length > 0) return `the API server does not serve ${missing.join(', ')} of ${GATEWAY_GROUP}/v1: install the Gateway API's standard CRDs`;
    await rest.get(`${GATEWAY_PATHS.classes}?limit=1`);
    return true;
  } catch (e) {
    if (e instanceof ApiError && e.status === 404) return `the API server does not serve ${GATEWAY_GROUP}/v1: install the Gateway API's standard CRDs`;
    if (e instanceof ApiError && e.status === 403) return 'the controller may not list GatewayClasses: apply manifests/gateway-api (its ClusterRole and binding)';
    throw e;
  }
}

export interface GatewayEvents {
  gatewayClass(name: string): void;
  gateway(key: string): void;
  route(kind: RouteKind, key: string): void;
  /** A ReferenceGrant changed: what it permits may concern any route or Gateway. */
  grants(): void;
  restart(informer: string, reason: string, error: unknown): void;
  relist(informer: string): void;
}

const routeKey = (kind: RouteKind, key: string): string => `${kind}/${key}`;

export class GatewayState {
  readonly classes: ResilientInformer<GatewayClassObject>;
  readonly gateways: ResilientInformer<GatewayObject>;
  readonly routes: Record<RouteKind, ResilientInformer<RouteObject>>;
  readonly grants: ResilientInformer<ReferenceGrantObject>;
  /** Gateway key → route keys (kind/ns/name) naming it, as of each route's last event. */
  private readonly byGateway = new Map<string, Set<string>>();
  private readonly parentsOf = new Map<string, string[]>();
  /** Gateway key → the backend Services (ns/name) its last reconcile forwarded to or looked for, and back: every Service and slice event asks. */
  private readonly backendsOf = new Map<string, Set<string>>();
  private readonly usersOf = new Map<string, Set<string>>();

  constructor(watch: WatchFn, rest: Rest, h: GatewayEvents, relistSeconds = 300) {
    const common = { watch, rest, relistSeconds, onRestart: h.restart, onRelist: h.relist };
    this.classes = new ResilientInformer<GatewayClassObject>({ ...common, name: 'gatewayclasses', path: GATEWAY_PATHS.classes, onEvent: (_e, c) => h.gatewayClass(c.metadata?.name as string) });
    this.gateways = new ResilientInformer<GatewayObject>({ ...common, name: 'gateways', path: GATEWAY_PATHS.gateways, onEvent: (_e, g) => h.gateway(objectKey(g)) });
    const routeInformer = (kind: RouteKind): ResilientInformer<RouteObject> => new ResilientInformer<RouteObject>({
      ...common, name: `${kind.toLowerCase()}s`, path: ROUTE_PATHS[kind],
      onEvent: (e, r) => {
        r.kind = kind;
        for (const gw of this.indexRoute(e, r)) h.gateway(gw);
        h.route(kind, objectKey(r));
      },
    });
    this.routes = { TCPRoute: routeInformer('TCPRoute'), UDPRoute: routeInformer('UDPRoute'), HTTPRoute: routeInformer('HTTPRoute') };
    this.grants = new ResilientInformer<ReferenceGrantObject>({ ...common, name: 'referencegrants', path: GATEWAY_PATHS.grants, onEvent: () => h.grants() });
  }

  private all(): Array<ResilientInformer<never>> {
    return [this.classes, this.gateways, this.grants, ...ROUTE_KINDS.map((k) => this.routes[k])] as unknown as Array<ResilientInformer<never>>;
  }

  async start(): Promise<void> {
    await Promise.all(this.all().map((i) => i.start()));
  }

  async stop(): Promise<void> {
    await Promise.all(this.all().map((i) => i.stop()));
  }

  get synced(): boolean {
    return this.all().every((i) => i.synced);
  }

  unsynced(): string[] {
    return this.all().filter((i) => !i.synced).map((i) => `${i.name}: ${i.lastError ?? 'listing'}`);
  }

  /** Index a route by the Gateways it names; returns every Gateway it named before or names now. */
  private indexRoute(e: InformerEvent, r: RouteObject): string[] {
    const key = routeKey(r.kind, objectKey(r));
    const before = this.parentsOf.get(key) ?? [];
    const after = e === 'delete' ? [] : [...new Set((r.spec?.parentRefs ?? []).map((p) => parentRefOf(r, p)).filter((p) => p.group === GATEWAY_GROUP && p.kind === 'Gateway').map((p) => `${p.namespace}/${p.name}`))];
    for (const g of before) this.byGateway.get(g)?.delete(key);
    for (const g of after) entry(this.byGateway, g, () => new Set<string>()).add(key);
    if (after.length > 0) this.parentsOf.set(key, after);
    else this.parentsOf.delete(key);
    return [...new Set([...before, ...after])];
  }

  /** The class's controller is sharedlb's. */
  ours(className: string | undefined): GatewayClassObject | undefined {
    const c = className === undefined ? undefined : this.classes.get(className);
    return c?.spec?.controllerName === CONTROLLER_NAME ? c : undefined;
  }

  gateway(key: string): GatewayObject | undefined {
    const [ns, name] = key.split('/') as [string, string];
    return this.gateways.get(name, ns);
  }

  route(kind: RouteKind, key: string): RouteObject | undefined {
    const [ns, name] = key.split('/') as [string, string];
    const r = this.routes[kind].get(name, ns);
    if (r !== undefined) r.kind = kind;
    return r;
  }

  /** Routes that name the Gateway in a parentRef. */
  routesOf(gatewayKey: string): RouteObject[] {
    return [...(this.byGateway.get(gatewayKey) ?? [])].flatMap((k) => {
      const [kind, ns, name] = k.split('/') as [RouteKind, string, string];
      const r = this.route(kind, `${ns}/${name}`);
      return r === undefined ? [] : [r];
    });
  }

  gatewaysOfClass(className: string): string[] {
    return this.gateways.list().filter((g) => g.spec?.gatewayClassName === className).map(objectKey);
  }

  allRoutes(): RouteObject[] {
    return ROUTE_KINDS.flatMap((k) => this.routes[k].list().map((r) => Object.assign(r, { kind: k })));
  }

  setBackends(gatewayKey: string, services: Set<string>): void {
    for (const svc of this.backendsOf.get(gatewayKey) ?? []) {
      const users = this.usersOf.get(svc);
      users?.delete(gatewayKey);
      if (users?.size === 0) this.usersOf.delete(svc);
    }
    if (services.size === 0) this.backendsOf.delete(gatewayKey);
    else this.backendsOf.set(gatewayKey, services);
    for (const svc of services) entry(this.usersOf, svc, () => new Set<string>()).add(gatewayKey);
  }

  /** Gateways whose last reconcile read the Service (as a backend, found or not). */
  gatewaysUsing(service: string): string[] {
    return [...(this.usersOf.get(service) ?? [])];
  }
}
