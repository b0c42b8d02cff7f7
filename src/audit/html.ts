// `cargo sandbox audit --html FILE`: one self-contained page (no network, no external files) with
// every build script, what it did, filterable, and the dependency path that pulls it in.

import type { AuditReport } from './report.js';

/** JSON that is safe inside <script>: no `</script>`, no HTML comment openers. */
function embed(data: unknown): string {
  return JSON.stringify(data).replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
}

const STYLE = `
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#222}
h1{font-size:1.3rem}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;vertical-align:top}
th{background:#f4f4f4;position:sticky;top:0}tr.risky td:first-child{border-left:4px solid #c00}
.blocked{color:#c00;font-weight:600}.muted{color:#777}.controls{margin:1rem 0;display:flex;gap:1rem;align-items:center}
details ul{margin:.3rem 0;padding-left:1.2rem}code{font-size:12px}`;

const SCRIPT = `
const report = JSON.parse(document.getElementById('audit-data').textContent);
const rows = document.getElementById('rows');
const filter = document.getElementById('filter');
const onlyBlocked = document.getElementById('only-blocked');
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
  for (const c of children) e.append(c);
  return e;
}
function items(label, list, text) {
  if (!list.length) return el('span', { class: 'muted' }, '-');
  const d = el('details', {}, el('summary', {}, list.length + ' ' + label));
  const ul = el('ul');
  for (const x of list) ul.append(el('li', x.blocked ? { class: 'blocked' } : {}, el('code', {}, text(x)), x.blocked ? ' (blocked)' : ''));
  d.append(ul);
  return d;
}
function render() {
  const q = filter.value.trim().toLowerCase();
  rows.replaceChildren();
  let shown = 0;
  for (const s of report.scripts) {
    const blocked = [...s.executed, ...s.readOutside, ...s.writtenOutside, ...s.network].filter((x) => x.blocked).length;
    const haystack = JSON.stringify(s).toLowerCase();
    if ((q && !haystack.includes(q)) || (onlyBlocked.checked && !blocked)) continue;
    shown++;
    const tr = el('tr', { class: 'script' + (s.network.length || s.writtenOutside.length || blocked ? ' risky' : ''), 'data-package': s.package });
    tr.append(
      el('td', {}, el('strong', {}, s.package), ' ' + s.version),
      el('td', {}, String(s.risk)),
      el('td', {}, items('programs', s.executed, (x) => x.argv.join(' ') || x.program)),
      el('td', {}, items('files', s.readOutside, (x) => x.path)),
      el('td', {}, items('files', s.writtenOutside, (x) => x.path)),
      el('td', {}, items('destinations', s.network, (x) => x.destination)),
      el('td', blocked ? { class: 'blocked' } : {}, String(blocked)),
      el('td', {}, (s.durationMs / 1000).toFixed(1) + ' s'),
      el('td', {}, s.exitCode === undefined ? '?' : String(s.exitCode)),
      el('td', {}, el('code', {}, s.dependencyPath.join(' \\u2192 '))),
    );
    rows.append(tr);
  }
  document.getElementById('count').textContent = shown + ' of ' + report.scripts.length + ' build scripts';
}
filter.addEventListener('input', render);
onlyBlocked.addEventListener('change', render);
render();`;

export function renderHtml(report: AuditReport): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<title>cargo-sandbox audit: ${report.workspace.replace(/[<>&"]/g, '')}</title>
<style>${STYLE}</style></head>
<body>
<h1>Build scripts of <code id="workspace"></code></h1>
<p class="muted">cargo-sandbox ${report.tool.version} &middot; schema ${report.schema} &middot; build exit code ${report.buildStatus}</p>
<div class="controls">
<label>Filter <input id="filter" type="search" placeholder="package, program, path, host"></label>
<label><input id="only-blocked" type="checkbox"> only scripts with blocked actions</label>
<span id="count"></span></div>
<table><thead><tr><th>package</th><th>risk</th><th>executed</th><th>read outside defaults</th><th>wrote outside defaults</th><th>network</th><th>blocked</th><th>time</th><th>exit</th><th>pulled in by</th></tr></thead>
<tbody id="rows"></tbody></table>
<script type="application/json" id="audit-data">${embed(report)}</script>
<script>${SCRIPT}
document.getElementById('workspace').textContent = report.workspace;</script>
</body></html>
`;
}
