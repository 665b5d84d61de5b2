// Gateway API reconciles in-process: the fake API server, the real caches,
// the real pool, member and Gateway reconciles, converged to a fixed point.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { GatewayClassObject, GatewayObject, RouteObject } from '../gateway/types.ts';
import { memberServiceName } from '../gateway/member-service.ts';
import { memberSlice, NS, poolObject, startHarness, type Harness } from './testing/harness.ts';
import type { Obj } from './testing/fake-api.ts';

const APP = 'apps';
const gatewayClass = (name: string, pool = 'gw'): Obj => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'GatewayClass', metadata: { name },
  spec: { controllerName: 'sharedlb.io/gateway-controller', parametersRef: { group: 'sharedlb.io', kind: 'LoadBalancerPool', name: pool } },
});
const gateway = (name: string, listeners: Array<{ name: string; port: number; protocol?: string }>, ns = APP, cls = 'shared'): Obj => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'Gateway', metadata: { name, namespace: ns },
  spec: { gatewayClassName: cls, listeners: listeners.map((l) => ({ protocol: 'TCP', ...l })) },
});
const tcpRoute = (name: string, gw: string, backends: Array<{ name: string; port: number; namespace?: string }>, extra: { sectionName?: string; created?: string } = {}): Obj => ({
  apiVersion: 'gateway.networking.k8s.io/v1', kind: 'TCPRoute', metadata: { name, namespace: APP, ...(extra.created ? { creationTimestamp: extra.created } : {}) },
  spec: { parentRefs: [{ name: gw, ...(extra.sectionName ? { sectionName: extra.sectionName } : {}) }], rules: [{ backendRefs: backends }] },
});
const backend = (name: string, port = 8080, ns = APP): Obj => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { type: 'ClusterIP', selector: { app: name }, ports: [{ name: 'tcp', port, targetPort: 9000, protocol: 'TCP' }] },
});
const backendSlice = (name: string, ips: string[], ns = APP): Obj => memberSlice(ns, name, ips, [{ name: 'tcp', port: 9000 }]);
const namespaceObj = (name: string, labels: Record<string, string> = {}): Obj => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: { 'kubernetes.io/metadata.name': name, ...labels } } });
const POOL = poolObject('gw', { provider: 'generic', maxPortsPerLB: 4, portRange: { from: 30000, to: 30100 } });

const gw = (h: Harness, name: string, ns = APP): GatewayObject => h.api.object('Gateway', ns, name) as GatewayObject;
const cond = (conds: Array<{ type: string; status: string; reason: string }> | undefined, type: string): { status: string; reason: string } | undefined => conds?.find((c) => c.type === type);
const lbs = (h: Harness): V1Service[] => h.api.list('Service', NS) as V1Service[];
const lbSlices = (h: Harness): V1EndpointSlice[] => h.api.list('EndpointSlice', NS) as unknown as V1EndpointSlice[];

async function harness(objs: Obj[]): Promise<Harness> {
  return startHarness([namespaceObj(APP), POOL, gatewayClass('shared'), ...objs], { gateways: true });
}

