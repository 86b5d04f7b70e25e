// GET /: the status page, for a person at a glance (Linkerd 1's admin dashboard on :9990 is the
// model, without its JavaScript). Server-rendered from the /status document: meshed pods, the
// busiest routes with success rate, latency and SLO burn, endpoints with load and breaker state, the
// latest failures with their reasons. One self-contained document: inline CSS, no script, no
// external asset (the CSP forbids them), every value HTML-escaped. It reloads itself every few
// seconds through <meta http-equiv="refresh">; `?refresh=0` turns that off, `?refresh=N` sets it.
import type { AdminProvider } from './core-routes.ts';
import type { AdminHandler } from './router.ts';
import { burn, millis, percent, statusView } from './status-view.ts';
import type { EndpointRow, FailureRow, PodRow, RouteRow, StatusView } from './status-view.ts';

export interface StatusPageParams {
  /** Seconds between reloads (0: never). */
  readonly refreshSeconds: number;
  /** Rows shown per table; the rest is counted under it ("and 12 more"). */
  readonly maxRows: number;
}

export const statusPageParams: StatusPageParams = { refreshSeconds: 5, maxRows: 50 };

const entities: Readonly<Record<string, string>> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** Text safe in HTML content and in double- or single-quoted attributes. */
export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => entities[c] ?? c);
}

/** Marks already-escaped markup, so it is not escaped twice. */
interface Html {
  readonly html: string;
}

const raw = (html: string): Html => ({ html });

/** A template tag that escapes every interpolated value unless it is Html (or a list of Html). */
function h(strings: TemplateStringsArray, ...values: unknown[]): Html {
  let out = strings[0] ?? '';
  values.forEach((value, i) => {
    out += render(value) + (strings[i + 1] ?? '');
  });
  return raw(out);
}

function render(value: unknown): string {
  if (Array.isArray(value)) return value.map(render).join('');
  if (typeof value === 'object' && value !== null && 'html' in value && typeof (value as Html).html === 'string') return (value as Html).html;
  if (value === undefined || value === null) return '';
  return escapeHtml(value);
}

const STYLE = `
:root{color-scheme:light;--ok:#1a7f37;--warn:#9a6700;--bad:#cf222e;--mute:#656d76;--line:#d0d7de;--bg:#f6f8fa}
*{box-sizing:border-box}
body{margin:0;font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;background:#fff}
header{padding:14px 24px;background:#0b2447;color:#fff;display:flex;flex-wrap:wrap;gap:8px 24px;align-items:baseline}
header h1{margin:0;font-size:20px;letter-spacing:.5px}
header .facts{color:#c9d6ea;font-size:13px}
main{padding:16px 24px 32px;max-width:1400px}
.tiles{display:flex;flex-wrap:wrap;gap:12px;margin:4px 0 8px}
.tile{border:1px solid var(--line);border-radius:8px;padding:10px 16px;min-width:150px;background:var(--bg)}
.tile b{display:block;font-size:24px}
.tile span{color:var(--mute);font-size:12px;text-transform:uppercase;letter-spacing:.4px}
h2{font-size:16px;margin:22px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:5px 10px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--bg);font-weight:600;white-space:nowrap}
td.n{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
th.n{text-align:right}
details{margin-top:2px}summary{cursor:pointer;color:var(--mute);font-size:12px}details ol{margin:4px 0 0;padding-left:20px;color:var(--mute);font-size:12px}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace}
.ok{color:var(--ok);font-weight:600}.warn{color:var(--warn);font-weight:600}.bad{color:var(--bad);font-weight:600}.mute{color:var(--mute)}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;font-size:12px;font-weight:600;border:1px solid currentColor}
.empty{color:var(--mute);font-style:italic;padding:6px 0}
footer{color:var(--mute);font-size:12px;padding:0 24px 24px}
`;

function successClass(row: RouteRow): string {
  const rate = row.successRate5m;
  if (rate === undefined) return 'mute';
  const objective = row.successObjective ?? 0.999;
  if (rate >= objective) return 'ok';
  return row.burning.includes('success') || rate < 0.9 ? 'bad' : 'warn';
}

function stateClass(state: string): string {
  if (state === 'meshed' || state === 'closed' || state === 'ready') return 'ok';
  if (state === 'open' || state === 'failed' || state === 'excluded-error') return 'bad';
  return 'warn';
}

function rows<T>(list: readonly T[], max: number, columns: number, row: (item: T) => Html, empty: string): Html {
  if (list.length === 0) return h`<tr><td colspan="${columns}" class="empty">${empty}</td></tr>`;
  const shown = list.slice(0, max).map(row);
  const more = list.length > max ? h`<tr><td colspan="${columns}" class="mute">and ${list.length - max} more (see /status)</td></tr>` : raw('');
  return h`${shown}${more}`;
}

