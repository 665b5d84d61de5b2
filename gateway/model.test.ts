import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyseListeners, attach, gatewayConditions, granted, l7Needs, listenerStatuses, type Lookups, portPlans, resolveBackends, type RouteOnGateway } from './model.ts';
import type { GatewayObject, Listener, ReferenceGrantObject, RouteObject } from './types.ts';

const look = (o: Partial<Lookups> = {}): Lookups => ({
  grants: [],
  namespaceLabels: (ns) => ({ 'kubernetes.io/metadata.name': ns, ...(ns === 'team' ? { tier: 'web' } : {}) }),
  service: (_ns, name) => (name.startsWith('missing') ? undefined : { ports: [{ name: 'p', port: 8080, protocol: 'TCP' }, { name: 'dns', port: 53, protocol: 'UDP' }] }),
  secret: (_ns, name) => (name === 'good' ? 'valid' : name === 'bad' ? 'malformed' : 'missing'),
  ...o,
});

const gw = (listeners: Listener[], extra: Partial<NonNullable<GatewayObject['spec']>> = {}): GatewayObject => ({
  metadata: { name: 'g', namespace: 'infra', generation: 3, uid: 'u' },
  spec: { gatewayClassName: 'c', listeners, ...extra },
});

const route = (kind: RouteObject['kind'], name: string, spec: RouteObject['spec'], created = '2026-01-01T00:00:00Z', ns = 'infra'): RouteObject => ({
  kind, metadata: { name, namespace: ns, generation: 2, creationTimestamp: created as unknown as Date }, spec,
});

const tcp = (name: string, port: number, more: Partial<Listener> = {}): Listener => ({ name, port, protocol: 'TCP', ...more });
const programmed = { programmed: true, reason: 'Programmed', message: '', addresses: [{ type: 'IPAddress' as const, value: '198.51.100.1' }] };

describe('listeners', () => {
  it('an unknown protocol is not accepted; HTTP beside it still is, and the Gateway says ListenersNotValid', () => {
    const g = gw([{ name: 'http', port: 80, protocol: 'HTTP' }, { name: 'bad', port: 81, protocol: 'INVALID' }]);
    const ls = analyseListeners(g, look());
    const st = listenerStatuses(g, ls, new Map(), programmed);
    assert.deepEqual(st[0]?.supportedKinds, [{ group: 'gateway.networking.k8s.io', kind: 'HTTPRoute' }]);
    assert.deepEqual(st[1]?.supportedKinds, []);
    assert.equal(st[1]?.conditions.find((c) => c.type === 'Accepted')?.reason, 'UnsupportedProtocol');
    const [acc] = gatewayConditions(g, ls, programmed);
    assert.equal(acc?.status, 'True');
    assert.equal(acc?.reason, 'ListenersNotValid');
    assert.equal(gatewayConditions(gw([{ name: 'bad', port: 1, protocol: 'INVALID' }]), analyseListeners(gw([{ name: 'bad', port: 1, protocol: 'INVALID' }]), look()), programmed)[0]?.status, 'False');
  });

  it('route kinds the protocol cannot serve: ResolvedRefs InvalidRouteKinds, the valid ones kept', () => {
    const g = gw([{ name: 'http', port: 80, protocol: 'HTTP', allowedRoutes: { kinds: [{ kind: 'InvalidRoute' }, { kind: 'HTTPRoute' }] } }]);
    const st = listenerStatuses(g, analyseListeners(g, look()), new Map(), programmed)[0];
    assert.deepEqual(st?.supportedKinds.map((k) => k.kind), ['HTTPRoute']);
    assert.equal(st?.conditions.find((c) => c.type === 'ResolvedRefs')?.reason, 'InvalidRouteKinds');
    assert.equal(st?.conditions.find((c) => c.type === 'Programmed')?.status, 'False');
  });

  it('HTTPS certificates: missing, malformed, wrong kind and cross-namespace without a grant are refused; with a grant, resolved', () => {
    const https = (ref: NonNullable<NonNullable<Listener['tls']>['certificateRefs']>[number]): GatewayObject => gw([{ name: 'https', port: 443, protocol: 'HTTPS', tls: { certificateRefs: [ref] } }]);
    const reason = (g: GatewayObject, l = look()): string | undefined => analyseListeners(g, l)[0]?.unresolved?.reason;
    assert.equal(reason(https({ name: 'nope' })), 'InvalidCertificateRef');
    assert.equal(reason(https({ name: 'bad' })), 'InvalidCertificateRef');
    assert.equal(reason(https({ name: 'good', kind: 'ConfigMap' })), 'InvalidCertificateRef');
    assert.equal(reason(https({ name: 'good', group: 'example.com' })), 'InvalidCertificateRef');
    assert.equal(reason(https({ name: 'good' })), undefined);
    assert.equal(reason(https({ name: 'good', namespace: 'certs' })), 'RefNotPermitted');
    const grant: ReferenceGrantObject = { metadata: { namespace: 'certs' }, spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'Gateway', namespace: 'infra' }], to: [{ group: '', kind: 'Secret' }] } };
    assert.equal(reason(https({ name: 'good', namespace: 'certs' }), look({ grants: [grant] })), undefined);
  });

  it('one port, one transport, one set of backends: two TCP listeners on a port conflict; TCP and UDP on it do not; HTTP listeners with distinct hostnames share it', () => {
    const ls = analyseListeners(gw([tcp('a', 9000), tcp('b', 9000), { name: 'u', port: 9000, protocol: 'UDP' }, { name: 'h1', port: 80, protocol: 'HTTP', hostname: 'a.example' }, { name: 'h2', port: 80, protocol: 'HTTP', hostname: 'b.example' }, { name: 's', port: 80, protocol: 'HTTPS', tls: { certificateRefs: [{ name: 'good' }] } }]), look());
    assert.deepEqual(ls.map((l) => l.conflicted?.reason ?? null), ['ProtocolConflict', 'ProtocolConflict', null, 'ProtocolConflict', 'ProtocolConflict', 'ProtocolConflict']);
    const ok = analyseListeners(gw([{ name: 'h1', port: 80, protocol: 'HTTP', hostname: 'a.example' }, { name: 'h2', port: 80, protocol: 'HTTP', hostname: 'b.example' }, { name: 'h3', port: 80, protocol: 'HTTP', hostname: 'b.example' }]), look());
    assert.deepEqual(ok.map((l) => l.conflicted?.reason ?? null), [null, 'HostnameConflict', 'HostnameConflict']);
  });

  it('spec.addresses is refused with a reason, never silently dropped', () => {
    const g = gw([tcp('a', 9000)], { addresses: [{ type: 'IPAddress', value: '1.2.3.4' }] });
    const [acc, prog] = gatewayConditions(g, analyseListeners(g, look()), programmed);
    assert.equal(acc?.reason, 'UnsupportedAddress');
    assert.equal(prog?.status, 'False');
  });
});

