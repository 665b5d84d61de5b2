import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LiveReport } from '../allocator/report.ts';
import { reportCsv, reportHtml, reportTable } from './report-render.ts';

const r: LiveReport = {
  generatedAt: '2026-01-01T00:00:00.000Z',
  loadBalancers: [{ name: 'p-1', namespace: 'sys', pool: 'p', address: '', class: null, members: 2, portsUsed: 3, capacity: 50, currency: 'USD', monthlyCost: 10, dedicatedMonthlyCost: 20, monthlySavings: 10, poolMissing: false }],
  pools: [],
  totals: [{ currency: 'USD', monthlyCost: 10, dedicatedMonthlyCost: 20, monthlySavings: 10 }],
  assumptions: ['a <b> & "c"'],
  sources: [],
};

describe('report rendering', () => {
  it('table and CSV carry every figure', () => {
    assert.match(reportTable(r), /^Total: \$10\.00 per month shared/, 'the summary first');
    assert.match(reportTable(r), /sys\/p-1\s+<pending>\s+p\s+-\s+2\s+3\/50\s+\$10\.00\s+\$20\.00\s+\$10\.00/);
    assert.equal(reportCsv(r).split('\n')[1], 'sys,p-1,,p,false,2,3,50,USD,10,20,10');
  });
  it('an empty cluster says so; a deleted pool\'s LB is listed and marked', () => {
    assert.equal(reportTable({ ...r, loadBalancers: [], totals: [] }), 'No shared LBs yet: no member has been placed (sharedlb plan shows what sharing would save).\n');
    const gone = { ...r, loadBalancers: [{ ...(r.loadBalancers[0] as LiveReport['loadBalancers'][number]), poolMissing: true }] };
    assert.match(reportTable(gone), /sys\/p-1\s+<pending>\s+p \(deleted\)\s+-\s+2/);
    assert.match(reportHtml(gone), /p \(deleted\)/);
  });
  it('HTML escapes text and draws a chart without scripts', () => {
    const html = reportHtml(r);
    assert.match(html, /<svg role="img"/);
    assert.match(html, /a &#60;b&#62; &#38; &#34;c&#34;/);
    assert.doesNotMatch(html, /<script/);
    assert.match(html, /\$10\.00 saved per month/);
  });
});
