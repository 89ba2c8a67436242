// Small DOM helpers every console module uses: elements built without innerHTML (text stays
// text), the status of a row (the server's formula: domain/model.py availability_status).

export const $ = (id) => document.getElementById(id);

export function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) node.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined || child === '') continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

export function rowStatus(available, lowStockThreshold) {
  if (available <= 0) return 'OUT_OF_STOCK';
  if (available <= lowStockThreshold) return 'LOW_STOCK';
  return 'IN_STOCK';
}

export function statusBadge(status) {
  const badge = el('span', { class: `badge ${status.toLowerCase().replace(/_/g, '-')}` },
    status.replace(/_/g, ' '));
  badge.dataset.status = status;
  return badge;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : '–';
}

export function signed(n) {
  return n > 0 ? `+${n}` : String(n);
}
