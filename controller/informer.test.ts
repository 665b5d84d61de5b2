import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { V1Service } from '@kubernetes/client-node';
import { ResilientInformer } from './informer.ts';
import { FakeApi } from './testing/fake-api.ts';

const svc = (name: string) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: 'a' }, spec: { ports: [{ port: 1 }] } });

describe('ResilientInformer', () => {
  it('a list that fails part way (410 on its continue token) is made again whole, not resumed as a watch from before it', async () => {
    const api = new FakeApi();
    api.seed(svc('one'));
    const seen: string[] = [];
    const inf = new ResilientInformer<V1Service>({ name: 'services', watch: api.watch, rest: api, path: '/api/v1/services', relistSeconds: 1, onEvent: (e, o) => void seen.push(`${e} ${o.metadata?.name}`) });
    await inf.start();
    const lists = () => api.calls.filter((c) => c.method === 'GET' && c.path.startsWith('/api/v1/services?')).length;
    assert.equal(lists(), 1);
    // The periodic relist fails (its continue token expired); meanwhile an object is made that no watch will tell of.
    api.failNext({ method: 'GET', path: '/api/v1/services?', status: 410 });
    await sleep(1100);
    api.breakWatches(null);
    api.holdWatches(); // what a watch resumed from before the relist would never show
    api.seed(svc('two'));
    await sleep(800);
    assert.ok(lists() >= 3, `listed again after the failed list (${lists()} lists)`);
    assert.ok(inf.get('two', 'a') !== undefined, 'the retried list brought what the watch never would');
    await inf.stop();
  });

  it('says why it has not synced (a CRD not installed)', async () => {
    const api = new FakeApi();
    api.failNext({ method: 'GET', path: '/apis/sharedlb.io/', status: 404, times: 100 });
    const inf = new ResilientInformer<V1Service>({ name: 'loadbalancerpools', watch: api.watch, rest: api, path: '/apis/sharedlb.io/v1alpha1/loadbalancerpools', onEvent: () => undefined, maxBackoffMs: 50 });
    void inf.start();
    await sleep(100);
    assert.equal(inf.synced, false);
    assert.match(inf.lastError ?? '', /list failed: .*404/);
    await inf.stop();
  });
});