describe('attachment', () => {
  const g = gw([tcp('a', 9300), tcp('b', 9301), { name: 'u', port: 5300, protocol: 'UDP' }, { name: 'sel', port: 9302, protocol: 'TCP', allowedRoutes: { namespaces: { from: 'Selector', selector: { matchLabels: { tier: 'web' } } } } }]);
  const ls = analyseListeners(g, look());
  const r = route('TCPRoute', 'r', { parentRefs: [{ name: 'g' }], rules: [{ backendRefs: [{ name: 'svc', port: 8080 }] }] });

  it('by sectionName, by port, by both, or every listener of its kind', () => {
    assert.deepEqual(attach(r, { name: 'g', sectionName: 'b' }, g, ls, look()).listeners, ['b']);
    assert.deepEqual(attach(r, { name: 'g', port: 9300 }, g, ls, look()).listeners, ['a']);
    assert.deepEqual(attach(r, { name: 'g', port: 9300, sectionName: 'b' }, g, ls, look()).accepted.reason, 'NoMatchingParent');
    assert.deepEqual(attach(r, { name: 'g' }, g, ls, look()).listeners, ['a', 'b']);
  });

  it('a route of a kind no named listener serves, or from a namespace not allowed: NotAllowedByListeners', () => {
    assert.equal(attach(r, { name: 'g', sectionName: 'u' }, g, ls, look()).accepted.reason, 'NotAllowedByListeners');
    const other = route('TCPRoute', 'r', r.spec, undefined, 'elsewhere');
    assert.equal(attach(other, { name: 'g', namespace: 'infra', sectionName: 'sel' }, g, ls, look()).accepted.reason, 'NotAllowedByListeners');
    const team = route('TCPRoute', 'r', r.spec, undefined, 'team');
    assert.equal(attach(team, { name: 'g', namespace: 'infra', sectionName: 'sel' }, g, ls, look()).accepted.status, 'True');
  });

  it('conditions carry the route\'s generation', () => {
    assert.equal(attach(r, { name: 'g' }, g, ls, look()).accepted.observedGeneration, 2);
  });
});

