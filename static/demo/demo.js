// A live product page: figures from the SSE feed, actions through GraphQL mutations (the
// bundle and channel tiles are live.js's).
'use strict';

const MAX_EVENTS = 12;
const FALLBACK_LOCATION = 'WH-EAST';
const $ = (id) => document.getElementById(id);

const state = {
  code: null,
  sequence: -1,
  source: null,
  held: new Map(), // SKU code -> reservation ids this page holds, oldest first
};

function apiKey() {
  try {
    return localStorage.getItem('inventoryApiKey') || '';
  } catch (_) {
    return '';
  }
}

async function graphql(query, variables) {
  const headers = { 'Content-Type': 'application/json', Accept: 'application/json' };
  const key = apiKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch('/graphql', {
    method: 'POST', headers, body: JSON.stringify({ query, variables }),
  });
  let body;
  try {
    body = await response.json();
  } catch (_) {
    throw new Error(`HTTP ${response.status}`);
  }
  if (body.errors && body.errors.length) {
    const e = body.errors[0];
    const code = e.extensions && e.extensions.code ? `${e.extensions.code}: ` : '';
    throw new Error(code + e.message);
  }
  return body.data;
}

function say(text, kind) {
  const message = $('message');
  message.textContent = text;
  message.className = `message ${kind || ''}`;
}

function sayUserErrors(action, errors) {
  const lines = errors.map((e) => `${e.code}${e.field ? ` (${e.field.join('.')})` : ''}: ${e.message}`);
  say(`${action} failed — ${lines.join('; ')}`, 'error');
}

function heldIds(code) {
  if (!state.held.has(code)) state.held.set(code, []);
  return state.held.get(code);
}

function forget(id) {
  for (const ids of state.held.values()) {
    const at = ids.indexOf(id);
    if (at >= 0) ids.splice(at, 1);
  }
  renderHeld();
}

function renderHeld() {
  const count = state.code ? heldIds(state.code).length : 0;
  $('held').textContent = String(count);
  $('commit').disabled = count === 0;
  $('release').disabled = count === 0;
}

function renderFigures(d) {
  $('available').textContent = String(d.available);
  $('on-hand').textContent = String(d.onHand);
  $('reserved').textContent = String(d.reserved);
  $('sequence').textContent = String(d.sequence);
  const status = $('status');
  status.textContent = d.status.replace(/_/g, ' ');
  status.dataset.status = d.status;
  status.className = `badge ${d.status.toLowerCase().replace(/_/g, '-')}`;
}

function clearFigures() {
  ['available', 'on-hand', 'reserved', 'sequence', 'status'].forEach((id) => { $(id).textContent = '–'; });
  $('status').className = 'badge';
  delete $('status').dataset.status;
}

function logEvent(d) {
  const item = document.createElement('li');
  const delta = (n) => (n > 0 ? `+${n}` : String(n));
  const parts = [`#${d.sequence}`, d.kind];
  if (d.location) parts.push(`@ ${d.location.code || d.location}`);
  if (d.onHandDelta) parts.push(`onHand ${delta(d.onHandDelta)}`);
  if (d.reservedDelta) parts.push(`reserved ${delta(d.reservedDelta)}`);
  if (d.reason) parts.push(d.reason.toLowerCase());
  parts.push(`→ ${d.available} available`);
  item.textContent = parts.join('  ');
  item.className = `kind-${d.kind.toLowerCase()}`;
  const time = document.createElement('time');
  time.textContent = new Date(d.occurredAt || Date.now()).toLocaleTimeString();
  item.prepend(time);
  const list = $('events');
  list.prepend(item);
  while (list.children.length > MAX_EVENTS) list.lastElementChild.remove();
}

function apply(d) {
  if (d.kind !== 'SNAPSHOT' && d.sequence <= state.sequence) return; // already shown
  state.sequence = d.sequence;
  renderFigures(d);
  logEvent(d);
  if (d.reservationId && ['COMMITTED', 'RELEASED', 'EXPIRED'].includes(d.kind)) {
    forget(d.reservationId);
  }
}

function follow(code) {
  if (state.source) state.source.close();
  state.sequence = -1;
  const key = apiKey();
  const query = key ? `?access_token=${encodeURIComponent(key)}` : '';
  const source = new EventSource(`/skus/${encodeURIComponent(code)}/events${query}`);
  state.source = source;
  const live = $('live');
  const onData = (event) => {
    if (state.source === source) apply(JSON.parse(event.data));
  };
  source.addEventListener('snapshot', onData);
  source.addEventListener('stock', onData);
  source.addEventListener('open', () => { live.textContent = 'live'; live.className = 'live on'; });
  source.addEventListener('error', () => {
    if (state.source !== source) return;
    const closed = source.readyState === EventSource.CLOSED;
    live.textContent = closed ? 'offline' : 'reconnecting…';
    live.className = 'live off';
    if (closed && !$('message').classList.contains('error')) {
      say(`The live feed for ${code} was closed by the server.`, 'error');
    }
  });
}

