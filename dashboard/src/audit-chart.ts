// "Événements par heure / par jour" on the audit page: the counts of GET /api/audit/stats for the
// period and type of the page's filters (and its outcome, when one is chosen), as a bar chart with
// its table. Per hour up to two days, per day beyond (the stats route's buckets are UTC).
import { api, byId, frenchError, showText } from './common.js';
import { barChart } from './usage-chart.js';

interface Stats {
  from: string;
  to: string;
  interval: 'hour' | 'day';
  buckets: { start: string; total: number; outcomes: Record<string, number> }[];
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const PERIODS: Record<string, number> = { '1h': HOUR, '24h': DAY, '7j': 7 * DAY, '30j': 30 * DAY };
/** "Tout": the stats route reads at most 400 days; the chart shows the last 90. */
const ALL = 90 * DAY;
const GOOD = new Set(['valid', 'success']);

const hourFormat = new Intl.DateTimeFormat('fr-FR', { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' });
const dayFormat = new Intl.DateTimeFormat('fr-FR', { day: 'numeric', month: 'short', timeZone: 'UTC' });
const longDayFormat = new Intl.DateTimeFormat('fr-FR', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric', timeZone: 'UTC' });

const value = (id: string): string => (document.getElementById(id) as HTMLInputElement | HTMLSelectElement | null)?.value.trim() ?? '';

function isoOf(local: string): string | undefined {
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? undefined : d.toISOString();
}

/** The period of the page's filters: [from, to]. */
function period(): { from: Date; to: Date } {
  const now = new Date();
  const p = value('period');
  if (p === 'custom') {
    const from = isoOf(value('from'));
    const to = isoOf(value('to'));
    const end = to ? new Date(to) : now;
    return { from: from ? new Date(from) : new Date(end.getTime() - DAY), to: end };
  }
  return { from: new Date(now.getTime() - (PERIODS[p] ?? ALL)), to: now };
}

let drawing = 0;

async function draw(): Promise<void> {
  const run = ++drawing;
  const section = byId('audit-chart-section');
  const status = byId('audit-chart-status');
  const { from, to } = period();
  if (!(from < to)) return;
  const interval = to.getTime() - from.getTime() <= 2 * DAY ? 'hour' : 'day';
  const q = new URLSearchParams({ from: from.toISOString(), to: to.toISOString(), interval });
  if (value('type')) q.set('type', value('type'));
  const outcome = value('outcome');
  try {
    const stats = await api<Stats>('GET', `/api/audit/stats?${q.toString()}`);
    if (run !== drawing) return;
    // Every bucket of the period, empty ones included.
    const size = interval === 'hour' ? HOUR : DAY;
    const byStart = new Map(stats.buckets.map((b) => [Date.parse(b.start), b]));
    const points = [];
    for (let t = Math.floor(from.getTime() / size) * size; t < to.getTime(); t += size) {
      const b = byStart.get(t);
      const outcomes = b?.outcomes ?? {};
      const count = (keep: (o: string) => boolean) =>
        Object.entries(outcomes)
          .filter(([o]) => keep(o))
          .reduce((n, [, v]) => n + v, 0);
      const values = outcome ? [outcomes[outcome] ?? 0] : [count((o) => GOOD.has(o)), count((o) => !GOOD.has(o))];
      const date = new Date(t);
      points.push({
        label: interval === 'hour' ? hourFormat.format(date) : dayFormat.format(date),
        title: interval === 'hour' ? hourFormat.format(date) : longDayFormat.format(date),
        values,
      });
    }
    const series = outcome
      ? [{ name: `Résultat « ${outcome} »`, className: 'series-total' }]
      : [
          { name: 'Réussis', className: 'series-ok' },
          { name: 'Autres', className: 'series-refused' },
        ];
    byId('audit-chart-title').textContent = interval === 'hour' ? 'Événements par heure' : 'Événements par jour';
    byId('audit-chart').replaceChildren(
      barChart({
        caption: `Nombre d’événements ${interval === 'hour' ? 'par heure' : 'par jour (UTC)'}${value('type') ? `, type ${value('type')}` : ''}`,
        labelHeader: interval === 'hour' ? 'Heure' : 'Jour',
        series,
        points,
        width: 600,
        height: 120,
      }),
    );
    section.hidden = false;
    showText(status, '');
  } catch (err) {
    if (run !== drawing) return;
    showText(status, frenchError(err));
  }
}

function start(): void {
  const form = document.getElementById('filters');
  if (!form) return;
  // The page checks the role and shows its content: the chart follows it, and its filters.
  const content = document.getElementById('audit-content');
  if (!content) return;
  const whenShown = (): void => {
    if (!content.isConnected || content.hidden) return;
    observer.disconnect();
    void draw();
  };
  const observer = new MutationObserver(whenShown);
  observer.observe(content, { attributes: true, attributeFilter: ['hidden'] });
  whenShown();
  form.addEventListener('submit', () => void draw());
  form.addEventListener('reset', () => setTimeout(() => void draw(), 0));
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
