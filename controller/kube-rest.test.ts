import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { KubeConfig } from '@kubernetes/client-node';
import { ApiError, rateLimited, restClient, type Rest } from './kube-rest.ts';

/** A loopback server answering each request with the next of `answers` (the last one repeats). */
async function server(answers: Array<{ status: number; retryAfter?: string }>): Promise<{ url: string; hits: () => number; close: () => void }> {
  let hits = 0;
  const s = createServer((req, res) => {
    const a = answers[Math.min(hits, answers.length - 1)] as (typeof answers)[number];
    hits++;
    req.resume();
    res.writeHead(a.status, { 'content-type': 'application/json', ...(a.retryAfter !== undefined ? { 'retry-after': a.retryAfter } : {}) });
    res.end(JSON.stringify({ kind: 'Status', reason: a.status === 200 ? '' : 'TooManyRequests', message: 'storage is (re)initializing' }));
  });
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, hits: () => hits, close: () => s.close() };
}

function client(url: string, opts: Parameters<typeof restClient>[1] = {}) {
  const kc = new KubeConfig();
  kc.loadFromOptions({ clusters: [{ name: 'c', server: url, skipTLSVerify: true }], users: [{ name: 'u' }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
  return restClient(kc, opts);
}

describe('REST client: 429 and Retry-After, as client-go', () => {
  it('waits and retries a 429 until it goes through', async () => {
    const s = await server([{ status: 429, retryAfter: '0' }, { status: 429, retryAfter: '0' }, { status: 200 }]);
    const rest = client(s.url);
    await rest.get('/apis/sharedlb.io/v1alpha1/loadbalancerpools');
    assert.equal(s.hits(), 3);
    rest.close();
    s.close();
  });

  it('retries a 5xx only when the server says when, and gives up after a bound', async () => {
    const plain = await server([{ status: 503 }]);
    const rest = client(plain.url);
    await assert.rejects(rest.get('/x'), (e: unknown) => e instanceof ApiError && e.status === 503);
    assert.equal(plain.hits(), 1);
    rest.close();
    plain.close();
    const busy = await server([{ status: 503, retryAfter: '0' }]);
    const again = client(busy.url);
    await assert.rejects(again.get('/x'), (e: unknown) => e instanceof ApiError && e.status === 503);
    assert.equal(busy.hits(), 10);
    again.close();
    busy.close();
  });
});

describe('REST client: the leader\'s fence', () => {
  it('asks before every attempt: a write retried after a 429 is not sent once leadership has lapsed', async () => {
    const s = await server([{ status: 429, retryAfter: '0' }, { status: 429, retryAfter: '0' }, { status: 200 }]);
    let leading = true;
    const rest = client(s.url, { beforeAttempt: (method) => {
      if (method !== 'GET' && !leading) throw new Error('not the leader');
      leading = false; // the lease lapses while the first attempt is out
    } });
    await assert.rejects(rest.put('/api/v1/namespaces/x/services/y', {}), /not the leader/);
    assert.equal(s.hits(), 1, 'the retry never went out');
    rest.close();
    s.close();
  });
});

describe('REST client: what the kubeconfig adds to a request', () => {
  it('is reused between requests, and asked again after a 401 (a rotated credential)', async () => {
    const seen: string[] = [];
    const s = createServer((req, res) => {
      seen.push(req.headers.authorization ?? '');
      req.resume();
      const ok = req.headers.authorization === 'Bearer new';
      res.writeHead(seen.length === 1 || ok ? 200 : 401, { 'content-type': 'application/json' });
      res.end('{}');
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    const kc = new KubeConfig();
    const load = (token: string) => kc.loadFromOptions({ clusters: [{ name: 'c', server: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, skipTLSVerify: true }], users: [{ name: 'u', token }], contexts: [{ name: 'x', cluster: 'c', user: 'u' }], currentContext: 'x' });
    load('old');
    const rest = restClient(kc);
    await rest.get('/a');
    load('new'); // rotated: the client does not read it again at every request
    await assert.rejects(rest.get('/b'), (e: unknown) => e instanceof ApiError && e.status === 401);
    await rest.get('/c');
    assert.deepEqual(seen, ['Bearer old', 'Bearer old', 'Bearer new']);
    rest.close();
    s.close();
  });
});

describe('REST client: rate limit', () => {
  it('sends at most qps requests a second, in the order they were made', async () => {
    const sent: Array<{ path: string; at: number }> = [];
    const t0 = performance.now();
    const fake = { call: async (_m: string, path: string) => {
      sent.push({ path, at: performance.now() - t0 });
      return { status: 200, body: null };
    } } as unknown as Rest;
    const rest = rateLimited(fake, 5);
    await Promise.all(Array.from({ length: 12 }, (_, i) => rest.call('PATCH', `/${i}`)));
    assert.deepEqual(sent.map((s) => s.path), Array.from({ length: 12 }, (_, i) => `/${i}`));
    assert.equal(sent.filter((s) => s.at < 1000).length, 5);
    assert.ok((sent[10]?.at ?? 0) >= 2000, `the 11th went out at ${sent[10]?.at.toFixed(0)} ms`);
  });
});
