import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { V1Service } from '@kubernetes/client-node';
import { pool } from '../allocator/testing.ts';
import { poolStatus, poolStatusDiffers } from './pool-status.ts';

const now = new Date('2026-01-01T00:00:00Z');
const lbs = [{ name: 'p-1', pool: 'p', classKey: '', assignments: [{ port: 1, protocol: 'TCP' as const, member: 'a/x', servicePort: 'p' }] }];
const allocated = { key: 'a/x', pool: 'p', state: 'Allocated' as const, reason: 'Allocated' as const, message: '', loadBalancer: 'p-1', ports: [{ servicePort: 'p', protocol: 'TCP' as const, port: 1, externalPort: 1 }], moved: null };
const ready = (s: Record<string, unknown>) => (s.conditions as Array<{ status: string; reason: string; message: string; lastTransitionTime: string }>)[0];

describe('pool status', () => {
  // Step table: situation → the Ready condition it shows.
  const steps = [
    { desc: 'a pool that builds and fills LBs', pool: pool({}), problems: [], outcomes: [allocated], lb: {}, want: ['True', 'Ready'] },
    { desc: 'a broken pool says why', pool: null, problems: ['spec.portRange must be {from, to}'], outcomes: [], lb: {}, want: ['False', 'Invalid', /portRange/] },
    { desc: 'members waiting for room', pool: pool({}), problems: [], outcomes: [allocated, { ...allocated, key: 'a/y', state: 'Pending' as const, reason: 'NoCapacity' as const }], lb: {}, want: ['True', 'MembersPending', /1 member/] },
    { desc: 'a template class its LBs cannot take', pool: pool({ template: { loadBalancerClass: 'x/y' } }), problems: [], outcomes: [allocated], lb: {}, want: ['False', 'TemplateNotApplied', /p-1 keeps \(none\); new LBs get x\/y/] },
  ] as const;
  for (const s of steps) {
    it(s.desc, () => {
      const status = poolStatus({ pool: s.pool, problems: [...s.problems], generation: 3, loadBalancers: s.pool === null ? [] : lbs, outcomes: [...s.outcomes], lbObject: () => s.lb as V1Service, before: {}, now });
      const c = ready(status);
      assert.equal(c?.status, s.want[0]);
      assert.equal(c?.reason, s.want[1]);
      if (s.want[2] !== undefined) assert.match(c?.message ?? '', s.want[2]);
    });
  }

  it('keeps the transition time while the status holds, and writes nothing when nothing changed', () => {
    const one = poolStatus({ pool: pool({}), problems: [], generation: 1, loadBalancers: lbs, outcomes: [allocated], lbObject: () => undefined, before: {}, now });
    const two = poolStatus({ pool: pool({}), problems: [], generation: 1, loadBalancers: lbs, outcomes: [allocated], lbObject: () => undefined, before: one, now: new Date('2027-01-01T00:00:00Z') });
    assert.equal(ready(two)?.lastTransitionTime, '2026-01-01T00:00:00Z');
    assert.ok(!poolStatusDiffers(one, two));
  });

  it('is not different when the API server hands it back with its keys sorted', () => {
    const status = poolStatus({ pool: pool({}), problems: [], generation: 1, loadBalancers: lbs, outcomes: [allocated], lbObject: () => undefined, before: {}, now });
    const sortKeys = (v: unknown): unknown => Array.isArray(v) ? v.map(sortKeys)
      : v !== null && typeof v === 'object' ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b)).map(([k, x]) => [k, sortKeys(x)])) : v;
    const readBack = JSON.parse(JSON.stringify(sortKeys(status))) as Record<string, unknown>;
    assert.ok(!poolStatusDiffers(readBack, poolStatus({ pool: pool({}), problems: [], generation: 1, loadBalancers: lbs, outcomes: [allocated], lbObject: () => undefined, before: readBack, now })));
    assert.ok(poolStatusDiffers(readBack, { ...status, members: 2 }));
  });
});
