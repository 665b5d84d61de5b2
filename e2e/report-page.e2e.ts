// The controller's /report page in a real browser: Debian's Chromium, driven
// headless by playwright-core. The screenshot is kept in test-artifacts/.

import assert from 'node:assert/strict';
import { mkdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser } from 'playwright-core';
import { createPool, deletePool, installCRD, startController, type RunningController } from './controller-harness.ts';
import { admin, deleteNamespace, eventually, namespace, sweep } from './kube.ts';

const ARTIFACTS = join(import.meta.dirname, '..', 'test-artifacts');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

describe('the /report page', () => {
  const ctrlNs = `sharedlb-e2e-rp-${process.pid}`;
  let ns = '';
  let ctl: RunningController | undefined;
  let browser: Browser | undefined;

  before(async () => {
    await installCRD();
    await sweep();
    await admin().post('/api/v1/namespaces', { metadata: { name: ctrlNs, labels: { 'sharedlb.io/e2e': 'true' } } });
    await createPool('e2e-report', { default: true, provider: 'aws-nlb', maxPortsPerLB: 3, template: { annotations: { 'service.beta.kubernetes.io/aws-load-balancer-scheme': 'internet-facing' } } });
    ns = await namespace('report');
    ctl = await startController(ctrlNs, ['--no-leader-elect']);
    for (const [name, port] of [['kafka', 9092], ['mqtt', 1883], ['pg', 5432], ['redis', 6379]] as const) {
      await admin().post(`/api/v1/namespaces/${ns}/services`, { metadata: { name, annotations: { 'sharedlb.io/enabled': 'true' } }, spec: { selector: { app: name }, ports: [{ name, port }] } });
    }
    await eventually('all four Ready', async () => {
      const list = await admin().get<{ items: Array<{ status?: { conditions?: Array<{ type: string; reason: string }> } }> }>(`/api/v1/namespaces/${ns}/services`);
      return list.items.filter((s) => s.status?.conditions?.some((c) => c.type === 'sharedlb.io/Ready' && c.reason === 'Allocated')).length === 4;
    });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    await browser?.close();
    await ctl?.stop();
    if (ns) await deleteNamespace(ns);
    await deletePool('e2e-report');
    await deleteNamespace(ctrlNs);
  });

  it('shows every shared LB with its cost and saving, a chart, and the assumptions', async () => {
    const page = await (browser as Browser).newPage({ viewport: { width: 1100, height: 900 } });
    const refused: string[] = [];
    page.on('console', (m) => void (/Content Security Policy/i.test(m.text()) && refused.push(m.text())));
    const res = await page.goto(`http://127.0.0.1:${ctl?.port}/report`);
    assert.match(res?.headers()['content-security-policy'] ?? '', /default-src 'none'/, 'the page may load and run nothing');
    assert.equal(await page.title(), 'sharedlb cost report');
    const rows = await page.locator('table').first().locator('tbody tr').allTextContents();
    assert.equal(rows.length, 2, rows.join('\n'));
    const first = rows.find((r) => r.includes('e2e-report-1')) ?? '';
    assert.match(first, /198\.51\.100\.\d+\s*e2e-report\s*3\s*3\/3\s*\$27\.38\s*\$82\.13\s*\$54\.75/);
    assert.match(await page.locator('.total').textContent() ?? '', /\$54\.75 saved per month: \$54\.75 shared instead of \$109\.50/);
    assert.equal(await page.locator('svg').first().locator('rect.shared').count(), 2 + 1); // a bar per LB, and the legend's swatch
    // Who pays: the members' one namespace carries both LBs' bills as the table shows them ($27.38 each).
    assert.match(await page.locator('h2', { hasText: 'Who pays' }).textContent() ?? '', /Who pays: by namespace/);
    const shares = await page.locator('table').nth(1).locator('tbody tr').allTextContents();
    assert.equal(shares.length, 1, shares.join('\n'));
    assert.match(shares[0] ?? '', /\$54\.76/);
    const bar = await page.locator('svg rect.dedicated').nth(1).boundingBox();
    assert.ok(bar !== null && bar.width > 100, 'the dedicated bar is drawn to scale');
    assert.match(await page.locator('ul').first().textContent() ?? '', /internet-facing NLB holding 3 public IPv4/);
    mkdirSync(ARTIFACTS, { recursive: true });
    const shot = join(ARTIFACTS, 'report-page.png');
    await page.screenshot({ path: shot, fullPage: true });
    assert.ok(statSync(shot).size > 10_000);
    assert.deepEqual(refused, [], 'the page needs nothing its policy forbids');
  });
});