describe('backends', () => {
  it('the specification\'s reasons: InvalidKind, RefNotPermitted, BackendNotFound; weight 0 excluded', () => {
    const res = (b: object): string => resolveBackends(route('TCPRoute', 'r', { rules: [{ backendRefs: [b as never] }] }), look()).resolved.reason;
    assert.equal(res({ name: 'svc', port: 8080 }), 'ResolvedRefs');
    assert.equal(res({ name: 'svc', port: 8080, kind: 'Pod' }), 'InvalidKind');
    assert.equal(res({ name: 'svc', port: 8080, namespace: 'web' }), 'RefNotPermitted');
    assert.equal(res({ name: 'missing', port: 8080 }), 'BackendNotFound');
    assert.equal(res({ name: 'svc', port: 9999 }), 'BackendNotFound');
    const { backends } = resolveBackends(route('TCPRoute', 'r', { rules: [{ backendRefs: [{ name: 'a', port: 8080, weight: 0 }, { name: 'b', port: 8080 }] }] }), look());
    assert.deepEqual(backends.map((b) => b.name), ['b']);
  });

  it('a ReferenceGrant names the route kind that may refer across namespaces', () => {
    const grant: ReferenceGrantObject = { metadata: { namespace: 'web' }, spec: { from: [{ group: 'gateway.networking.k8s.io', kind: 'TCPRoute', namespace: 'infra' }], to: [{ group: '', kind: 'Service', name: 'svc' }] } };
    const from = { group: 'gateway.networking.k8s.io', kind: 'TCPRoute', namespace: 'infra' };
    assert.equal(granted([grant], from, { group: '', kind: 'Service', namespace: 'web', name: 'svc' }), true);
    assert.equal(granted([grant], from, { group: '', kind: 'Service', namespace: 'web', name: 'other' }), false);
    assert.equal(granted([grant], { ...from, kind: 'UDPRoute' }, { group: '', kind: 'Service', namespace: 'web', name: 'svc' }), false);
  });
});

describe('what each LB port forwards to', () => {
  const g = gw([tcp('a', 9300), tcp('b', 9301)]);
  const ls = analyseListeners(g, look());
  const on = (r: RouteObject, listeners: string[]): RouteOnGateway => ({ route: r, listeners, accepted: true });

  it('the oldest route on a listener wins its port; a port without a route still opens', () => {
    const older = route('TCPRoute', 'older', { rules: [{ backendRefs: [{ name: 'one', port: 8080 }] }] }, '2026-01-01T00:00:00Z');
    const newer = route('TCPRoute', 'newer', { rules: [{ backendRefs: [{ name: 'two', port: 8080 }] }] }, '2026-01-02T00:00:00Z');
    const plans = portPlans(ls, [on(newer, ['a']), on(older, ['a'])], look());
    assert.deepEqual(plans.map((p) => [p.name, p.route, p.backends.map((b) => b.name)]), [['tcp-9300', 'TCPRoute/infra/older', ['one']], ['tcp-9301', null, []]]);
  });

  it('unequal weights are flagged, not claimed', () => {
    const w = route('TCPRoute', 'w', { rules: [{ backendRefs: [{ name: 'one', port: 8080, weight: 70 }, { name: 'two', port: 8080, weight: 30 }] }] });
    assert.equal(portPlans(ls, [on(w, ['a'])], look())[0]?.unequalWeights, true);
  });
});

describe('HTTPRoutes at L4', () => {
  const h = (spec: RouteObject['spec']): RouteObject => route('HTTPRoute', 'h', spec);
  const ls = analyseListeners(gw([{ name: 'http', port: 80, protocol: 'HTTP' }, { name: 'https', port: 443, protocol: 'HTTPS', tls: { certificateRefs: [{ name: 'good' }] } }]), look());
  const http = ls.filter((l) => l.listener.name === 'http');
  const https = ls.filter((l) => l.listener.name === 'https');

  it('one rule, every path, no filters, no hostnames, on a plain HTTP listener of its own: served by forwarding', () => {
    assert.equal(l7Needs(h({ rules: [{ backendRefs: [{ name: 's', port: 8080 }] }] }), http, ls), null);
    assert.equal(l7Needs(h({ rules: [{ matches: [{ path: { type: 'PathPrefix', value: '/' } }], backendRefs: [] }] }), http, ls), null);
  });

  it('anything that reads the request, or TLS to terminate, is refused with what it needs', () => {
    assert.match(l7Needs(h({ rules: [{ matches: [{ path: { type: 'Exact', value: '/x' } }] }] }), http, ls) ?? '', /matches/);
    assert.match(l7Needs(h({ rules: [{ filters: [{}] }] }), http, ls) ?? '', /filters/);
    assert.match(l7Needs(h({ rules: [{}, {}] }), http, ls) ?? '', /2 rules/);
    assert.match(l7Needs(h({ hostnames: ['a.example'], rules: [{}] }), http, ls) ?? '', /hostnames/);
    assert.match(l7Needs(h({ rules: [{}] }), https, ls) ?? '', /TLS/);
  });
});
