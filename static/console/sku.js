// The SKU page (#/sku/CODE, console.js routes it): its levels, its ledger as a chart (onHand
// and available over time, reservations, sales, receipts and transfers marked; chart.js) and
// the event list, kept live by the SKU's feed.
//
// The feed's snapshot (onHand and available at sequence S) comes first; the ledger up to S is
// read with stockEvents and onHand worked back from S; live events carry their figures. A
// reconnection's snapshot reads the events missed in between (stockEvents afterSequence).

import { follow, graphql } from './api.js';
import { ledgerChart } from './chart.js';
import { $, el, rowStatus, signed, statusBadge, when } from './dom.js';

const WINDOW = 2000; // ledger entries charted at most
const PAGE = 500;
const LISTED = 200;
const SKU_QUERY = `query ConsoleSku($code: String!) { sku(code: $code) {
  code name lowStockThreshold isBundle sequence
  levels { location { code } onHand reserved available incoming } } }`;
const EVENTS = `query ConsoleLedger($sku: String!, $after: Int!, $first: Int!) {
  stockEvents(sku: $sku, afterSequence: $after, first: $first) {
    sequence kind onHandDelta reservedDelta available reason reservationId reference
    occurredAt transferId location { code } level { onHand reserved available incoming } } }`;

async function ledger(code, after, upTo) {
  const found = [];
  for (let from = after; from < upTo;) {
    const page = (await graphql(EVENTS, { sku: code, after: from, first: PAGE })).stockEvents;
    found.push(...page.filter((e) => e.sequence <= upTo));
    if (page.length < PAGE) break;
    from = page[page.length - 1].sequence;
  }
  return found;
}

// The plain SSE feed's event as the stockEvents query shows it.
function asEvent(data) {
  return { ...data, location: data.location ? { code: data.location } : null };
}

export function skuPage(state, say) {
  let feed = null;
  let chart = null;
  let work = Promise.resolve();
  let page = null;

  function renderLevels(sku) {
    $('sku-levels').replaceChildren(...sku.levels.map((l) => {
      const status = rowStatus(l.available, sku.lowStockThreshold);
      return el('tr', { 'data-location': l.location.code }, el('td', {}, l.location.code),
        ...['onHand', 'reserved', 'available', 'incoming'].map(
          (f) => el('td', { class: `num ${f}` }, String(l[f]))),
        el('td', {}, statusBadge(status)));
    }));
  }

  function renderEvents() {
    const shown = page.events.slice(-LISTED).reverse();
    $('sku-events').replaceChildren(...shown.map((e) => el('tr', { 'data-sequence': e.sequence },
      el('td', { class: 'num' }, String(e.sequence)), el('td', {}, when(e.occurredAt)),
      el('td', {}, e.kind), el('td', {}, e.location ? e.location.code : ''),
      el('td', { class: 'num' }, e.onHandDelta ? signed(e.onHandDelta) : ''),
      el('td', { class: 'num' }, e.reservedDelta ? signed(e.reservedDelta) : ''),
      el('td', { class: 'num' }, String(e.available)),
      el('td', {}, [e.reason, e.reference, e.transferId && `transfer ${e.transferId}`]
        .filter(Boolean).join(' · ')))));
  }

  function levelOf(e) {
    const level = page.sku.levels.find((l) => l.location.code === e.location.code);
    if (level) Object.assign(level, e.level);
    else page.sku.levels.push({ location: e.location, ...e.level });
  }

  // Events after the last one charted, each with the SKU-wide onHand after it.
  function append(events) {
    for (const e of events) {
      if (e.sequence <= page.last) continue;
      page.last = e.sequence;
      page.events.push(e);
      if (e.location && e.level) levelOf(e);
      chart.add(e, e.onHand);
    }
    renderLevels(page.sku);
    renderEvents();
    chart.draw();
  }

  async function snapshot(data) {
    const mine = page;
    if (page.last === null) { // the first: the ledger up to it, onHand worked back from it
      const events = await ledger(page.code, Math.max(0, data.sequence - WINDOW), data.sequence);
      if (page !== mine) return; // another SKU was opened meanwhile
      let onHand = data.onHand;
      for (let i = events.length - 1; i >= 0; i -= 1) {
        events[i].onHand = onHand;
        onHand -= events[i].onHandDelta;
      }
      page.last = 0;
      append(events);
      page.last = data.sequence;
    } else if (data.sequence > page.last) { // a reconnection: what was missed, forward
      let onHand = page.events.length ? page.events[page.events.length - 1].onHand : 0;
      const missed = await ledger(page.code, page.last, data.sequence);
      if (page !== mine) return;
      for (const e of missed) {
        onHand += e.onHandDelta;
        e.onHand = onHand;
      }
      append(missed);
    }
  }

  function received(kind, data) {
    if (data.sku !== (page && page.code)) return;
    work = work.then(() => (kind === 'snapshot' ? snapshot(data) : append([asEvent(data)])))
      .catch((e) => say(e.message, 'error'));
  }

  async function open(code) {
    close();
    $('sku-title').textContent = code;
    $('sku-name').textContent = '';
    const sku = (await graphql(SKU_QUERY, { code })).sku;
    if (!sku) {
      say(`No SKU ${code}.`, 'error');
      return;
    }
    $('sku-name').textContent = sku.name;
    page = { code, sku, events: [], last: null };
    state.sku = page;
    renderLevels(sku);
    $('sku-events').replaceChildren();
    chart = ledgerChart($('sku-chart'));
    page.chart = chart.data;
    if (sku.isBundle) {
      say(`${code} is a bundle: its components carry the ledger.`, 'info');
      return;
    }
    feed = follow([code], received, (text) => {
      $('sku-live').textContent = text;
      $('sku-live').dataset.state = text === 'live' ? 'live' : 'down';
    });
  }

  function close() {
    if (feed) feed.close();
    feed = null;
    if (chart) chart.destroy();
    chart = null;
    work = Promise.resolve();
  }

  return { open: (code) => open(code).catch((e) => say(e.message, 'error')), close };
}