function podTable(pods: readonly PodRow[], max: number): Html {
  // Meshed pods first: what the agent is doing; the others say why not.
  const ordered = [...pods].sort((a, b) => Number(b.meshed) - Number(a.meshed) || a.name.localeCompare(b.name));
  const num = (n: number | undefined): string => (n === undefined ? '-' : String(n));
  return h`<table id="pods"><thead><tr><th>pod</th><th>state</th><th class="n">captured</th><th class="n">accepted</th><th class="n">bypassed</th><th class="n">failed</th><th>reason</th></tr></thead><tbody>${
    rows(ordered, max, 7, (p) => h`<tr><td><code>${p.name}</code></td><td class="${stateClass(p.state)}">${p.state}</td><td class="n">${num(p.captured)}</td><td class="n">${num(p.accepted)}</td><td class="n">${num(p.bypassed)}</td><td class="n">${num(p.failed)}</td><td>${p.reason}</td></tr>`, 'no pods on this node')
  }</tbody></table>`;
}

function routeTable(routes: readonly RouteRow[], max: number): Html {
  return h`<table id="routes"><thead><tr><th>route</th><th class="n">success (5 m)</th><th class="n">success (1 h)</th><th class="n">requests (5 m)</th><th class="n">p50</th><th class="n">p99</th><th class="n">in flight</th><th>SLO</th><th class="n">burn 5 m / 1 h</th><th>retry budget</th></tr></thead><tbody>${
    rows(routes, max, 10, (r) => {
      const latency = r.latencyObjective;
      const objective = `${percent(r.successObjective)} ok; ${percent(latency.objective)} ≤ ${millis(latency.thresholdMs)}`;
      const burning = r.burning.length === 0 ? raw('') : h` <span class="badge bad">burning ${r.burning.join(', ')}</span>`;
      // The live stack, outermost first, folded: there when asked for, out of the way otherwise.
      const stack = r.stack.length === 0 ? raw('') : h`<details><summary>stack</summary><ol>${r.stack.map((layer) => h`<li>${layer}</li>`)}</ol></details>`;
      return h`<tr><td><code>${r.name}</code>${burning}${stack}</td><td class="n ${successClass(r)}">${percent(r.successRate5m)}</td><td class="n">${percent(r.successRate1h)}</td><td class="n">${r.requests5m ?? '-'}</td><td class="n">${millis(r.p50Ms)}</td><td class="n">${millis(r.p99Ms)}</td><td class="n">${r.inFlight ?? '-'}</td><td class="mute">${objective}</td><td class="n">success ${burn(r.burn.success5m)} / ${burn(r.burn.success1h)}<br>latency ${burn(r.burn.latency5m)} / ${burn(r.burn.latency1h)}</td><td class="mute">${r.budget}</td></tr>`;
    }, 'no routes yet: a meshed pod has not sent an HTTP request')
  }</tbody></table>`;
}

function endpointTable(endpoints: readonly EndpointRow[], max: number): Html {
  return h`<table id="endpoints"><thead><tr><th>route</th><th>endpoint</th><th>breaker</th><th class="n">in flight</th><th class="n">EWMA latency</th></tr></thead><tbody>${
    rows(endpoints, max, 5, (e) => {
      const state = e.available === false && e.state === 'closed' ? 'unavailable' : e.state;
      return h`<tr><td><code>${e.route}</code></td><td><code>${e.endpoint}</code></td><td class="${stateClass(state)}">${state}</td><td class="n">${e.pending ?? '-'}</td><td class="n">${millis(e.rttMs)}</td></tr>`;
    }, 'no endpoints yet')
  }</tbody></table>`;
}

function failureTable(failures: readonly FailureRow[], max: number, now: Date): Html {
  return h`<table id="failures"><thead><tr><th>when</th><th>route</th><th>from</th><th class="n">status</th><th>reason</th></tr></thead><tbody>${
    rows(failures, max, 5, (f) => h`<tr><td class="mute" title="${f.at}">${ago(f.at, now)}</td><td><code>${f.route}</code></td><td><code>${f.source}</code></td><td class="n bad">${f.status ?? '-'}</td><td>${f.reason}</td></tr>`, 'no failed requests')
  }</tbody></table>`;
}