describe('a Gateway on a shared LB', () => {
  it('its listeners become ports of a member Service placed on a shared LB; the route\'s backend endpoints are mirrored under each port; status says where', async () => {
    const h = await harness([gateway('edge', [{ name: 'kafka', port: 9092 }, { name: 'mqtt', port: 1883 }]), tcpRoute('to-kafka', 'edge', [{ name: 'kafka', port: 8080 }], { sectionName: 'kafka' }), backend('kafka'), backendSlice('kafka', ['10.0.0.1', '10.0.0.2'])]);
    try {
      await h.converge();
      const member = h.service(APP, memberServiceName('edge'));
      assert.deepEqual(member?.spec?.ports?.map((p) => [p.name, p.port]), [['tcp-1883', 1883], ['tcp-9092', 9092]]);
      assert.equal(member?.metadata?.annotations?.['sharedlb.io/port-policy'], 'preserve');
      const [lb] = lbs(h);
      assert.deepEqual(lb?.spec?.ports?.map((p) => p.port).sort(), [1883, 9092]);
      const kafkaPort = lb?.spec?.ports?.find((p) => p.port === 9092)?.name;
      const mirrored = lbSlices(h).filter((s) => s.ports?.some((p) => p.name === kafkaPort));
      assert.deepEqual(mirrored.flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses)).sort(), ['10.0.0.1', '10.0.0.2']);
      assert.deepEqual(mirrored.flatMap((s) => s.ports?.map((p) => p.port)), [9000]);
      const g = gw(h, 'edge');
      assert.equal(cond(g.status?.conditions, 'Programmed')?.status, 'True');
      assert.deepEqual(g.status?.addresses, [{ type: 'IPAddress', value: lb?.status?.loadBalancer?.ingress?.[0]?.ip }]);
      assert.deepEqual(g.status?.listeners?.map((l) => [l.name, l.attachedRoutes]), [['kafka', 1], ['mqtt', 0]]);
      const r = h.api.object('TCPRoute', APP, 'to-kafka') as RouteObject;
      assert.deepEqual(r.status?.parents?.[0]?.conditions.map((c) => [c.type, c.status]), [['Accepted', 'True'], ['ResolvedRefs', 'True']]);
      // A pod more behind the backend reaches the LB.
      h.api.seed(backendSlice('kafka', ['10.0.0.1', '10.0.0.2', '10.0.0.3']));
      await h.converge();
      assert.equal(lbSlices(h).filter((s) => s.ports?.some((p) => p.name === kafkaPort)).flatMap((s) => s.endpoints ?? []).length, 3);
    } finally {
      await h.stop();
    }
  });

  it('Gateways whose listeners do not clash share LBs: 6 Gateways of 2 listeners each on LBs of 4 ports take 3 LBs', async () => {
    const gws = Array.from({ length: 6 }, (_, i) => gateway(`g${i}`, [{ name: 'a', port: 9000 + 2 * i }, { name: 'b', port: 9001 + 2 * i }]));
    const h = await harness(gws);
    try {
      await h.converge();
      assert.equal(lbs(h).length, 3);
      for (let i = 0; i < 6; i++) assert.equal(cond(gw(h, `g${i}`).status?.conditions, 'Programmed')?.status, 'True');
    } finally {
      await h.stop();
    }
  });

  it('Gateways whose listeners clash go to different LBs, each keeping its port', async () => {
    const h = await harness([gateway('one', [{ name: 'a', port: 9300 }]), gateway('two', [{ name: 'a', port: 9300 }])]);
    try {
      await h.converge();
      assert.equal(lbs(h).length, 2);
      const addrs = ['one', 'two'].map((n) => gw(h, n).status?.addresses?.[0]?.value);
      assert.notEqual(addrs[0], addrs[1]);
      for (const lb of lbs(h)) assert.deepEqual(lb.spec?.ports?.map((p) => p.port), [9300]);
    } finally {
      await h.stop();
    }
  });

  it('a deleted Gateway frees its ports at once: the next Gateway asking for them gets them on the same LB', async () => {
    const h = await harness([gateway('old', [{ name: 'a', port: 9300 }])]);
    try {
      await h.converge();
      const before = gw(h, 'old').status?.addresses?.[0]?.value;
      h.api.remove('Gateway', APP, 'old');
      await h.converge();
      assert.equal(h.service(APP, memberServiceName('old')), undefined);
      h.api.seed(gateway('new', [{ name: 'a', port: 9300 }]));
      await h.converge();
      assert.equal(gw(h, 'new').status?.addresses?.[0]?.value, before);
    } finally {
      await h.stop();
    }
  });

  it('the oldest route on a listener is served; the newer one is Accepted and counted, not served', async () => {
    const h = await harness([
      gateway('edge', [{ name: 'a', port: 9300 }]),
      tcpRoute('newer', 'edge', [{ name: 'two', port: 8080 }], { created: '2026-01-02T00:00:00Z' }),
      tcpRoute('older', 'edge', [{ name: 'one', port: 8080 }], { created: '2026-01-01T00:00:00Z' }),
      backend('one'), backendSlice('one', ['10.0.0.1']), backend('two'), backendSlice('two', ['10.0.0.2']),
    ]);
    try {
      await h.converge();
      assert.deepEqual(lbSlices(h).flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses)), ['10.0.0.1']);
      assert.equal(gw(h, 'edge').status?.listeners?.[0]?.attachedRoutes, 2);
      assert.equal(cond((h.api.object('TCPRoute', APP, 'newer') as RouteObject).status?.parents?.[0]?.conditions, 'Accepted')?.status, 'True');
    } finally {
      await h.stop();
    }
  });
});

