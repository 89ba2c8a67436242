// A product page's live stock over graphql-ws (graphql-transport-ws). The first subscription
// starts with a SNAPSHOT (the current figures, with the SKU's sequence); each later event has
// the next sequence. After the socket drops (a server restart, a network change) the page
// subscribes again with afterSequence = the last sequence it showed: the server replays what
// came in between from its ledger, then goes on live. Nothing is missed, nothing shown twice.
"use strict";

const params = new URLSearchParams(location.search);
const sku = params.get("sku") || "TEE-BLK-M";
const url = params.get("server") || "ws://127.0.0.1:8000/graphql";

const STOCK_EVENTS = `subscription StockEvents($sku: String!, $after: Int) {
  stockEvents(sku: $sku, afterSequence: $after) {
    sequence kind onHandDelta reservedDelta available status
  }
}`;

let last = null;        // the last sequence shown: where a new subscription resumes
let duplicates = 0;     // events at or before `last` (a server bug if ever > 0)
let gaps = 0;           // events past last + 1 (likewise)
let retryMs = 250;      // the wait before subscribing again; doubles up to 5 s
let heldUntil = 0;      // productPage.drop(ms): no new socket before then
let retry = null;

// retryAttempts 0: graphql-ws would otherwise subscribe again with the first variables,
// which start over with a SNAPSHOT; resuming is this page's job, with afterSequence.
const client = graphqlWs.createClient({
  url,
  lazy: true,
  retryAttempts: 0,
  on: { connected: () => showState("live"), closed: () => showState("reconnecting") },
});

function $(id) { return document.getElementById(id); }

function showState(state) {
  $("state").dataset.state = state;
  $("state").textContent = state;
}

function show(event) {
  if (last !== null && event.sequence <= last) {
    duplicates += 1;
    return showProblems();
  }
  if (last !== null && event.sequence > last + 1) gaps += 1;
  last = event.sequence;
  retryMs = 250;
  $("available").textContent = event.available;
  $("status").textContent = event.status.replaceAll("_", " ").toLowerCase();
  $("last").textContent = last;
  const item = document.createElement("li");
  item.dataset.sequence = event.sequence;
  item.textContent = `#${event.sequence} ${event.kind} onHand ${signed(event.onHandDelta)} ` +
    `reserved ${signed(event.reservedDelta)} → available ${event.available}`;
  $("events").prepend(item);
  showProblems();
}

function signed(n) { return n > 0 ? `+${n}` : `${n}`; }

function showProblems() {
  const problems = $("problems");
  problems.dataset.duplicates = duplicates;
  problems.dataset.gaps = gaps;
  problems.textContent = duplicates || gaps
    ? `${duplicates} duplicates ignored, ${gaps} gaps` : "no duplicates, no gaps";
}

function subscribe() {
  retry = null;
  const variables = last === null ? { sku } : { sku, after: last };
  client.subscribe({ query: STOCK_EVENTS, variables }, {
    next: ({ data, errors }) => {
      if (data) show(data.stockEvents);
      if (errors) console.warn("stockEvents:", errors);
    },
    error: () => later(),     // the socket closed, or the server ended the subscription
    complete: () => later(),  // a stock feed never ends on its own: resume
  });
}

function later() {
  if (retry !== null) return;
  showState("reconnecting");
  const wait = Math.max(retryMs, heldUntil - Date.now());
  retryMs = Math.min(retryMs * 2, 5000);
  retry = setTimeout(subscribe, wait);
}

// For tests and for trying it out: drop the socket now and open none for `ms`.
window.productPage = {
  drop(ms = 0) {
    heldUntil = Date.now() + ms;
    client.terminate();
  },
  get last() { return last; },
};

$("sku").textContent = sku;
subscribe();
