// The operator console's entry (index.html loads it): the API key form, the tabs and the hash
// routes (#/stock, #/sku/CODE, #/webhooks, #/health). window.consoleState is what the page
// shows, for tests and for a curious operator's devtools.

import { apiKey, setApiKey } from './api.js';
import { $ } from './dom.js';
import { healthTab } from './health.js';
import { skuPage } from './sku.js';
import { stockTable } from './table.js';
import { webhooksTab } from './webhooks.js';

const state = {};
window.consoleState = state;

function say(text, kind) {
  const message = $('message');
  message.textContent = text;
  message.className = `message ${kind || ''}`;
}

const table = stockTable(state, say);
const sku = skuPage(state, say);
const webhooks = webhooksTab(state, say);
const health = healthTab(state, say);
const tabs = { stock: table, webhooks, health };
let shown = null;
let tableStarted = false;

function route() {
  const hash = decodeURIComponent(window.location.hash.replace(/^#\/?/, ''));
  const [name, ...rest] = hash.split('/');
  const view = name === 'sku' && rest.length ? 'sku' : tabs[name] ? name : 'stock';
  for (const section of document.querySelectorAll('main > section')) {
    section.hidden = section.id !== `tab-${view}`;
  }
  for (const link of document.querySelectorAll('nav a')) {
    link.classList.toggle('current', link.dataset.tab === view);
  }
  if (shown && shown !== view && tabs[shown]) tabs[shown].stop();
  if (shown === 'sku' && view !== 'sku') sku.close();
  say('');
  if (view === 'sku') {
    sku.open(rest.join('/'));
  } else if (view === 'stock') {
    if (!tableStarted) table.start();
    else if (shown !== 'stock') table.resume();
    tableStarted = true;
  } else if (shown !== view) {
    tabs[view].start();
  }
  shown = view;
}

function showKey() {
  const key = apiKey();
  $('key-state').textContent = key ? `key …${key.slice(-4)} (this session)` : 'no key';
  $('key-forget').hidden = !key;
}

$('key-form').addEventListener('submit', (event) => {
  event.preventDefault();
  setApiKey($('key-input').value.trim());
  $('key-input').value = '';
  showKey();
  shown = null; // reopen the current view with the key
  tableStarted = false;
  route();
});
$('key-forget').addEventListener('click', () => {
  setApiKey('');
  showKey();
  shown = null;
  tableStarted = false;
  route();
});
window.addEventListener('hashchange', route);
showKey();
route();