async function show(code) {
  code = code.trim();
  if (!code || code === state.code) return;
  state.code = code;
  const url = new URL(window.location.href);
  url.searchParams.set('sku', code);
  window.history.replaceState(null, '', url);
  $('sku-input').value = code;
  $('code').textContent = code;
  $('events').replaceChildren();
  clearFigures();
  renderHeld();
  say('');
  follow(code);
  try {
    const data = await graphql('query($c: String!) { sku(code: $c) { code name isBundle } }', { c: code });
    if (state.code !== code) return;
    $('name').textContent = data.sku ? data.sku.name : 'Unknown SKU';
    if (!data.sku || data.sku.isBundle) {
      // a bundle has no stock events of its own: live.js shows it over a subscription
      say(data.sku ? `${code} is a bundle: its live figures are in the Bundle tile.`
        : `No SKU with code ${code}.`, data.sku ? '' : 'error');
      state.source.close();
      $('live').textContent = 'no feed';
      $('live').className = 'live off';
    }
    if (data.sku) {
      document.dispatchEvent(new CustomEvent('demo:sku', { detail: { code, isBundle: data.sku.isBundle } }));
    }
  } catch (error) {
    say(`Could not load ${code}: ${error.message}`, 'error');
  }
}

async function fillPicker() {
  try {
    const data = await graphql('{ skus(first: 100) { edges { node { code name } } } }');
    const options = data.skus.edges.map(({ node }) => {
      const option = document.createElement('option');
      option.value = node.code;
      option.label = node.name;
      return option;
    });
    $('sku-options').replaceChildren(...options);
  } catch (error) {
    say(`Could not list SKUs: ${error.message}`, 'error');
  }
}

async function restockLocation(code) {
  const data = await graphql(
    'query($c: String!) { sku(code: $c) { levels { onHand location { code } } } }', { c: code },
  );
  const levels = (data.sku && data.sku.levels) || [];
  if (!levels.length) return FALLBACK_LOCATION;
  return levels.reduce((best, l) => (l.onHand > best.onHand ? l : best)).location.code;
}

const LEVEL = 'level { available location { code } }';
const ERRORS = 'userErrors { code field message }';

const actions = {
  async reserve(code) {
    const data = await graphql(
      `mutation($i: ReserveInput!) { reserve(input: $i) { reservation { id } ${LEVEL} ${ERRORS} } }`,
      { i: { sku: code, quantity: 1, reference: 'demo-page' } },
    );
    const result = data.reserve;
    if (result.userErrors.length) return sayUserErrors('Reserve', result.userErrors);
    heldIds(code).push(result.reservation.id);
    renderHeld();
    return say(`Reserved 1 at ${result.level.location.code}.`, 'ok');
  },
  async commit(code) { return settle(code, 'commitReservation', 'CommitReservationInput', 'Committed'); },
  async release(code) { return settle(code, 'releaseReservation', 'ReleaseReservationInput', 'Released'); },
  async restock(code) {
    const location = await restockLocation(code);
    const data = await graphql(
      `mutation($i: AdjustStockInput!) { adjustStock(input: $i) { ${LEVEL} ${ERRORS} } }`,
      { i: { sku: code, location, delta: 5, reason: 'RESTOCK', reference: 'demo-page' } },
    );
    const result = data.adjustStock;
    if (result.userErrors.length) return sayUserErrors('Restock', result.userErrors);
    return say(`Restocked 5 at ${location}.`, 'ok');
  },
};

async function settle(code, field, inputType, done) {
  const id = heldIds(code)[0];
  if (!id) return say('This page holds no reservation of this SKU.', 'error');
  const data = await graphql(
    `mutation($i: ${inputType}!) { ${field}(input: $i) { reservation { id status } ${ERRORS} } }`,
    { i: { reservationId: id } },
  );
  const result = data[field];
  if (result.userErrors.length) {
    if (result.userErrors.some((e) => e.code === 'RESERVATION_NOT_ACTIVE' || e.code === 'NOT_FOUND')) {
      forget(id);
    }
    return sayUserErrors(done === 'Committed' ? 'Commit' : 'Release', result.userErrors);
  }
  forget(id);
  return say(`${done} reservation ${id}.`, 'ok');
}

function wire(name) {
  const button = $(name);
  button.addEventListener('click', async () => {
    const code = state.code;
    if (!code) return;
    button.disabled = true;
    try {
      await actions[name](code);
    } catch (error) {
      say(`${button.textContent} failed — ${error.message}`, 'error');
    } finally {
      button.disabled = false;
      renderHeld();
    }
  });
}

document.addEventListener('DOMContentLoaded', () => {
  ['reserve', 'commit', 'release', 'restock'].forEach(wire);
  const input = $('sku-input');
  $('sku-form').addEventListener('submit', (event) => {
    event.preventDefault();
    show(input.value);
  });
  input.addEventListener('change', () => show(input.value));
  const wanted = new URLSearchParams(window.location.search).get('sku');
  show(wanted || input.value);
  fillPicker();
});
