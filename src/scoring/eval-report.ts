/**
 * Reports of a reward evaluation (FormatSummary from eval.ts): text tables for the terminal, and a Markdown
 * report with a hand-written SVG bar chart, beside published reference numbers when given. Pure: the
 * command does the I/O. Scores are shown in percent (accuracies, section scores); correlations as r.
 */
import { formatSummaryTable, type FormatSummary } from './eval.ts';
import { REWARDBENCH_SECTIONS } from './rewardbench.ts';

/** Published numbers to compare with, by name (section, subset, attribute, "Overall"); matched case-insensitively. */
export type ReferenceScores = Record<string, number>;

/** One named figure of a summary; `value` null when undefined (no rows). */
export interface Figure {
  name: string;
  value: number | null;
  /** Rows behind it, where meaningful. */
  n?: number;
  /** Indented under a section. */
  child?: boolean;
}

/** The headline figures of a summary, in report order, with their unit. */
export function figuresOf(s: FormatSummary): { unit: '%' | 'r'; figures: Figure[] } {
  const pct = (v: number | null) => (v === null ? null : 100 * v);
  switch (s.format) {
    case 'rewardbench': {
      const rb = s.rewardbench;
      const figures: Figure[] = [];
      for (const [section, subsets] of Object.entries(REWARDBENCH_SECTIONS)) {
        const sc = rb.sections[section as keyof typeof rb.sections];
        figures.push({ name: section, value: sc.subsetsPresent.length > 0 ? 100 * sc.score : null });
        for (const sub of subsets) if (rb.subsets[sub]) figures.push({ name: sub, value: 100 * rb.subsets[sub].accuracy, n: rb.subsets[sub].rows, child: true });
      }
      for (const [sub, a] of Object.entries(rb.unknownSubsets)) figures.push({ name: `${sub} (no section)`, value: 100 * a.accuracy, n: a.rows });
      figures.push({ name: 'Overall', value: 100 * rb.overall });
      return { unit: '%', figures };
    }
    case 'rewardbench2': {
      const figures: Figure[] = Object.entries(s.rewardbench2.subsets).map(([k, v]) => ({ name: k, value: 100 * v.score, n: v.rows }));
      figures.push({ name: 'Overall', value: pct(s.rewardbench2.overall) });
      return { unit: '%', figures };
    }
    case 'helpsteer2':
      return { unit: 'r', figures: Object.entries(s.attributes).map(([k, v]) => ({ name: k, value: v.pearson, n: v.n })) };
    case 'helpsteer2-preference': {
      const p = s.preferences;
      const figures: Figure[] = (['1', '2', '3'] as const).map((k) => ({ name: `|strength| ${k}`, value: pct(p.byStrength[k].accuracy), n: p.byStrength[k].scored }));
      figures.push({ name: 'Overall', value: pct(p.overall.accuracy), n: p.overall.scored });
      return { unit: '%', figures };
    }
  }
}

/** The reference number for a figure's name, if any. */
export function referenceFor(ref: ReferenceScores | undefined, name: string): number | undefined {
  if (!ref) return undefined;
  const key = Object.keys(ref).find((k) => k.toLowerCase() === name.toLowerCase());
  return key === undefined ? undefined : ref[key];
}

function table(header: string[], body: string[][]): string {
  const all = [header, ...body];
  const widths = header.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  const fmt = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)].join('\n');
}

const num = (v: number | null | undefined, digits: number) => (v === null || v === undefined ? 'n/a' : v.toFixed(digits));

/** The summary as text tables for the terminal. */
export function formatTextReport(s: FormatSummary, ref?: ReferenceScores): string {
  const parts: string[] = [];
  if (s.format === 'rewardbench') parts.push(formatSummaryTable(s), '');
  if (s.format === 'helpsteer2') {
    const body = Object.entries(s.attributes).map(([k, v]) => [k, num(v.pearson, 3), num(v.spearman, 3), String(v.n), String(v.errors)]);
    parts.push(table(['attribute', 'pearson', 'spearman', 'n', 'errors'], body));
  } else {
    const { figures } = figuresOf(s);
    const withRef = ref !== undefined;
    const body = figures.map((f) => [
      (f.child ? '  ' : '') + f.name,
      f.n === undefined ? '' : String(f.n),
      num(f.value, 1),
      ...(withRef ? [num(referenceFor(ref, f.name), 1)] : []),
    ]);
    parts.push(table(['name', 'rows', 'score %', ...(withRef ? ['reference'] : [])], body));
    if (s.format === 'helpsteer2-preference') {
      const t = s.preferences.humanTies;
      parts.push(`human ties (strength 0, outside accuracy): ${t.rows} row(s), ${t.modelTies} scored exactly equal by the model`);
    }
  }
  parts.push(refusedLines(s, 20));
  return parts.join('\n');
}

function refusedLines(s: FormatSummary, max: number): string {
  if (s.refused.length === 0) return `\nall ${s.rows} row(s) scored`;
  const lines = s.refused.slice(0, max).map((r) => `  ${r.place}: ${r.error}`);
  if (s.refused.length > max) lines.push(`  … ${s.refused.length - max} more (see --json or --report)`);
  return `\n${s.refused.length} of ${s.rows} row(s) refused by the scorer, left out of every figure:\n${lines.join('\n')}`;
}