describe('bad input ends in a condition, and loses nothing', () => {
  it('a backend that does not exist: ResolvedRefs False BackendNotFound; the port opens with no endpoints, other routes are untouched', async () => {
    const h = await harness([
      gateway('edge', [{ name: 'a', port: 9300 }, { name: 'b', port: 9301 }]),
      tcpRoute('broken', 'edge', [{ name: 'nope', port: 8080 }], { sectionName: 'a' }),
      tcpRoute('fine', 'edge', [{ name: 'one', port: 8080 }], { sectionName: 'b' }),
      backend('one'), backendSlice('one', ['10.0.0.1']),
    ]);
    try {
      await h.converge();
      assert.equal(cond((h.api.object('TCPRoute', APP, 'broken') as RouteObject).status?.parents?.[0]?.conditions, 'ResolvedRefs')?.reason, 'BackendNotFound');
      assert.deepEqual(lbSlices(h).flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses)), ['10.0.0.1']);
      // The Service appears: the route resolves and its port fills.
      h.api.seed(backend('nope'), backendSlice('nope', ['10.0.0.9']));
      await h.converge();
      assert.equal(cond((h.api.object('TCPRoute', APP, 'broken') as RouteObject).status?.parents?.[0]?.conditions, 'ResolvedRefs')?.status, 'True');
      assert.deepEqual(lbSlices(h).flatMap((s) => (s.endpoints ?? []).flatMap((e) => e.addresses)).sort(), ['10.0.0.1', '10.0.0.9']);
    } finally {
      await h.stop();
    }
  });

  it('a class naming a pool that does not exist is not Accepted, and its Gateways get nothing', async () => {
    const h = await harness([gatewayClass('nowhere', 'missing'), gateway('edge', [{ name: 'a', port: 9300 }], APP, 'nowhere')]);
    try {
      await h.converge();
      const c = h.api.object('GatewayClass', undefined, 'nowhere') as GatewayClassObject;
      assert.equal(cond(c.status?.conditions, 'Accepted')?.reason, 'InvalidParameters');
      assert.equal(h.service(APP, memberServiceName('edge')), undefined);
      assert.equal(lbs(h).length, 0);
    } finally {
      await h.stop();
    }
  });

  it('its class\'s pool deleted: the Gateway, its member Service and its LB stay exactly as they were', async () => {
    const h = await harness([gateway('edge', [{ name: 'a', port: 9300 }]), tcpRoute('r', 'edge', [{ name: 'one', port: 8080 }]), backend('one'), backendSlice('one', ['10.0.0.1'])]);
    try {
      await h.converge();
      const before = { gw: gw(h, 'edge').status, svc: h.service(APP, memberServiceName('edge'))?.spec, lb: lbs(h).map((l) => l.spec?.ports), route: (h.api.object('TCPRoute', APP, 'r') as RouteObject).status };
      h.api.remove('LoadBalancerPool', undefined, 'gw');
      await h.converge();
      assert.equal(cond((h.api.object('GatewayClass', undefined, 'shared') as GatewayClassObject).status?.conditions, 'Accepted')?.status, 'False');
      assert.deepEqual({ gw: gw(h, 'edge').status, svc: h.service(APP, memberServiceName('edge'))?.spec, lb: lbs(h).map((l) => l.spec?.ports), route: (h.api.object('TCPRoute', APP, 'r') as RouteObject).status }, before);
    } finally {
      await h.stop();
    }
  });

  it('a namespace the class\'s pool does not admit: the Gateway is not Programmed and says why; it widens nothing', async () => {
    const h = await startHarness([
      namespaceObj(APP), namespaceObj('tenant'),
      poolObject('gw', { provider: 'generic', maxPortsPerLB: 4, portRange: { from: 30000, to: 30100 }, namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': APP } } }),
      gatewayClass('shared'), gateway('sneaky', [{ name: 'a', port: 9300 }], 'tenant'),
    ], { gateways: true });
    try {
      await h.converge();
      const g = gw(h, 'sneaky', 'tenant');
      assert.equal(cond(g.status?.conditions, 'Programmed')?.status, 'False');
      assert.equal(cond(g.status?.conditions, 'Programmed')?.reason, 'Invalid');
      assert.equal(lbs(h).length, 0);
    } finally {
      await h.stop();
    }
  });

  it('spec.addresses is refused: Accepted False UnsupportedAddress, and no member Service', async () => {
    const h = await harness([{ ...gateway('pinned', [{ name: 'a', port: 9300 }]), spec: { gatewayClassName: 'shared', listeners: [{ name: 'a', port: 9300, protocol: 'TCP' }], addresses: [{ type: 'IPAddress', value: '192.0.2.1' }] } }]);
    try {
      await h.converge();
      assert.equal(cond(gw(h, 'pinned').status?.conditions, 'Accepted')?.reason, 'UnsupportedAddress');
      assert.equal(h.service(APP, memberServiceName('pinned')), undefined);
    } finally {
      await h.stop();
    }
  });
});
