// Small bar charts drawn as inline SVG by the page's own script (no library, no external resource,
// no inline style: colours come from charts.css by class), each with a table of the same figures
// for screen readers and for anyone who prefers numbers.
import { h } from './common.js';

const SVG = 'http://www.w3.org/2000/svg';

/** One bar: its label (a day, an hour) and its stacked parts, in series order. */
export interface ChartPoint {
  label: string;
  /** A longer label for the table and the bar's tooltip. */
  title: string;
  values: number[];
}

export interface ChartSeries {
  name: string;
  /** The CSS class of its bars (charts.css): `series-ok`, `series-refused`, `series-total`. */
  className: string;
}

export interface ChartOptions {
  /** What the chart shows, for its accessible name and the table's caption. */
  caption: string;
  series: ChartSeries[];
  points: ChartPoint[];
  /** The table's first column header. */
  labelHeader: string;
  width?: number;
  height?: number;
}

function svg<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Record<string, string | number>, ...children: (SVGElement | string)[]): SVGElementTagNameMap[K] {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
}

const numberFormat = new Intl.NumberFormat('fr-FR');
let tables = 0;

/** The chart (hidden from screen readers: the table says the same) and its table, in a figure. */
export function barChart(o: ChartOptions): HTMLElement {
  const width = o.width ?? 300;
  const height = o.height ?? 80;
  const top = 4;
  const bottom = 14;
  const plot = height - top - bottom;
  const max = Math.max(1, ...o.points.map((p) => p.values.reduce((a, b) => a + b, 0)));
  const step = width / Math.max(1, o.points.length);
  const barWidth = Math.max(1, step * 0.75);
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, class: 'bar-chart', 'aria-hidden': 'true', focusable: 'false', preserveAspectRatio: 'none' });
  chart.append(svg('line', { x1: 0, y1: top + plot + 0.5, x2: width, y2: top + plot + 0.5, class: 'axis' }));
  o.points.forEach((p, i) => {
    let y = top + plot;
    const x = i * step + (step - barWidth) / 2;
    const group = svg('g', {}, svg('title', {}, `${p.title} : ${o.series.map((s, k) => `${s.name} ${numberFormat.format(p.values[k] ?? 0)}`).join(', ')}`));
    p.values.forEach((v, k) => {
      if (v <= 0) return;
      const hgt = Math.max(1, (v / max) * plot);
      y -= hgt;
      group.append(svg('rect', { x: x.toFixed(2), y: y.toFixed(2), width: barWidth.toFixed(2), height: hgt.toFixed(2), class: `bar ${o.series[k].className}` }));
    });
    chart.append(group);
  });
  // First and last labels under the axis.
  if (o.points.length > 0) {
    chart.append(svg('text', { x: 0, y: height - 2, class: 'tick', 'text-anchor': 'start' }, o.points[0].label));
    if (o.points.length > 1) chart.append(svg('text', { x: width, y: height - 2, class: 'tick', 'text-anchor': 'end' }, o.points[o.points.length - 1].label));
  }
  chart.append(svg('text', { x: 2, y: top + 8, class: 'tick', 'text-anchor': 'start' }, `max ${numberFormat.format(max)}`));

  const legend = h('ul', { class: 'chart-legend', 'aria-hidden': 'true' }, ...o.series.map((s) => h('li', { class: s.className }, s.name)));
  // The table is always there for screen readers (visually hidden); the button shows it to everyone.
  const tableId = `chart-table-${++tables}`;
  const table = h(
    'table',
    { class: 'chart-table visually-hidden', id: tableId },
    h('caption', {}, o.caption),
    h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, o.labelHeader), ...o.series.map((s) => h('th', { scope: 'col' }, s.name)))),
    h(
      'tbody',
      {},
      ...o.points.map((p) => h('tr', {}, h('th', { scope: 'row' }, p.title), ...o.series.map((_, k) => h('td', {}, numberFormat.format(p.values[k] ?? 0))))),
    ),
  );
  const toggle = h('button', { type: 'button', class: 'link chart-toggle', 'aria-controls': tableId, 'aria-expanded': 'false' }, 'Afficher le tableau des chiffres');
  toggle.addEventListener('click', () => {
    const shown = table.classList.toggle('visually-hidden') === false;
    toggle.setAttribute('aria-expanded', String(shown));
    toggle.textContent = shown ? 'Masquer le tableau des chiffres' : 'Afficher le tableau des chiffres';
  });
  return h('figure', { class: 'chart' }, chart, legend, toggle, table);
}
