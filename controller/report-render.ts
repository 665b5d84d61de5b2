// The cost report as text, CSV and a self-contained HTML page (inline SVG
// chart, no scripts), from one model.

import { classText } from '../allocator/classes.ts';
import type { LiveReport } from '../allocator/report.ts';
import type { Showback } from '../allocator/showback.ts';
import { money, table } from './text-table.ts';

/** The pool column: a deleted pool's LB says so (it is still billed). */
const poolCell = (l: LiveReport['loadBalancers'][number]): string => (l.poolMissing ? `${l.pool} (deleted)` : l.pool);

export function reportTable(r: LiveReport): string {
  if (r.loadBalancers.length === 0) return 'No shared LBs yet: no member has been placed (sharedlb plan shows what sharing would save).\n';
  // The summary first: what a reader came for, before a table of every LB.
  const out = r.totals.map((t) => `Total: ${money(t.monthlyCost, t.currency)} per month shared, ${money(t.dedicatedMonthlyCost, t.currency)} on dedicated LBs, saving ${money(t.monthlySavings, t.currency)}`);
  out.push(
    '',
    table(
      ['LOAD BALANCER', 'ADDRESS', 'POOL', 'CLASS', 'MEMBERS', 'PORTS', 'MONTHLY', 'DEDICATED', 'SAVING'],
      r.loadBalancers.map((l) => [`${l.namespace}/${l.name}`, l.address || '<pending>', poolCell(l), l.class === null ? '-' : classText(l.class), String(l.members), `${l.portsUsed}/${l.capacity}`, money(l.monthlyCost, l.currency), money(l.dedicatedMonthlyCost, l.currency), money(l.monthlySavings, l.currency)]),
      [false, false, false, false, true, true, true, true, true],
    ),
  );
  out.push('', 'Assumptions:', ...r.assumptions.map((a) => `  - ${a}`));
  return `${out.join('\n')}\n`;
}