function ago(iso: string, now: Date): string {
  const ms = now.getTime() - Date.parse(iso);
  if (!Number.isFinite(ms)) return iso;
  if (ms < 1000) return 'just now';
  if (ms < 60_000) return `${Math.floor(ms / 1000)} s ago`;
  if (ms < 3_600_000) return `${Math.floor(ms / 60_000)} min ago`;
  return `${Math.floor(ms / 3_600_000)} h ago`;
}

function page(view: StatusView, params: StatusPageParams, now: Date): string {
  const { agent, host } = view;
  const meshed = view.pods.filter((p) => p.meshed).length;
  const readiness = agent.ready === true ? h`<span class="badge" style="color:#7ee2a8">ready</span>` : h`<span class="badge" style="color:#ff9492">not ready${agent.reasons.length === 0 ? '' : `: ${agent.reasons.join('; ')}`}</span>`;
  const requests = view.routes.reduce((n, r) => n + (r.requests5m ?? 0), 0);
  const burningRoutes = view.routes.filter((r) => r.burning.length > 0).length;
  const open = view.endpoints.filter((e) => e.state === 'open').length;
  const refresh = params.refreshSeconds > 0 ? h`<meta http-equiv="refresh" content="${params.refreshSeconds}">` : raw('');
  const body = h`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">${refresh}
<title>weft ${host.node}: ${meshed} meshed pods</title><style>${raw(STYLE)}</style></head>
<body><header><h1>weft</h1><span>${agent.version}</span>${readiness}
<span class="facts">node <b>${host.node}</b> · kernel ${host.kernel} · ${host.distro} · ${host.cpus} CPUs · ${host.memory} · Node.js ${host.nodeJs} · pid ${agent.pid ?? '?'}${agent.startedAt === undefined ? '' : ` · up since ${agent.startedAt}`}</span></header>
<main>
<div class="tiles">
<div class="tile"><b>${meshed}</b><span>meshed pods</span></div>
<div class="tile"><b>${view.routes.length}</b><span>routes</span></div>
<div class="tile"><b>${requests}</b><span>requests, 5 min</span></div>
<div class="tile"><b class="${burningRoutes > 0 ? 'bad' : 'ok'}">${burningRoutes}</b><span>routes burning SLO</span></div>
<div class="tile"><b class="${open > 0 ? 'bad' : 'ok'}">${open}</b><span>endpoints ejected</span></div>
<div class="tile"><b class="${(view.failuresTotal ?? 0) > 0 ? 'warn' : 'ok'}">${view.failuresTotal ?? 0}</b><span>failed requests</span></div>
</div>
<h2>Routes</h2>${routeTable(view.routes, params.maxRows)}
<h2>Latest failures</h2>${failureTable(view.failures, params.maxRows, now)}
<h2>Endpoints</h2>${endpointTable(view.endpoints, params.maxRows)}
<h2>Pods</h2>${podTable(view.pods, params.maxRows)}
</main>
<footer>${now.toISOString()} · <a href="/status?pretty">/status</a> · <a href="/metrics">/metrics</a> · <a href="/ready">/ready</a>${params.refreshSeconds > 0 ? ` · reloads every ${params.refreshSeconds} s (?refresh=0 to stop)` : ''}</footer>
</body></html>
`;
  return body.html;
}

/** The page for a /status document. */
export function renderStatusPage(document: unknown, params: StatusPageParams = statusPageParams, now = new Date()): string {
  const view = statusView(document);
  if (view === undefined) {
    return h`<!doctype html><html lang="en"><head><meta charset="utf-8"><title>weft</title></head><body><p>The status document could not be read; see <a href="/status?pretty">/status</a>.</p></body></html>`.html;
  }
  return page(view, params, now);
}

const securityHeaders = {
  'content-type': 'text/html; charset=utf-8',
  'cache-control': 'no-store',
  'x-content-type-options': 'nosniff',
  // Nothing but the document itself and its inline style: no script, no fetch, no frame.
  'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
} as const;

export function statusPageHandler(provider: Pick<AdminProvider, 'status'>, params: StatusPageParams = statusPageParams): AdminHandler {
  return (request) => {
    const asked = request.query.get('refresh');
    const seconds = asked === null ? params.refreshSeconds : Number(asked);
    const refreshSeconds = Number.isInteger(seconds) && seconds >= 0 && seconds <= 3600 ? seconds : params.refreshSeconds;
    // The document through JSON, as /status gives it (bigints as strings), so both read the same.
    const document = JSON.parse(JSON.stringify(provider.status(), (_key, value: unknown) => (typeof value === 'bigint' ? value.toString() : value))) as unknown;
    return { status: 200, headers: securityHeaders, body: renderStatusPage(document, { ...params, refreshSeconds }) };
  };
}
