// "Utilisation sur 30 jours" on the tokens page: for each token, its validations per day
// (accepted and refused) as a small chart with its table, its last use and its top addresses,
// from GET /api/tokens/{id}/usage. Follows the tokens list (re-drawn when it changes).
import { api, byId, frenchError, h, showText, timeElement } from './common.js';
import { barChart } from './usage-chart.js';

interface TokenItem {
  id: string;
  name: string;
  status: 'active' | 'expired' | 'revoked';
}

interface Usage {
  tokenId: string;
  from: string;
  to: string;
  days: { day: string; ok: number; refused: number }[];
  totalOk: number;
  totalRefused: number;
  lastUsedAt: string | null;
  lastUsedIp: string | null;
  topAddresses: { ip: string; ok: number; refused: number; lastAt: string }[];
}

/** At most this many tokens get a chart (active ones first). */
const MAX_TOKENS = 20;
const dayFormat = new Intl.DateTimeFormat('fr-FR', { day: 'numeric', month: 'short', timeZone: 'UTC' });
const longDayFormat = new Intl.DateTimeFormat('fr-FR', { weekday: 'long', day: 'numeric', month: 'long', timeZone: 'UTC' });
const n = new Intl.NumberFormat('fr-FR');

function usageCard(t: TokenItem, u: Usage): HTMLElement {
  const chart = barChart({
    caption: `Validations par jour du token « ${t.name} », du ${formatDay(u.from)} au ${formatDay(u.to)}`,
    labelHeader: 'Jour',
    series: [
      { name: 'Acceptées', className: 'series-ok' },
      { name: 'Refusées', className: 'series-refused' },
    ],
    points: u.days.map((d) => ({
      label: dayFormat.format(new Date(`${d.day}T00:00:00Z`)),
      title: longDayFormat.format(new Date(`${d.day}T00:00:00Z`)),
      values: [d.ok, d.refused],
    })),
  });
  const top =
    u.topAddresses.length === 0
      ? h('p', { class: 'muted' }, 'Aucune adresse sur la période.')
      : h(
          'table',
          { class: 'top-addresses' },
          h('caption', {}, 'Adresses les plus fréquentes'),
          h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, 'Adresse'), h('th', { scope: 'col' }, 'Acceptées'), h('th', { scope: 'col' }, 'Refusées'), h('th', { scope: 'col' }, 'Dernière'))),
          h(
            'tbody',
            {},
            ...u.topAddresses.slice(0, 5).map((a) =>
              h('tr', {}, h('th', { scope: 'row' }, a.ip || 'inconnue'), h('td', {}, n.format(a.ok)), h('td', {}, n.format(a.refused)), h('td', {}, timeElement(a.lastAt))),
            ),
          ),
        );
  return h(
    'article',
    { class: 'card usage-card', 'data-token-id': t.id, 'aria-labelledby': `usage-${t.id}` },
    h('h3', { id: `usage-${t.id}` }, t.name, t.status === 'active' ? null : h('span', { class: 'muted' }, t.status === 'revoked' ? ' (révoqué)' : ' (expiré)')),
    h(
      'p',
      { class: 'usage-summary' },
      `${n.format(u.totalOk)} acceptée${u.totalOk > 1 ? 's' : ''}, ${n.format(u.totalRefused)} refusée${u.totalRefused > 1 ? 's' : ''} sur 30 jours. Dernière utilisation : `,
      timeElement(u.lastUsedAt),
      u.lastUsedIp ? ` depuis ${u.lastUsedIp}` : '',
      '.',
    ),
    chart,
    top,
  );
}

function formatDay(day: string): string {
  return longDayFormat.format(new Date(`${day}T00:00:00Z`));
}

let drawing = 0;

async function draw(): Promise<void> {
  const run = ++drawing;
  const list = byId('usage-list');
  const status = byId('usage-status');
  try {
    const { items } = await api<{ items: TokenItem[] }>('GET', '/api/tokens');
    const shown = [...items].sort((a, b) => Number(b.status === 'active') - Number(a.status === 'active')).slice(0, MAX_TOKENS);
    const usages = await Promise.all(shown.map((t) => api<Usage>('GET', `/api/tokens/${t.id}/usage?days=30`)));
    if (run !== drawing) return;
    list.replaceChildren(...shown.map((t, i) => usageCard(t, usages[i])));
    byId('usage-section').hidden = shown.length === 0;
    showText(status, '');
  } catch (err) {
    if (run !== drawing) return;
    showText(status, frenchError(err));
  }
}

function start(): void {
  void draw();
  // The tokens page re-draws its list after a creation, a rotation or a revocation: follow it.
  const body = document.getElementById('tokens-body');
  if (body) {
    let timer: number | undefined;
    new MutationObserver(() => {
      window.clearTimeout(timer);
      timer = window.setTimeout(() => void draw(), 300);
    }).observe(body, { childList: true });
  }
  byId('usage-refresh').addEventListener('click', () => void draw());
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
else start();
