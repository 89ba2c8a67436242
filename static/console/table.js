// The stock tab (console.js mounts it): SKUs x locations from the `skus` query, a page at a
// time, searched and filtered; the page's SKUs followed live on one feed (api.js follow).

import { follow, graphql } from './api.js';
import { $, el, rowStatus, statusBadge } from './dom.js';

const PAGE = 50;
const SKU_FIELDS = `code name lowStockThreshold isBundle sequence
  levels { location { code } onHand reserved safetyStock available incoming }`;
const PAGE_QUERY = `query ConsolePage($first: Int!, $after: String, $filter: SkuFilter) {
  skus(first: $first, after: $after, filter: $filter) {
    edges { node { ${SKU_FIELDS} } } pageInfo { hasNextPage endCursor } } }`;
const BY_CODE = `query ConsoleSkus($codes: [String!]!) { skusByCode(codes: $codes) { ${SKU_FIELDS} } }`;
const CHOICES = '{ locations { code name } channels { code name locations { code } } }';

export function stockTable(state, say) {
  const view = {
    skus: new Map(), // code -> the SKU as the page shows it, levels by location code
    cursors: [null], // `after` of each page seen; the last is the current page's
    next: null,
    feed: null,
    channels: new Map(),
  };
  state.table = view;

  function keep(node) {
    const levels = new Map(node.levels.map((l) => [l.location.code, { ...l }]));
    view.skus.set(node.code, { ...node, levels });
  }

  function filter() {
    const search = $('search').value.trim();
    const location = $('location-filter').value;
    return { search: search || null, location: location || null };
  }

  function shownLocations() {
    const channel = $('channel-filter').value;
    return channel ? new Set(view.channels.get(channel) || []) : null;
  }

  function rows() {
    const wanted = $('status-filter').value;
    const location = $('location-filter').value;
    const inChannel = shownLocations();
    const found = [];
    for (const sku of view.skus.values()) {
      for (const [code, level] of [...sku.levels.entries()].sort()) {
        if (location && code !== location) continue;
        if (inChannel && !inChannel.has(code)) continue;
        const status = rowStatus(level.available, sku.lowStockThreshold);
        if (wanted && status !== wanted) continue;
        found.push({ sku, code, level, status });
      }
    }
    return found;
  }

  function render() {
    const body = $('stock-rows');
    body.replaceChildren(...rows().map(({ sku, code, level, status }) => {
      const link = el('a', { href: `#/sku/${encodeURIComponent(sku.code)}` }, sku.code);
      const row = el('tr', { 'data-sku': sku.code, 'data-location': code },
        el('td', {}, link, sku.isBundle ? el('span', { class: 'tag' }, 'kit') : ''),
        el('td', {}, sku.name), el('td', {}, code),
        ...['onHand', 'reserved', 'available', 'incoming'].map(
          (f) => el('td', { class: `num ${f}` }, String(level[f]))),
        el('td', {}, statusBadge(status)));
      row.className = status === 'OUT_OF_STOCK' ? 'out' : status === 'LOW_STOCK' ? 'low' : '';
      return row;
    }));
    $('page-info').textContent = `page ${view.cursors.length} · ${view.skus.size} SKUs`;
    $('prev-page').disabled = view.cursors.length < 2;
    $('next-page').disabled = !view.next;
  }

  async function refetch(codes) {
    const data = await graphql(BY_CODE, { codes });
    for (const node of data.skusByCode) keep(node);
    render();
  }

  function apply(kind, data) {
    const sku = view.skus.get(data.sku);
    if (!sku) return;
    if (kind === 'snapshot') {
      if (data.sequence > sku.sequence) refetch([data.sku]).catch((e) => say(e.message, 'error'));
      return;
    }
    if (data.sequence <= sku.sequence) return;
    sku.sequence = data.sequence;
    if (data.location && data.level) sku.levels.set(data.location, { ...data.level });
    render();
  }

  function listen() {
    if (view.feed) view.feed.close();
    const codes = [...view.skus.values()].filter((s) => !s.isBundle).map((s) => s.code);
    view.feed = follow(codes, apply, (text) => {
      $('table-live').textContent = text;
      $('table-live').dataset.state = text === 'live' ? 'live' : 'down';
    });
  }

  async function load() {
    const after = view.cursors[view.cursors.length - 1];
    const data = await graphql(PAGE_QUERY, { first: PAGE, after, filter: filter() });
    view.skus.clear();
    for (const edge of data.skus.edges) keep(edge.node);
    view.next = data.skus.pageInfo.hasNextPage ? data.skus.pageInfo.endCursor : null;
    render();
    listen();
  }

  const reload = () => {
    view.cursors = [null];
    load().catch((e) => say(e.message, 'error'));
  };

  async function choices() {
    const data = await graphql(CHOICES, {});
    const options = (select, items) => select.replaceChildren(select.options[0],
      ...items.map((i) => el('option', { value: i.code }, `${i.code} · ${i.name}`)));
    options($('location-filter'), data.locations);
    options($('channel-filter'), data.channels);
    for (const c of data.channels) view.channels.set(c.code, c.locations.map((l) => l.code));
  }

  let typing = null;
  $('search').addEventListener('input', () => {
    clearTimeout(typing);
    typing = setTimeout(reload, 250);
  });
  $('location-filter').addEventListener('change', reload);
  $('channel-filter').addEventListener('change', render);
  $('status-filter').addEventListener('change', render);
  $('next-page').addEventListener('click', () => {
    view.cursors.push(view.next);
    load().catch((e) => say(e.message, 'error'));
  });
  $('prev-page').addEventListener('click', () => {
    view.cursors.pop();
    load().catch((e) => say(e.message, 'error'));
  });
  return {
    start: () => choices().then(load).catch((e) => say(e.message, 'error')),
    stop: () => {
      if (view.feed) view.feed.close();
      view.feed = null;
    },
    resume: () => load().catch((e) => say(e.message, 'error')),
  };
}
