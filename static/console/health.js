// The health tab (console.js mounts it): this instance's /readyz checks and a few /metrics
// figures (feeds, pool, partner lag). /metrics answers METRICS_ALLOW's networks or a bearer
// METRICS_TOKEN; when it refuses, the tab says so and offers a field for the token.

import { fetchText } from './api.js';
import { $, el } from './dom.js';

const REFRESH_MS = 5000;
const TOKEN = 'inventoryMetricsToken';
const SHOWN = [
  ['inventory_websocket_connections', 'open WebSockets'],
  ['inventory_subscriptions', 'open subscriptions'],
  ['inventory_db_pool_connections', 'database pool'],
  ['inventory_events_published_total', 'events published'],
  ['inventory_feed_lag_seconds_count', 'live events delivered'],
  ['inventory_sink_lag_events', 'partner sink lag (events)'],
  ['inventory_sink_lag_seconds', 'partner sink lag (s)'],
  ['inventory_partner_pending', 'partner deliveries pending'],
  ['inventory_partner_oldest_pending_seconds', 'oldest pending (s)'],
  ['inventory_relay_leader', 'relay leader here'],
  ['inventory_incoming_overdue', 'incoming overdue'],
];

// The samples of `text` (Prometheus exposition) whose name is shown: [[name, labels, value]].
export function samples(text) {
  const wanted = new Map(SHOWN);
  const found = [];
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const match = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (match && wanted.has(match[1])) {
      found.push([wanted.get(match[1]), (match[2] || '').slice(1, -1), Number(match[3])]);
    }
  }
  return found;
}

function token() {
  try {
    return sessionStorage.getItem(TOKEN) || '';
  } catch (_) {
    return '';
  }
}

function verdict(value) {
  if (value === 'ok' || value === 'ready') return 'ok';
  return value.startsWith('not configured') ? 'muted' : 'bad';
}

export function healthTab(state, say) {
  let timer = null;

  async function readiness() {
    const { status, text } = await fetchText('/readyz');
    let body;
    try {
      body = JSON.parse(text);
    } catch (_) {
      body = { status: `HTTP ${status}` };
    }
    state.readyz = body;
    $('readyz').replaceChildren(...Object.entries(body).map(([name, value]) => el('div', {},
      el('dt', {}, name), el('dd', { class: verdict(String(value)) }, String(value)))));
  }

  async function metrics() {
    const given = token();
    const { status, text } = await fetchText('/metrics', given ? `Bearer ${given}` : '');
    $('metrics-token-form').hidden = status !== 403;
    if (status !== 200) {
      $('metrics-note').textContent = status === 403
        ? '/metrics refused this browser: it answers METRICS_ALLOW\'s networks (default '
          + '127.0.0.1) or a bearer METRICS_TOKEN; enter the token to read it here.'
        : `/metrics answered HTTP ${status}.`;
      $('metrics').replaceChildren();
      return;
    }
    $('metrics-note').textContent = '';
    const found = samples(text);
    state.metrics = found;
    $('metrics').replaceChildren(...found.map(([name, labels, value]) => el('tr', {},
      el('td', {}, name), el('td', { class: 'muted' }, labels),
      el('td', { class: 'num' }, Number.isInteger(value) ? String(value) : value.toFixed(3)))));
  }

  const refresh = () => Promise.all([readiness(), metrics()])
    .catch((e) => say(e.message, 'error'));
  $('metrics-token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN, $('metrics-token').value.trim());
    $('metrics-token').value = '';
    refresh();
  });
  return {
    start() {
      refresh();
      timer = setInterval(refresh, REFRESH_MS);
    },
    stop() {
      clearInterval(timer);
    },
  };
}
