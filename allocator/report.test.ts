import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { liveReport } from './report.ts';
import { pool } from './testing.ts';

describe('liveReport', () => {
  it('prices each LB against its members on dedicated LBs', () => {
    const p = pool({ provider: 'digitalocean' });
    const r = liveReport([p], [
      { name: 'p-1', namespace: 'sys', pool: 'p', address: '198.51.100.1', classKey: '{"sourceRanges":["203.0.113.0/24"]}', assignments: [
        { port: 1, protocol: 'TCP', member: 'a/x', servicePort: 'a' },
        { port: 2, protocol: 'TCP', member: 'a/x', servicePort: 'b' },
        { port: 3, protocol: 'UDP', member: 'a/y', servicePort: 'c' },
      ] },
    ], new Date('2026-01-01T00:00:00Z'));
    assert.deepEqual(r.loadBalancers, [{
      name: 'p-1', namespace: 'sys', pool: 'p', address: '198.51.100.1', members: 2, portsUsed: 3, capacity: 50,
      class: { scope: 'external', sourceRanges: ['203.0.113.0/24'], externalTrafficPolicy: 'Cluster', sessionAffinity: 'None', ipFamilies: ['IPv4'] },
      currency: 'USD', monthlyCost: 10, dedicatedMonthlyCost: 20, monthlySavings: 10, poolMissing: false,
    }]);
    assert.deepEqual(r.totals, [{ currency: 'USD', monthlyCost: 10, dedicatedMonthlyCost: 20, monthlySavings: 10 }]);
    assert.ok(r.assumptions.some((a) => /UNCONFIRMED/.test(a)));
  });

  it('lists every billed LB: one whose pool is deleted is priced at its provider\'s list price and marked, and the report says so', () => {
    const r = liveReport([pool({})], [{ name: 'gone-1', namespace: 's', pool: 'gone', address: '198.51.100.9', classKey: '', provider: 'digitalocean', assignments: [{ port: 1, protocol: 'TCP', member: 'a/x', servicePort: 'a' }] }]);
    assert.equal(r.loadBalancers.length, 1);
    assert.equal(r.loadBalancers[0]?.poolMissing, true);
    assert.equal(r.loadBalancers[0]?.monthlyCost, 10);
    assert.deepEqual(r.totals.map((t) => t.monthlyCost), [10]);
    assert.ok(r.assumptions.some((a) => /LoadBalancerPool gone is deleted; its shared LBs still exist and are billed: priced at the digitalocean profile's list prices/.test(a)));
    const unknown = liveReport([], [{ name: 'old-1', namespace: 's', pool: 'old', address: '', classKey: '', assignments: [] }]);
    assert.equal(unknown.loadBalancers[0]?.poolMissing, true);
    assert.ok(unknown.assumptions.some((a) => /their cost is unknown/.test(a)));
  });
});
