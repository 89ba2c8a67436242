// The webhooks tab (console.js mounts it): each partner endpoint's state, backlog, last error
// and dead deliveries (admin key); "retry dead" and "re-enable" each ask confirm() first.

import { apiKey, graphql } from './api.js';
import { $, el, when } from './dom.js';

const REFRESH_MS = 10000;
const ENDPOINTS = `{ webhookEndpoints { id url enabled disabledReason eventTypes skus createdAt
  queue { pending dead oldestPendingAt lastError }
  deliveries(status: DEAD, first: 20) {
    id eventId eventType attempts responseStatus error createdAt } } }`;
const RETRY = `mutation ConsoleRetry($id: ID!) { retryDeadDeliveries(endpointId: $id) {
  queued userErrors { code message } } }`;
const ENABLE = `mutation ConsoleEnable($id: ID!) {
  updateWebhookEndpoint(input: { id: $id, enabled: true }) { userErrors { code message } } }`;

export function webhooksTab(state, say) {
  let timer = null;

  async function act(question, mutation, id, done) {
    if (!window.confirm(question)) return;
    const data = await graphql(mutation, { id });
    const payload = Object.values(data)[0];
    if (payload.userErrors.length) {
      say(payload.userErrors.map((e) => `${e.code}: ${e.message}`).join('; '), 'error');
      return;
    }
    say(done(payload), 'ok');
    await load();
  }

  function deadList(endpoint) {
    if (!endpoint.deliveries.length) return el('p', { class: 'muted' }, 'No dead deliveries.');
    return el('table', { class: 'dead' },
      el('thead', {}, el('tr', {}, ...['event', 'type', 'attempts', 'HTTP', 'error', 'queued']
        .map((h) => el('th', {}, h)))),
      el('tbody', {}, ...endpoint.deliveries.map((d) => el('tr', { 'data-delivery': d.id },
        el('td', {}, d.eventId), el('td', {}, d.eventType),
        el('td', { class: 'num' }, String(d.attempts)),
        el('td', { class: 'num' }, d.responseStatus === null ? '–' : String(d.responseStatus)),
        el('td', {}, d.error || ''), el('td', {}, when(d.createdAt))))));
  }

  function card(endpoint) {
    const { queue } = endpoint;
    const state = endpoint.enabled ? 'enabled' : 'disabled';
    const actions = el('div', { class: 'actions' });
    if (queue.dead) {
      const retry = el('button', { class: 'retry' }, `Retry ${queue.dead} dead`);
      retry.addEventListener('click', () => act(
        `Queue the ${queue.dead} dead deliveries to ${endpoint.url} again?`, RETRY, endpoint.id,
        (p) => `${p.queued} deliveries queued again.`).catch((e) => say(e.message, 'error')));
      actions.append(retry);
    }
    if (!endpoint.enabled) {
      const enable = el('button', { class: 'enable' }, 'Re-enable');
      enable.addEventListener('click', () => act(
        `Re-enable ${endpoint.url}? What queued meanwhile is delivered.`, ENABLE, endpoint.id,
        () => 'Endpoint enabled again.').catch((e) => say(e.message, 'error')));
      actions.append(enable);
    }
    return el('article', { class: `endpoint ${state}`, 'data-endpoint': endpoint.id },
      el('header', {}, el('h3', {}, endpoint.url), el('span', { class: `state ${state}` }, state)),
      endpoint.disabledReason ? el('p', { class: 'error' }, endpoint.disabledReason) : '',
      el('dl', { class: 'figures' },
        el('div', {}, el('dt', {}, 'backlog'), el('dd', { class: 'backlog' }, String(queue.pending))),
        el('div', {}, el('dt', {}, 'oldest pending'), el('dd', {}, when(queue.oldestPendingAt))),
        el('div', {}, el('dt', {}, 'dead'), el('dd', { class: 'dead-count' }, String(queue.dead))),
        el('div', {}, el('dt', {}, 'events'),
          el('dd', {}, endpoint.eventTypes.join(', ') || 'all')),
        el('div', {}, el('dt', {}, 'SKUs'), el('dd', {}, endpoint.skus.join(', ') || 'all'))),
      el('p', { class: 'last-error' }, `Last error: ${queue.lastError || 'none'}`),
      actions, deadList(endpoint));
  }

  async function load() {
    if (!apiKey()) {
      $('webhook-list').replaceChildren(el('p', { class: 'muted' },
        'Webhooks are admin only: enter an admin API key above (kept for this browser session).'));
      return;
    }
    const data = await graphql(ENDPOINTS, {});
    state.webhooks = data.webhookEndpoints;
    $('webhook-list').replaceChildren(...(data.webhookEndpoints.length
      ? data.webhookEndpoints.map(card) : [el('p', { class: 'muted' }, 'No endpoints.')]));
  }

  const refresh = () => load().catch((e) => say(e.message, 'error'));
  $('webhooks-refresh').addEventListener('click', refresh);
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
