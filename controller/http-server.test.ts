import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { serve, START_GRACE_MS } from './http-server.ts';

describe('the controller\'s probes', () => {
  it('say why caches cannot sync (a CRD not installed): /readyz at once, /healthz once past the start grace', async () => {
    let starting = 1000;
    let unsynced = ['loadbalancerpools: list failed: GET /apis/sharedlb.io/v1alpha1/loadbalancerpools: 404 NotFound'];
    const server = await serve('127.0.0.1:0', { unsynced: () => unsynced, startingForMs: () => starting, role: () => 'leader', report: () => ({}) as never, showback: () => ({}) as never });
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const probe = async (path: string) => {
      const r = await fetch(`${url}${path}`);
      return `${r.status} ${await r.text()}`;
    };
    assert.match(await probe('/readyz'), /^503 caches not synced: loadbalancerpools: .*404/);
    assert.equal(await probe('/healthz'), '200 ok', 'a controller still starting is alive');
    starting = START_GRACE_MS + 1000;
    assert.match(await probe('/healthz'), /^503 not started after 61 s: loadbalancerpools: .*404/);
    unsynced = [];
    assert.equal(await probe('/healthz'), '200 ok');
    assert.equal(await probe('/readyz'), '200 ok');
    server.close();
  });
});
