// The latency picture: one panel per offered rate, each with a percentile-distribution curve per
// target (HdrHistogram's plot: x is the percentile on a 1/(1-p) log scale, so 50, 90, 99, 99.9
// are evenly spaced; y is latency in µs on a log scale). Plain SVG text, no dependencies.
import type { Histogram } from './stats.ts';

export interface LatencySeries {
  readonly label: string;
  readonly histogram: Histogram;
}

export interface LatencyPanel {
  readonly title: string;
  readonly series: readonly LatencySeries[];
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e'];
const PERCENTILES = [0, 10, 20, 30, 40, 50, 60, 70, 75, 80, 85, 90, 92.5, 95, 96, 97, 98, 99, 99.25, 99.5, 99.75, 99.9, 99.95, 99.99];
const X_TICKS = [0, 90, 99, 99.9, 99.99];
const MAX_X = Math.log10(1 / (1 - 99.99 / 100));

const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
const xOf = (p: number): number => Math.log10(1 / (1 - p / 100)) / MAX_X;

export function latencySvg(panels: readonly LatencyPanel[], caption: string): string {
  const pw = 360;
  const ph = 260;
  const m = { l: 60, r: 10, t: 30, b: 40 };
  const width = panels.length * (pw + m.l + m.r) + 20;
  const height = ph + m.t + m.b + 60;
  const values = panels.flatMap((p) => p.series.flatMap((s) => PERCENTILES.map((q) => s.histogram.percentile(q)))).filter((v) => Number.isFinite(v) && v > 0);
  const lo = Math.pow(10, Math.floor(Math.log10(Math.max(1, Math.min(...values, 10)))));
  const hi = Math.pow(10, Math.ceil(Math.log10(Math.max(...values, 100))));
  const yOf = (v: number): number => 1 - (Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo));
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="${height - 10}" font-size="12">${esc(caption)}</text>`,
  ];
  panels.forEach((panel, i) => {
    const ox = 10 + i * (pw + m.l + m.r) + m.l;
    const oy = m.t;
    out.push(`<text x="${ox}" y="${oy - 10}" font-size="13" font-weight="bold">${esc(panel.title)}</text>`);
    out.push(`<rect x="${ox}" y="${oy}" width="${pw}" height="${ph}" fill="none" stroke="#888"/>`);
    for (let decade = lo; decade <= hi; decade *= 10) {
      const y = oy + yOf(decade) * ph;
      out.push(`<line x1="${ox}" y1="${y}" x2="${ox + pw}" y2="${y}" stroke="#eee"/><text x="${ox - 5}" y="${y + 4}" text-anchor="end">${decade >= 1000 ? `${decade / 1000} ms` : `${decade} µs`}</text>`);
    }
    for (const p of X_TICKS) {
      const x = ox + xOf(p) * pw;
      out.push(`<line x1="${x}" y1="${oy}" x2="${x}" y2="${oy + ph}" stroke="#eee"/><text x="${x}" y="${oy + ph + 15}" text-anchor="middle">p${p}</text>`);
    }
    panel.series.forEach((series, k) => {
      const color = COLORS[k % COLORS.length] ?? '#000';
      const points = PERCENTILES.map((q) => [ox + xOf(q) * pw, oy + yOf(series.histogram.percentile(q)) * ph] as const)
        .filter(([, y]) => Number.isFinite(y))
        .map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`);
      out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(' ')}"/>`);
      out.push(`<rect x="${ox + 8}" y="${oy + 8 + k * 16}" width="10" height="10" fill="${color}"/><text x="${ox + 22}" y="${oy + 17 + k * 16}">${esc(series.label)}</text>`);
    });
  });
  out.push(`<text x="10" y="${height - 28}">x: percentile (1/(1-p) log scale); y: latency from intended send time (CO-corrected), log scale</text>`);
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