const csvCell = (v: string | number): string => (typeof v === 'number' ? String(v) : /[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v);

export function reportCsv(r: LiveReport): string {
  const head = ['namespace', 'name', 'address', 'pool', 'poolMissing', 'members', 'portsUsed', 'capacity', 'currency', 'monthlyCost', 'dedicatedMonthlyCost', 'monthlySavings'];
  const rows = r.loadBalancers.map((l) => [l.namespace, l.name, l.address, l.pool, String(l.poolMissing), l.members, l.portsUsed, l.capacity, l.currency, l.monthlyCost, l.dedicatedMonthlyCost, l.monthlySavings]);
  return `${[head, ...rows].map((row) => row.map(csvCell).join(',')).join('\n')}\n`;
}

const esc = (s: string): string => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** Horizontal bars: what each LB costs shared, next to what its members would cost alone. */
function chart(r: LiveReport): string {
  const rows = r.loadBalancers;
  if (rows.length === 0) return '<p>No shared load balancers yet.</p>';
  const max = Math.max(1, ...rows.map((l) => Math.max(l.monthlyCost, l.dedicatedMonthlyCost)));
  const label = 200;
  const width = 520;
  const rowH = 34;
  const h = rows.length * rowH + 30;
  const bars = rows.map((l, i) => {
    const y = 20 + i * rowH;
    const d = (l.dedicatedMonthlyCost / max) * width;
    const s = (l.monthlyCost / max) * width;
    return `<text x="${label - 8}" y="${y + 16}" text-anchor="end">${esc(l.name)}</text>`
      + `<rect x="${label}" y="${y}" width="${d.toFixed(1)}" height="12" class="dedicated"><title>dedicated ${esc(money(l.dedicatedMonthlyCost, l.currency))}</title></rect>`
      + `<rect x="${label}" y="${y + 14}" width="${Math.max(1, s).toFixed(1)}" height="12" class="shared"><title>shared ${esc(money(l.monthlyCost, l.currency))}</title></rect>`
      + `<text x="${label + Math.max(d, s) + 6}" y="${y + 16}">${esc(money(l.monthlySavings, l.currency))} saved</text>`;
  });
  return `<svg role="img" aria-label="Monthly cost per shared LB, shared versus dedicated" width="${label + width + 140}" height="${h}" xmlns="http://www.w3.org/2000/svg">`
    + `<g class="legend"><rect x="${label}" y="2" width="10" height="10" class="dedicated"/><text x="${label + 14}" y="11">on dedicated LBs</text>`
    + `<rect x="${label + 140}" y="2" width="10" height="10" class="shared"/><text x="${label + 154}" y="11">shared</text></g>`
    + bars.join('') + '</svg>';
}

/** Who pays: each namespace's share of the shared LBs' bills, as bars. */
function showbackSection(s: Showback | undefined): string {
  if (s === undefined || s.rows.length === 0) return '';
  const max = Math.max(0.01, ...s.rows.map((r) => r.monthlyCost));
  const rows = s.rows.map((r) => `<tr><td>${esc(r.group)}</td><td class="n">${r.members}</td><td class="n">${r.notPlaced}</td><td class="n">${r.ports}</td><td class="n">${r.currency === '' ? '–' : esc(money(r.monthlyCost, r.currency))}</td><td><svg width="220" height="12" role="img" aria-label="share"><rect width="${((220 * r.monthlyCost) / max).toFixed(1)}" height="12" class="shared"/></svg></td></tr>`).join('');
  return `<h2>Who pays: by ${esc(s.by)}</h2>
<table><thead><tr><th>${esc(s.by)}</th><th>Members</th><th>Not placed</th><th>Ports</th><th>Monthly share</th><th></th></tr></thead><tbody>${rows}</tbody></table>
<p class="sub">${esc(s.rule)}.</p>`;
}

export function reportHtml(r: LiveReport, shares?: Showback): string {
  const totals = r.totals.map((t) => `<p class="total">${esc(money(t.monthlySavings, t.currency))} saved per month: ${esc(money(t.monthlyCost, t.currency))} shared instead of ${esc(money(t.dedicatedMonthlyCost, t.currency))} on dedicated load balancers.</p>`).join('');
  const rows = r.loadBalancers.map((l) => `<tr><td>${esc(`${l.namespace}/${l.name}`)}</td><td>${esc(l.address || 'pending')}</td><td>${esc(poolCell(l))}</td><td class="n">${l.members}</td><td class="n">${l.portsUsed}/${l.capacity}</td><td class="n">${esc(money(l.monthlyCost, l.currency))}</td><td class="n">${esc(money(l.dedicatedMonthlyCost, l.currency))}</td><td class="n">${esc(money(l.monthlySavings, l.currency))}</td></tr>`).join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>sharedlb cost report</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body{font:15px/1.45 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#1d2330}
h1{font-size:1.5rem;margin:0 0 .25rem} .sub{color:#5b6475;margin:0 0 1.5rem}
.total{font-size:1.2rem;font-weight:600;color:#1b6b3a}
table{border-collapse:collapse;width:100%;margin:1rem 0} th,td{padding:.35rem .6rem;border-bottom:1px solid #e3e6ec;text-align:left}
th{font-weight:600;color:#5b6475} td.n{text-align:right;font-variant-numeric:tabular-nums}
svg text{font:12px system-ui,sans-serif;fill:#1d2330} .dedicated{fill:#c9ced8} .shared{fill:#2f7de1}
ul{color:#5b6475;font-size:.9rem}
</style></head><body>
<h1>Shared load balancers: cost and saving</h1>
<p class="sub">Generated ${esc(r.generatedAt)} · <a href="report.json">report.json</a></p>
${totals}
${chart(r)}
<table><thead><tr><th>Load balancer</th><th>Address</th><th>Pool</th><th>Members</th><th>Ports</th><th>Monthly</th><th>Dedicated</th><th>Saving</th></tr></thead><tbody>${rows}</tbody></table>
${showbackSection(shares)}
<h2>Assumptions</h2><ul>${r.assumptions.map((a) => `<li>${esc(a)}</li>`).join('')}</ul>
<h2>Price sources</h2><ul>${r.sources.map((s) => `<li>${esc(s)}</li>`).join('')}</ul>
</body></html>
`;
}

/** Showback as a table, CSV or JSON: per group, then the rule it follows. */
export function renderShowback(s: Showback, format: string): string {
  if (format === 'json') return `${JSON.stringify(s, null, 2)}\n`;
  if (format === 'csv') {
    const head = [s.by, 'currency', 'members', 'notPlaced', 'ports', 'monthlyCost', 'dedicatedMonthlyCost', 'monthlySavings'];
    return `${[head, ...s.rows.map((r) => [r.group, r.currency, r.members, r.notPlaced, r.ports, r.monthlyCost, r.dedicatedMonthlyCost, r.monthlySavings])].map((row) => row.map(csvCell).join(',')).join('\n')}\n`;
  }
  if (s.rows.length === 0) return 'No members yet: nothing to show back.\n';
  const body = table(
    [s.by.toUpperCase(), 'MEMBERS', 'NOT PLACED', 'PORTS', 'MONTHLY', 'DEDICATED', 'SAVING'],
    s.rows.map((r) => [r.group, String(r.members), String(r.notPlaced), String(r.ports), r.currency === '' ? '-' : money(r.monthlyCost, r.currency), r.currency === '' ? '-' : money(r.dedicatedMonthlyCost, r.currency), r.currency === '' ? '-' : money(r.monthlySavings, r.currency)]),
    [false, true, true, true, true, true, true],
  );
  return `${body}\n\nShares: ${s.rule}. Members waiting or refused hold nothing and cost nothing.\n`;
}

export function renderReport(r: LiveReport, format: string, shares?: Showback): string {
  switch (format) {
    case 'json':
      return `${JSON.stringify(shares === undefined ? r : { ...r, showback: shares }, null, 2)}\n`;
    case 'csv':
      return reportCsv(r);
    case 'html':
      return reportHtml(r, shares);
    default:
      return reportTable(r);
  }
}
