import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { liveReport, type LiveLoadBalancer } from './report.ts';
import { showback, splitCents } from './showback.ts';
import { pool } from './testing.ts';
import type { Protocol } from './types.ts';

const cents = (n: number): number => Math.round(n * 100);

describe('showback', () => {
  // Groups add up to every LB's bill, an empty one's included (its own row).
  it('splitCents: shares add up to the total to the cent, and follow the weights', () => {
    fc.assert(fc.property(fc.integer({ min: 0, max: 10_000_000 }), fc.array(fc.integer({ min: 0, max: 60 }), { minLength: 1, maxLength: 50 }), (c, weights) => {
      const total = c / 100;
      const shares = splitCents(total, weights);
      const sum = weights.reduce((a, b) => a + b, 0);
      assert.equal(shares.reduce((a, s) => a + cents(s), 0), sum === 0 ? 0 : c);
      for (const [i, s] of shares.entries()) assert.ok(Math.abs(cents(s) - (c * (weights[i] ?? 0)) / Math.max(1, sum)) < 1);
    }));
  });

  it('every LB\'s bill is split exactly among its members; groups add up to the report\'s total; those not placed cost nothing', () => {
    const arbLB = (i: number) => fc.array(fc.record({ ns: fc.constantFrom('a', 'b', 'c'), m: fc.integer({ min: 0, max: 5 }), protocol: fc.constantFrom<Protocol>('TCP', 'UDP') }), { maxLength: 30 })
      .map((ports): LiveLoadBalancer => ({ name: `p-${i}`, namespace: 'sys', pool: 'p', address: '', classKey: '', assignments: ports.map((x, k) => ({ port: 1000 + k, protocol: x.protocol, member: `${x.ns}/m${x.m}`, servicePort: `s${k}` })) }));
    fc.assert(fc.property(fc.constantFrom('aws-nlb', 'gcp', 'azure', 'digitalocean', 'hetzner') as fc.Arbitrary<'aws-nlb'>, fc.tuple(arbLB(1), arbLB(2), arbLB(3)), (provider, lbs) => {
      const p = pool({ provider });
      const report = liveReport([p], lbs);
      const s = showback(report, [p], lbs, [{ key: 'd/waiting', group: 'd', state: 'PortConflict' }], 'namespace');
      for (const row of report.loadBalancers) {
        const mine = s.members.filter((m) => m.loadBalancer === `sys/${row.name}`);
        assert.equal(mine.reduce((a, m) => a + cents(m.monthlyCost), 0), mine.length === 0 ? 0 : cents(row.monthlyCost), `${row.name}'s shares add up to its bill`);
      }
      const billed = report.loadBalancers.reduce((a, r) => a + cents(r.monthlyCost), 0);
      assert.equal(s.rows.reduce((a, r) => a + cents(r.monthlyCost), 0), billed);
      const waiting = s.members.find((m) => m.member === 'd/waiting');
      assert.deepEqual([waiting?.monthlyCost, waiting?.loadBalancer], [0, null]);
      assert.equal(s.rows.find((r) => r.group === 'd')?.notPlaced, 1);
    }));
  });

  it('by a label: members group by the value the caller resolved, in ports held', () => {
    const p = pool({ provider: 'digitalocean' });
    const lbs: LiveLoadBalancer[] = [{ name: 'p-1', namespace: 'sys', pool: 'p', address: '', classKey: '', assignments: [
      { port: 1, protocol: 'TCP', member: 'a/x', servicePort: 'a' }, { port: 2, protocol: 'TCP', member: 'a/x', servicePort: 'b' }, { port: 3, protocol: 'TCP', member: 'b/y', servicePort: 'c' },
    ] }];
    const s = showback(liveReport([p], lbs), [p], lbs, [{ key: 'a/x', group: 'payments', state: 'Allocated' }, { key: 'b/y', group: 'search', state: 'Allocated' }], 'label=team');
    assert.deepEqual(s.rows.map((r) => [r.group, r.ports, r.monthlyCost]), [['payments', 2, 6.67], ['search', 1, 3.33]]);
  });
});
