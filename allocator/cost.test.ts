import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { priceLayout, priceUnits } from './cost.ts';
import { pool } from './testing.ts';
import type { LoadBalancerState, Protocol } from './types.ts';

const lb = (name: string, ports: Array<[number, Protocol, string]>): LoadBalancerState => ({
  name, pool: 'p', classKey: '', assignments: ports.map(([port, protocol, member]) => ({ port, protocol, member, servicePort: 'x' })),
});
const member = (key: string, protocols: Protocol[]) => ({ key, pool: 'p', ports: protocols.map((protocol) => ({ protocol })) });

describe('cost model', () => {
  it('AWS NLB: per LB, plus one public IPv4 per AZ when internet-facing', () => {
    const internal = pool({ provider: 'aws-nlb' });
    assert.equal(priceUnits(internal, [{ ports: 10, protocols: 1 }]).total, 0.0225 * 730);
    const external = pool({ provider: 'aws-nlb', template: { annotations: { 'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing' } } });
    assert.ok(Math.abs(priceUnits(external, [{ ports: 1, protocols: 1 }]).total - (0.0225 + 3 * 0.005) * 730) < 1e-9);
  });

  it('GCP: rules billed per project and region, tiered, so sharing saves only above 5 rules', () => {
    const gcp = pool({ provider: 'gcp' });
    const few = priceLayout([gcp], [lb('p-1', [[1, 'TCP', 'a/a'], [2, 'TCP', 'a/b'], [3, 'TCP', 'a/c']])], [member('a/a', ['TCP']), member('a/b', ['TCP']), member('a/c', ['TCP'])]);
    assert.equal(few.pools[0]?.monthlyCost, 18.25);
    assert.equal(few.pools[0]?.dedicatedMonthlyCost, 18.25); // 3 rules either way fit in the first five
    assert.equal(few.pools[0]?.monthlySavings, 0);
    const members = Array.from({ length: 10 }, (_, i) => member(`a/m${i}`, ['TCP']));
    const many = priceLayout([gcp], [lb('p-1', members.map((m, i) => [i + 1, 'TCP', m.key] as [number, Protocol, string]))], members);
    assert.equal(many.pools[0]?.monthlyCost, 18.25);
    assert.equal(many.pools[0]?.dedicatedMonthlyCost, 18.25 + 5 * 0.01 * 730);
    assert.ok(many.assumptions.some((a) => /per project and region/.test(a)));
  });

  it('GCP: an LB carrying TCP and UDP holds two forwarding rules', () => {
    const gcp = pool({ provider: 'gcp', mixedProtocol: true, pricing: { includedRules: 0, baseHourly: 0 } });
    const r = priceUnits(gcp, [{ ports: 4, protocols: 2 }]);
    assert.equal(r.total, 2 * 0.01 * 730);
  });

  it('Azure: the cluster already shares one LB, so only public IPs are saved', () => {
    const az = pool({ provider: 'azure' });
    const members = Array.from({ length: 4 }, (_, i) => member(`a/m${i}`, ['TCP']));
    const r = priceLayout([az], [lb('p-1', members.map((m, i) => [i + 1, 'TCP', m.key] as [number, Protocol, string]))], members);
    const ip = 0.005 * 730;
    assert.ok(Math.abs((r.pools[0]?.monthlySavings ?? 0) - 3 * ip) < 0.011);
    assert.ok(r.assumptions.some((a) => /AKS already puts every LoadBalancer Service/.test(a)));
  });

  it('monthly-billed providers, and currencies never added together', () => {
    const eu = pool({ provider: 'hetzner' }, 'eu');
    const us = pool({ provider: 'digitalocean' }, 'us');
    const r = priceLayout(
      [eu, us],
      [{ ...lb('eu-1', [[1, 'TCP', 'a/a'], [2, 'TCP', 'a/b']]), pool: 'eu' }, { ...lb('us-1', [[1, 'TCP', 'a/c']]), pool: 'us' }],
      [{ ...member('a/a', ['TCP']), pool: 'eu' }, { ...member('a/b', ['TCP']), pool: 'eu' }, { ...member('a/c', ['TCP']), pool: 'us' }],
    );
    assert.deepEqual(r.totals.map((t) => [t.currency, t.monthlyCost, t.dedicatedMonthlyCost]), [['EUR', 7.49, 14.98], ['USD', 10, 10]]);
    assert.ok(r.assumptions.some((a) => /UNCONFIRMED/.test(a)));
  });

  it('states the admin\'s price overrides', () => {
    const r = priceLayout([pool({ provider: 'oci', pricing: { monthly: 12 } })], [lb('p-1', [[1, 'TCP', 'a/a']])], [member('a/a', ['TCP'])]);
    assert.ok(r.assumptions.some((a) => /overridden by the admin \(monthly\)/.test(a)));
    assert.equal(r.loadBalancers[0]?.monthlyCost, 12);
  });

  it('says what externalTrafficPolicy Local costs: an LB per member, no saving', () => {
    const p = pool({ provider: 'digitalocean' });
    const r = priceLayout([p], [{ ...lb('p-1', [[1, 'TCP', 'a/x']]), classKey: '{"externalTrafficPolicy":"Local"}' }], [{ key: 'a/x', pool: 'p', ports: [{ protocol: 'TCP' }] }]);
    assert.ok(r.assumptions.some((a) => /1 member\(s\) with externalTrafficPolicy Local hold an LB each .* save nothing/.test(a)));
    assert.equal(r.totals[0]?.monthlySavings, 0);
  });
});
