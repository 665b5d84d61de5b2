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
      currency: 'USD', monthlyCost: 10, dedicatedMonthlyCost: 20, monthlySavings: 10,
    }]);
    assert.deepEqual(r.totals, [{ currency: 'USD', monthlyCost: 10, dedicatedMonthlyCost: 20, monthlySavings: 10 }]);
    assert.ok(r.assumptions.some((a) => /UNCONFIRMED/.test(a)));
  });

  it('leaves out LBs of pools it does not know rather than price them wrongly', () => {
    const r = liveReport([pool({})], [{ name: 'gone-1', namespace: 's', pool: 'gone', address: '', classKey: '', assignments: [] }]);
    assert.deepEqual(r.loadBalancers, []);
  });
});
