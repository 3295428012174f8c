/**
 * A dependency-free SVG line chart (no browser, no canvas): series of (x, y) points on a log2 or linear
 * x axis and a linear y axis from 0, with gridlines, tick labels, a legend, and a <title> tooltip on each
 * point. Used for docs/bench-throughput.svg. Pure: same input, same bytes.
 */

export interface ChartPoint {
  x: number;
  y: number;
  /** Tooltip text (defaults to "name: y at x"). */
  label?: string;
}

export interface ChartSeries {
  name: string;
  color: string;
  points: ChartPoint[];
  /** Dashed line (reference lines such as a roofline). */
  dashed?: boolean;
}

export interface LineChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  series: ChartSeries[];
  /** Log base-2 x axis (concurrency levels 1, 4, 16, 64 spread evenly). Default true. */
  xLog2?: boolean;
  width?: number;
  height?: number;
  /** Optional second title line (machine, model). */
  subtitle?: string;
}

/** Escapes text for SVG/XML content and attribute values. */
export function escapeXml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&apos;');
}

/** A "nice" axis maximum (1, 2, 2.5 or 5 × 10^k) at or above `v`, and its tick step. */
export function niceScale(v: number, ticks = 5): { max: number; step: number } {
  if (!(v > 0) || !Number.isFinite(v)) return { max: 1, step: 0.2 };
  const raw = v / ticks;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw)!;
  return { max: Math.ceil(v / step - 1e-9) * step, step };
}

const fmt = (v: number) => (Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(3));
const num = (v: number) => Number(v.toFixed(1)).toString();

/** Renders the chart as a standalone SVG document. */
export function lineChart(o: LineChartOptions): string {
  const W = o.width ?? 760;
  const H = o.height ?? 440;
  const log = o.xLog2 !== false;
  const m = { left: 70, right: 230, top: o.subtitle ? 58 : 42, bottom: 52 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const pts = o.series.flatMap((s) => s.points).filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const xs = [...new Set(pts.map((p) => p.x))].sort((a, b) => a - b);
  const tx = (x: number) => (log ? Math.log2(Math.max(x, 1e-9)) : x);
  const x0 = xs.length ? tx(xs[0]!) : 0;
  const x1 = xs.length ? tx(xs.at(-1)!) : 1;
  const span = x1 - x0 || 1;
  const X = (x: number) => m.left + (xs.length <= 1 ? pw / 2 : ((tx(x) - x0) / span) * pw);
  const { max: yMax, step } = niceScale(Math.max(0, ...pts.map((p) => p.y)) * 1.05);
  const Y = (y: number) => m.top + ph - (y / yMax) * ph;
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="#ffffff"/>`);
  out.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${escapeXml(o.title)}</text>`);
  if (o.subtitle) out.push(`<text x="${W / 2}" y="40" text-anchor="middle" fill="#555">${escapeXml(o.subtitle)}</text>`);
  // y grid and ticks
  for (let v = 0; v <= yMax + 1e-9; v += step) {
    const y = num(Y(v));
    out.push(`<line x1="${m.left}" y1="${y}" x2="${m.left + pw}" y2="${y}" stroke="#e5e5e5"/>`);
    out.push(`<text x="${m.left - 8}" y="${y}" text-anchor="end" dominant-baseline="middle">${fmt(v)}</text>`);
  }
  // x ticks at every x present
  for (const x of xs) {
    const px = num(X(x));
    out.push(`<line x1="${px}" y1="${m.top}" x2="${px}" y2="${m.top + ph}" stroke="#f0f0f0"/>`);
    out.push(`<text x="${px}" y="${m.top + ph + 18}" text-anchor="middle">${fmt(x)}</text>`);
  }
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`);
  out.push(`<text x="${m.left + pw / 2}" y="${H - 12}" text-anchor="middle">${escapeXml(o.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">${escapeXml(o.yLabel)}</text>`);
  // series
  o.series.forEach((s, i) => {
    const sp = s.points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y)).sort((a, b) => a.x - b.x);
    const dash = s.dashed ? ' stroke-dasharray="6 4"' : '';
    if (sp.length > 1) {
      const d = sp.map((p) => `${num(X(p.x))},${num(Y(p.y))}`).join(' ');
      out.push(`<polyline points="${d}" fill="none" stroke="${escapeXml(s.color)}" stroke-width="2"${dash}/>`);
    }
    for (const p of sp) {
      const tip = p.label ?? `${s.name}: ${fmt(p.y)} at ${fmt(p.x)}`;
      out.push(`<circle cx="${num(X(p.x))}" cy="${num(Y(p.y))}" r="4" fill="${escapeXml(s.color)}"><title>${escapeXml(tip)}</title></circle>`);
    }
    const ly = m.top + 8 + i * 20;
    const lx = m.left + pw + 14;
    out.push(`<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" stroke="${escapeXml(s.color)}" stroke-width="2"${dash}/>`);
    out.push(`<circle cx="${lx + 11}" cy="${ly}" r="3.5" fill="${escapeXml(s.color)}"/>`);
    out.push(`<text x="${lx + 28}" y="${ly}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return out.join('\n') + '\n';
}
