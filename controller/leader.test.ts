import assert from 'node:assert/strict';
import { afterEach, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { aroundRequests, microTime } from './kube-rest.ts';
import { startLeaderElection, type Elector } from './leader.ts';
import { makeLogger } from './logger.ts';
import { FakeApi } from './testing/fake-api.ts';

const log = makeLogger('error');
const LEASE = { apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', metadata: { name: 'l', namespace: 'ns' } };

const running: Elector[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((e) => e.stop()));
});

function elect(api: Parameters<typeof startLeaderElection>[0]['rest'], identity: string, timing = { leaseSeconds: 1, renewDeadlineSeconds: 0.5, retrySeconds: 0.1 }) {
  const seen: string[] = [];
  const e = startLeaderElection({ rest: api, log, namespace: 'ns', name: 'l', identity, ...timing, onStartedLeading: () => seen.push('started'), onStoppedLeading: () => seen.push('stopped') });
  running.push(e);
  return { e, seen };
}

async function until(what: string, check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

describe('leader election, with client-go\'s semantics', { timeout: 20_000 }, () => {
  it('a follower times a lease by its own clock since the record last changed, not by the holder\'s renewTime', async () => {
    const api = new FakeApi();
    // The holder's clock is an hour behind: by its renewTime the lease expired long ago.
    const stale = microTime(new Date(Date.now() - 3_600_000));
    api.seed({ ...LEASE, spec: { holderIdentity: 'other', leaseDurationSeconds: 1, renewTime: stale } });
    const { e } = elect(api, 'me');
    await sleep(500);
    assert.equal(e.leading, false, 'a lease seen for the first time is held for its duration from now');
    // The holder keeps renewing (its record changes), so it stays held.
    for (let i = 0; i < 5; i++) {
      api.seed({ ...LEASE, spec: { holderIdentity: 'other', leaseDurationSeconds: 1, renewTime: microTime(new Date(Date.now() - 3_600_000 + i)) } });
      await sleep(300);
      assert.equal(e.leading, false);
    }
    // It stops: a lease duration after the last change, it is ours.
    await until('the takeover', () => e.leading);
    await e.stop();
  });

  it('leads only within the renew deadline from the start of its last renewal; a renewal that returns late does not lead', async () => {
    const api = new FakeApi();
    let delayMs = 0;
    const slow = aroundRequests(api, async (method, _path, send) => {
      if (method === 'PUT' || method === 'POST') await sleep(delayMs);
      return send();
    });
    const { e, seen } = elect(slow, 'me');
    await until('leading', () => e.leading);
    delayMs = 800; // longer than the renew deadline
    await until('the fence', () => !e.leading, 2000);
    const lapsedAt = Date.now();
    // Its late renewals succeed at the API server, but never make it leader again.
    await sleep(1500);
    assert.equal(e.leading, false);
    assert.deepEqual(seen, ['started', 'stopped']);
    assert.ok(Date.now() - lapsedAt >= 1500);
    delayMs = 0;
    await until('leading again', () => e.leading);
    await e.stop();
  });

  it('two electors: never both leading at once', async () => {
    const api = new FakeApi();
    const a = elect(api, 'a');
    const b = elect(api, 'b');
    const electors: Elector[] = [a.e, b.e];
    for (let i = 0; i < 40; i++) {
      assert.ok(electors.filter((x) => x.leading).length <= 1);
      await sleep(25);
    }
    const leader = electors.find((x) => x.leading) as Elector;
    await leader.stop();
    const other = electors.find((x) => x !== leader) as Elector;
    await until('the successor', () => other.leading);
    await other.stop();
  });
});
