// The console's calls to its own server (used by every tab): GraphQL over fetch, the feed of
// several SKUs (GET /skus/events), and the API key, kept for this browser session only
// (sessionStorage) and sent as an Authorization header: never in a URL.

const KEY = 'inventoryConsoleKey';
const RETRY_MS = 1000;

export function apiKey() {
  try {
    return sessionStorage.getItem(KEY) || '';
  } catch (_) {
    return '';
  }
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY, key);
  else sessionStorage.removeItem(KEY);
}

function headers(extra) {
  const found = { Accept: 'application/json', ...extra };
  const key = apiKey();
  if (key) found.Authorization = `Bearer ${key}`;
  return found;
}

export class ApiError extends Error {
  constructor(code, message) {
    super(code ? `${code}: ${message}` : message);
    this.code = code;
  }
}

// The data of a GraphQL operation; the first error (with its code) is thrown.
export async function graphql(query, variables) {
  const response = await fetch('/graphql', {
    method: 'POST',
    headers: headers({ 'Content-Type': 'application/json' }),
    body: JSON.stringify({ query, variables }),
  });
  let body;
  try {
    body = await response.json();
  } catch (_) {
    throw new ApiError(`HTTP ${response.status}`, 'not a GraphQL answer');
  }
  if (body.errors && body.errors.length) {
    const first = body.errors[0];
    throw new ApiError(first.extensions && first.extensions.code, first.message);
  }
  return body.data;
}

// GET a JSON or text resource of the server (/readyz, /metrics); `auth` is an optional
// Authorization value (the metrics token), the API key is not sent there.
export async function fetchText(path, auth) {
  const response = await fetch(path, { headers: auth ? { Authorization: auth } : {} });
  return { status: response.status, text: await response.text() };
}

function feedUrl(codes) {
  return `/skus/events?${codes.map((c) => `sku=${encodeURIComponent(c)}`).join('&')}`;
}

// Each SSE message of `text` (a growing buffer): [messages, rest].
function messages(text) {
  const found = [];
  const blocks = text.split(/\r?\n\r?\n/);
  const rest = blocks.pop();
  for (const block of blocks) {
    const message = { event: 'message', data: '' };
    for (const line of block.split(/\r?\n/)) {
      if (!line || line.startsWith(':')) continue;
      const at = line.indexOf(':');
      const name = at < 0 ? line : line.slice(0, at);
      const value = at < 0 ? '' : line.slice(at + 1).replace(/^ /, '');
      if (name === 'data') message.data += (message.data ? '\n' : '') + value;
      else message[name] = value;
    }
    if (message.data) found.push(message);
  }
  return [found, rest];
}

// Follows `codes` on one connection: onMessage(kind, data) for every `snapshot` and `stock`
// event, onStatus(text) as the connection goes. Without a key through EventSource; with one,
// through fetch() (EventSource cannot send an Authorization header). Every (re)connection
// starts with a snapshot per SKU. Returns { close }.
export function follow(codes, onMessage, onStatus) {
  let closed = false;
  let source = null;
  let aborter = null;
  const deliver = (kind, data) => {
    if (!closed) onMessage(kind, JSON.parse(data));
  };
  const refused = async (response) => {
    try {
      const body = await response.json();
      return body.error ? `${body.error.code}: ${body.error.message}` : `HTTP ${response.status}`;
    } catch (_) {
      return `HTTP ${response.status}`;
    }
  };
  async function readWithKey() {
    while (!closed) {
      aborter = new AbortController();
      onStatus('connecting…');
      let stop = false;
      try {
        const response = await fetch(feedUrl(codes), {
          headers: headers({ Accept: 'text/event-stream' }), signal: aborter.signal,
        });
        if (!response.ok) {
          onStatus(`refused: ${await refused(response)}`);
          stop = response.status !== 429 && response.status < 500;
        } else {
          onStatus('live');
          const reader = response.body.getReader();
          const decoder = new TextDecoder();
          let buffer = '';
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            let found;
            [found, buffer] = messages(buffer + decoder.decode(value, { stream: true }));
            for (const m of found) {
              if (m.event === 'error') {
                onStatus(`ended: ${m.data}`);
                stop = true;
              } else deliver(m.event, m.data);
            }
          }
          if (!closed && !stop) onStatus('reconnecting…');
        }
      } catch (_) {
        if (closed) return;
        onStatus('offline, retrying…');
      }
      if (stop) return;
      await new Promise((resolve) => setTimeout(resolve, RETRY_MS));
    }
  }
  if (!codes.length) {
    onStatus('no SKUs to follow');
  } else if (apiKey()) {
    readWithKey();
  } else {
    source = new EventSource(feedUrl(codes));
    onStatus('connecting…');
    source.onopen = () => onStatus('live');
    source.addEventListener('snapshot', (e) => deliver('snapshot', e.data));
    source.addEventListener('stock', (e) => deliver('stock', e.data));
    source.addEventListener('error', (e) => {
      if (e.data) {
        source.close();
        onStatus(`ended: ${e.data}`);
      } else {
        onStatus(source.readyState === EventSource.CLOSED
          ? 'refused (enter an API key with inventory:read?)' : 'reconnecting…');
      }
    });
  }
  return {
    close() {
      closed = true;
      if (source) source.close();
      if (aborter) aborter.abort();
    },
  };
}