const escapeXml = (t: string) => t.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * A horizontal bar chart as a standalone SVG: one bar per figure on a fixed scale (0..100 for percent,
 * -1..1 for correlations), with a reference mark (a dark tick) where the reference names the figure.
 */
export function barChartSvg(title: string, unit: '%' | 'r', figures: Figure[], ref?: ReferenceScores): string {
  const [lo, hi] = unit === '%' ? [0, 100] : [-1, 1];
  const rowH = 22;
  const left = 200;
  const plotW = 420;
  const top = 36;
  const H = top + rowH * figures.length + 30;
  const W = left + plotW + 80;
  const x = (v: number) => left + (plotW * (Math.min(hi, Math.max(lo, v)) - lo)) / (hi - lo);
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
  ];
  figures.forEach((f, i) => {
    const y = top + i * rowH;
    out.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${escapeXml((f.child ? '  ' : '') + f.name)}</text>`);
    if (f.value !== null) {
      const [a, b] = [x(Math.min(0, f.value)), x(Math.max(0, f.value))];
      const fill = f.child ? '#8fb3d9' : '#2b6cb0';
      out.push(`<rect x="${a.toFixed(1)}" y="${y + 4}" width="${Math.max(0.5, b - a).toFixed(1)}" height="${rowH - 8}" fill="${fill}"><title>${escapeXml(`${f.name}: ${f.value.toFixed(unit === '%' ? 1 : 3)}`)}</title></rect>`);
      out.push(`<text x="${left + plotW + 6}" y="${y + 15}">${f.value.toFixed(unit === '%' ? 1 : 3)}</text>`);
    }
    const r = referenceFor(ref, f.name);
    if (r !== undefined) out.push(`<line x1="${x(r).toFixed(1)}" x2="${x(r).toFixed(1)}" y1="${y + 1}" y2="${y + rowH - 1}" stroke="#c53030" stroke-width="3"><title>reference ${r}</title></line>`);
  });
  const axisY = top + rowH * figures.length + 4;
  out.push(`<line x1="${left}" x2="${left + plotW}" y1="${axisY}" y2="${axisY}" stroke="#444"/>`);
  for (let k = 0; k <= 4; k++) {
    const v = lo + ((hi - lo) * k) / 4;
    out.push(`<text x="${x(v).toFixed(1)}" y="${axisY + 16}" text-anchor="middle">${unit === '%' ? v.toFixed(0) : v.toFixed(1)}</text>`);
  }
  if (ref) out.push(`<text x="${left}" y="${H - 2}" fill="#c53030" font-size="10">red mark: published reference</text>`);
  out.push('</svg>');
  return out.join('\n');
}

/** What the report says about the run. */
export interface ReportMeta {
  title: string;
  model: string;
  scorer: string;
  data: string;
  seconds: number;
  /** The model has random weights (one of ours): the figures are meaningless. */
  meaningless: boolean;
}

/** The Markdown report: what was run, the figures (with references), the chart, and every refused row. */
export function markdownReport(s: FormatSummary, meta: ReportMeta, ref?: ReferenceScores): string {
  const { unit, figures } = figuresOf(s);
  const lines = [`# ${meta.title}`, '', `- model: \`${meta.model}\` (${meta.scorer})`, `- data: \`${meta.data}\` (${s.format}, ${s.rows} rows, ${s.refused.length} refused)`, `- time: ${meta.seconds.toFixed(1)} s`, ''];
  if (meta.meaningless) lines.push('> **The figures below are meaningless:** this model has random weights (built by this project for tests); they only show that the pipeline runs.', '');
  const withRef = ref !== undefined;
  const head = unit === '%' ? 'score (%)' : 'pearson r';
  lines.push(`| name | rows | ${head} |${withRef ? ' reference |' : ''}`, `|---|---:|---:|${withRef ? '---:|' : ''}`);
  for (const f of figures) {
    const name = f.child ? `&nbsp;&nbsp;${f.name}` : `**${f.name}**`;
    lines.push(`| ${name} | ${f.n ?? ''} | ${num(f.value, unit === '%' ? 1 : 3)} |${withRef ? ` ${num(referenceFor(ref, f.name), 1)} |` : ''}`);
  }
  if (s.format === 'helpsteer2') {
    lines.push('', '| attribute | pearson | spearman | n | errors |', '|---|---:|---:|---:|---:|');
    for (const [k, v] of Object.entries(s.attributes)) lines.push(`| ${k} | ${num(v.pearson, 3)} | ${num(v.spearman, 3)} | ${v.n} | ${v.errors} |`);
  }
  lines.push('', barChartSvg(meta.title, unit, figures, ref), '');
  lines.push('## Refused rows', '');
  if (s.refused.length === 0) lines.push('None: every row was scored.');
  else for (const r of s.refused) lines.push(`- \`${r.place}\`${r.id !== undefined ? ` (id ${String(r.id)})` : ''}: ${r.error}`);
  return `${lines.join('\n')}\n`;
}
