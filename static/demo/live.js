// Live tiles over GraphQL subscriptions (graphql-transport-ws, one socket for the page): a
// bundle's availability, and the shown SKU's availability through a sales channel.
'use strict';

(() => {
  const DEFAULT_CHANNEL = 'web'; // shown first when there is one and ?channel= names none
  const AVAILABILITY = `subscription($sku: String!, $channel: String) {
    availability(sku: $sku, channel: $channel) { code available status } }`;

  // $(), apiKey() and graphql() are demo.js's (loaded first): one client for the page.

  function connected(on) {
    const live = $('tiles-live');
    live.textContent = on ? 'live' : 'reconnecting…';
    live.className = `live ${on ? 'on' : 'off'}`;
  }

  // The subscriptions this page holds, sent again after a reconnect.
  const socket = {
    ws: null,
    acked: false,
    next: 1,
    retry: 500,
    subscriptions: new Map(),
    open() {
      const scheme = window.location.protocol === 'https:' ? 'wss' : 'ws';
      const ws = new WebSocket(`${scheme}://${window.location.host}/graphql`, 'graphql-transport-ws');
      this.ws = ws;
      this.acked = false;
      ws.addEventListener('open', () => {
        const key = apiKey();
        const payload = key ? { Authorization: `Bearer ${key}` } : {};
        ws.send(JSON.stringify({ type: 'connection_init', payload }));
      });
      ws.addEventListener('message', (event) => this.receive(JSON.parse(event.data)));
      ws.addEventListener('close', () => {
        if (this.ws !== ws) return;
        this.acked = false;
        connected(false);
        setTimeout(() => this.open(), this.retry);
        this.retry = Math.min(this.retry * 2, 10000);
      });
    },
    receive(message) {
      if (message.type === 'connection_ack') {
        this.acked = true;
        this.retry = 500;
        connected(true);
        this.subscriptions.forEach((wanted, id) => this.send(id, wanted));
        return;
      }
      if (message.type === 'ping') {
        this.ws.send(JSON.stringify({ type: 'pong' }));
        return;
      }
      const wanted = this.subscriptions.get(message.id);
      if (!wanted) return;
      if (message.type === 'next') {
        const { data, errors } = message.payload;
        if (errors && errors.length) wanted.failed(errors[0]);
        else wanted.received(data);
      } else if (message.type === 'error') {
        wanted.failed(message.payload[0]);
      } else if (message.type === 'complete') {
        this.subscriptions.delete(message.id);
      }
    },
    send(id, wanted) {
      const payload = { query: wanted.query, variables: wanted.variables };
      this.ws.send(JSON.stringify({ id, type: 'subscribe', payload }));
    },
    subscribe(query, variables, received, failed) {
      const id = String(this.next);
      this.next += 1;
      const wanted = { query, variables, received, failed };
      this.subscriptions.set(id, wanted);
      if (this.acked) this.send(id, wanted);
      return id;
    },
    stop(id) {
      if (id && this.subscriptions.delete(id) && this.acked) {
        this.ws.send(JSON.stringify({ id, type: 'complete' }));
      }
    },
  };

  function render(tile, value) {
    $(`${tile}-available`).textContent = String(value.available);
    const badge = $(`${tile}-status`);
    badge.textContent = value.status.replace(/_/g, ' ');
    badge.dataset.status = value.status;
    badge.className = `badge ${value.status.toLowerCase().replace(/_/g, '-')}`;
  }

  function note(tile, text, kind) {
    const found = $(`${tile}-note`);
    found.textContent = text;
    found.className = `tile-note ${kind || ''}`;
  }

  const following = { bundle: null, channel: null };

  function follow(tile, variables) {
    socket.stop(following[tile]);
    $(`${tile}-available`).textContent = '–';
    $(`${tile}-status`).className = 'badge';
    following[tile] = socket.subscribe(
      AVAILABILITY, variables, (data) => render(tile, data.availability),
      (error) => note(tile, `${(error.extensions || {}).code || 'ERROR'}: ${error.message}`, 'error'),
    );
  }

  const shown = { sku: null, bundle: null };

  async function showBundle(code) {
    code = code.trim();
    if (!code || code === shown.bundle) return;
    shown.bundle = code;
    $('bundle-input').value = code;
    follow('bundle', { sku: code });
    try {
      const data = await graphql(`query($c: String!) { sku(code: $c) { isBundle
        components { sku { code } quantity } } }`, { c: code });
      if (shown.bundle !== code) return;
      if (!data.sku || !data.sku.isBundle) return note('bundle', `${code} is not a bundle.`, 'error');
      const parts = data.sku.components.map((c) => `${c.quantity} × ${c.sku.code}`);
      return note('bundle', parts.join(' + '));
    } catch (error) {
      return note('bundle', `Could not load ${code}: ${error.message}`, 'error');
    }
  }

  function showChannel() {
    const channel = $('channel-input').value;
    const url = new URL(window.location.href);
    if (channel) url.searchParams.set('channel', channel);
    window.history.replaceState(null, '', url);
    $('channel-sku').textContent = shown.sku || '–';
    if (!shown.sku || !channel) return;
    const option = $('channel-input').selectedOptions[0];
    note('channel', option ? option.dataset.locations : '');
    follow('channel', { sku: shown.sku, channel });
  }

  async function fillPickers(wanted) {
    const data = await graphql(`{ channels { code name locations { code } }
      skus(first: 500) { edges { node { code isBundle } } } }`);
    const channels = data.channels.map((c) => {
      const option = document.createElement('option');
      option.value = c.code;
      option.textContent = c.name;
      option.dataset.locations = `sells from ${c.locations.map((l) => l.code).join(', ')}`;
      return option;
    });
    $('channel-input').replaceChildren(...channels);
    const preferred = wanted.channel || DEFAULT_CHANNEL;
    if (data.channels.some((c) => c.code === preferred)) $('channel-input').value = preferred;
    const bundles = data.skus.edges.map((e) => e.node).filter((n) => n.isBundle);
    $('bundle-options').replaceChildren(...bundles.map((b) => {
      const option = document.createElement('option');
      option.value = b.code;
      return option;
    }));
    if (!channels.length) note('channel', 'No channels yet: create one with upsertChannel.');
    showChannel();
    const bundle = wanted.bundle || (bundles[0] && bundles[0].code);
    if (bundle) showBundle(bundle);
    else note('bundle', 'No bundles yet: create one with upsertBundle.');
  }

  document.addEventListener('demo:sku', (event) => {
    shown.sku = event.detail.code;
    if (event.detail.isBundle) showBundle(event.detail.code);
    showChannel();
  });

  document.addEventListener('DOMContentLoaded', () => {
    const params = new URLSearchParams(window.location.search);
    const input = $('bundle-input');
    input.addEventListener('change', () => {
      const url = new URL(window.location.href);
      url.searchParams.set('bundle', input.value.trim());
      window.history.replaceState(null, '', url);
      showBundle(input.value);
    });
    $('channel-input').addEventListener('change', showChannel);
    socket.open();
    fillPickers({ bundle: params.get('bundle'), channel: params.get('channel') }).catch(
      (error) => note('channel', `Could not list channels: ${error.message}`, 'error'),
    );
  });
})();
