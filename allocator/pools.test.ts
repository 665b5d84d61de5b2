import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { implicitPool, parsePool, POOL_API_VERSION, POOL_KIND } from './pools.ts';
import { PROFILES, PROVIDER_NAMES } from './profiles.ts';

const manifest = (spec: unknown, name = 'p') => ({ apiVersion: POOL_API_VERSION, kind: POOL_KIND, metadata: { name }, spec });

describe('parsePool', () => {
  it('fills every field from the provider profile', () => {
    for (const provider of PROVIDER_NAMES) {
      const r = parsePool(manifest({ provider }));
      assert.ok(r.ok, provider);
      if (!r.ok) continue;
      assert.equal(r.pool.maxPortsPerLB, PROFILES[provider].maxPortsPerLB);
      assert.deepEqual(r.pool.protocols, PROFILES[provider].protocols);
      assert.equal(r.pool.mixedProtocol, PROFILES[provider].mixedProtocol);
      assert.equal(r.pool.pricing.currency, PROFILES[provider].pricing.currency);
      assert.equal(r.pool.usesNodePorts, true);
    }
  });

  it('refuses a template whose source ranges leave one of its families open', () => {
    for (const template of [{ ipFamilies: ['IPv6'], loadBalancerSourceRanges: ['10.0.0.0/8'] }, { ipFamilyPolicy: 'PreferDualStack', loadBalancerSourceRanges: ['10.0.0.0/8'] }]) {
      const r = parsePool(manifest({ provider: 'generic', template }));
      assert.ok(!r.ok && r.problems.some((p) => /cover no IPv6 address/.test(p)), JSON.stringify(r));
    }
    const both = parsePool(manifest({ provider: 'generic', template: { ipFamilyPolicy: 'RequireDualStack', ipFamilies: ['IPv4', 'IPv6'], loadBalancerSourceRanges: ['10.0.0.0/8', 'fd00::/8'] } }));
    assert.ok(both.ok, JSON.stringify(both));
  });

  it('lets the admin override every default', () => {
    const r = parsePool(manifest({
      provider: 'gcp', maxPortsPerLB: 7, maxLoadBalancers: 2, portRange: { from: 40000, to: 40100 }, reservedPorts: [40001, 40001],
      protocols: ['UDP'], mixedProtocol: true, samePortAcrossProtocols: false, keepPortRange: false, emptyLoadBalancerGraceSeconds: 0,
      template: { allocateLoadBalancerNodePorts: false, externalTrafficPolicy: 'Cluster', annotations: { a: 'b', 'networking.gke.io/load-balancer-type': 'Internal' } },
      pricing: { ruleHourly: 0.02, currency: 'EUR' }, scope: 'internal', classes: { allow: ['externalTrafficPolicy'], max: 9 },
    }));
    assert.ok(r.ok);
    if (!r.ok) return;
    assert.equal(r.pool.maxPortsPerLB, 7);
    assert.equal(r.pool.maxLoadBalancers, 2);
    assert.deepEqual(r.pool.portRange, { from: 40000, to: 40100 });
    assert.deepEqual(r.pool.reservedPorts, [40001]);
    assert.deepEqual(r.pool.protocols, ['UDP']);
    assert.equal(r.pool.mixedProtocol, true);
    assert.equal(r.pool.keepPortRange, false);
    assert.equal(r.pool.usesNodePorts, false);
    assert.equal(r.pool.emptyLoadBalancerGraceSeconds, 0);
    assert.equal(r.pool.pricing.ruleHourly, 0.02);
    assert.equal(r.pool.pricing.currency, 'EUR');
    assert.equal(r.pool.pricing.includedRules, 5);
    assert.equal(r.pool.scope, 'internal');
    assert.deepEqual(r.pool.classes, { allow: ['externalTrafficPolicy'], max: 9 });
  });

  it('derives scope from the template as each provider reads it, and refuses a stated scope the template contradicts', () => {
    const scope = (spec: Record<string, unknown>) => {
      const r = parsePool(manifest(spec));
      return r.ok ? r.pool.scope : r.problems.join('; ');
    };
    assert.equal(scope({ provider: 'aws-nlb' }), 'internal'); // the AWS Load Balancer Controller's default scheme
    assert.equal(scope({ provider: 'aws-nlb', template: { annotations: { 'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing' } } }), 'external');
    assert.equal(scope({ provider: 'azure', template: { annotations: { 'service.beta.kubernetes.io/azure-load-balancer-internal': 'true' } } }), 'internal');
    assert.equal(scope({ provider: 'gcp' }), 'external');
    assert.equal(scope({ provider: 'metallb', scope: 'internal' }), 'internal');
    assert.match(scope({ provider: 'gcp', scope: 'internal' }), /spec.scope is internal but the template builds external gcp LBs/);
  });

  it('refuses AWS IP targets for shared NLBs, and says why', () => {
    const r = parsePool(manifest({ provider: 'aws-nlb', template: { annotations: { 'service.beta.kubernetes.io/aws-load-balancer-nlb-target-type': 'ip' } } }));
    assert.ok(!r.ok);
    assert.match(r.problems.join(), /nlb-target-type ip cannot work for a shared LB .* use instance/);
  });

  it('refuses MetalLB\'s allow-shared-ip in a template (either spelling), and keeps its address-pool annotation', () => {
    for (const a of ['metallb.io/allow-shared-ip', 'metallb.universe.tf/allow-shared-ip']) {
      const r = parsePool(manifest({ provider: 'metallb', template: { annotations: { [a]: 'k' } } }));
      assert.ok(!r.ok);
      assert.match(r.problems.join(), /allow-shared-ip would put the pool's LBs on one address/);
    }
    const ok = parsePool(manifest({ provider: 'metallb', template: { annotations: { 'metallb.io/address-pool': 'edge' } } }));
    assert.ok(ok.ok);
    assert.equal(ok.pool.template.annotations['metallb.io/address-pool'], 'edge');
  });

  it('refuses a template with externalTrafficPolicy Local, and says why', () => {
    const r = parsePool(manifest({ template: { externalTrafficPolicy: 'Local' } }));
    assert.ok(!r.ok);
    assert.match(r.problems.join(), /one health check speaks for all members/);
  });

  it('checks spec.classes', () => {
    const r = parsePool(manifest({ classes: { allow: ['color'], max: 0, extra: 1 } }));
    assert.ok(!r.ok);
    assert.deepEqual(r.problems, [
      'spec.classes.extra is not a field (allow, max)',
      'spec.classes.allow must list some of sourceRanges, externalTrafficPolicy, sessionAffinity, ipFamilies',
      'spec.classes.max must be an integer >= 1 (the default class counts as one)',
    ]);
  });

  it('reports every problem at once, with its field', () => {
    const r = parsePool(manifest({
      provider: 'aws-nlb', maxPortsPerLB: 0, portRange: { from: 5, to: 1 }, protocols: ['ICMP'], mixedProtocol: 'yes',
      template: { loadBalancerSourceRanges: ['nope'], spec: {} }, pricing: { monthly: -1, tax: 1 }, colour: 'blue',
      namespaceSelector: { matchExpressions: [{ key: 'a', operator: 'In' }] },
    }));
    assert.equal(r.ok, false);
    if (r.ok) return;
    for (const field of ['spec.colour', 'spec.maxPortsPerLB', 'spec.portRange', 'spec.protocols', 'spec.mixedProtocol',
      'spec.template.loadBalancerSourceRanges', 'spec.template.spec', 'spec.pricing.monthly', 'spec.pricing.tax', 'spec.namespaceSelector.matchExpressions[0].values']) {
      assert.ok(r.problems.some((p) => p.startsWith(field)), `${field} in ${r.problems.join(' | ')}`);
    }
  });

  it('refuses an unknown provider and a wrong kind or name', () => {
    assert.equal(parsePool(manifest({ provider: 'aws' })).ok, false);
    assert.equal(parsePool({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'p' }, spec: {} }).ok, false);
    assert.equal(parsePool(manifest({}, 'Bad_Name')).ok, false);
  });

  it('refuses a range whose every port is reserved', () => {
    const r = parsePool(manifest({ portRange: { from: 10, to: 11 }, reservedPorts: [10, 11] }));
    assert.equal(r.ok, false);
  });

  it('prices public IPv4 only for an internet-facing NLB', () => {
    const internal = parsePool(manifest({ provider: 'aws-nlb' }));
    const external = parsePool(manifest({ provider: 'aws-nlb', template: { annotations: { 'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing' } } }));
    assert.ok(internal.ok && external.ok);
    if (internal.ok && external.ok) {
      assert.equal(internal.pool.pricing.publicIPsPerLB, 0);
      assert.equal(external.pool.pricing.publicIPsPerLB, 3);
    }
    assert.equal(implicitPool('aws-nlb').pricing.publicIPsPerLB, 3);
  });
});
