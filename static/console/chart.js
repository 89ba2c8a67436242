// The SKU page's ledger chart (sku.js draws it) on the vendored uPlot (vendor/, window.uPlot):
// onHand and available over time as steps, and a marker per reservation event, sale,
// receipt and transfer. `data` is uPlot's columns, also what window.consoleState shows tests.

const HEIGHT = 300;
const RESERVATION_KINDS = new Set(['RESERVED', 'COMMITTED', 'RELEASED', 'EXPIRED', 'MOVED',
  'SHORTED']);

function marker(label, color) {
  return {
    label, stroke: color, fill: color, paths: () => null,
    points: { show: true, size: 9, width: 1, stroke: color, fill: color },
  };
}

// Which marker an event gets (its column in `data`), or null.
function markerOf(e) {
  if (RESERVATION_KINDS.has(e.kind)) return 3;
  if (e.kind === 'ADJUSTED' && e.reason === 'SALE') return 4;
  if (e.kind === 'SHIPPED' || e.transferId) return 6;
  if (e.kind === 'RECEIVED') return 5;
  return null;
}

export function ledgerChart(container) {
  const data = [[], [], [], [], [], [], []];
  const steps = window.uPlot.paths.stepped({ align: 1 });
  const options = {
    width: Math.max(container.clientWidth, 320), height: HEIGHT,
    scales: { x: { time: true } },
    series: [
      {},
      { label: 'onHand', stroke: '#2f5bea', width: 2, paths: steps },
      { label: 'available', stroke: '#127a3e', width: 2, paths: steps },
      marker('reservations', '#7c4dcc'),
      marker('sales', '#b3261e'),
      marker('receipts', '#0e7490'),
      marker('transfers', '#c47a00'),
    ],
  };
  container.replaceChildren();
  const plot = new window.uPlot(options, data, container);
  const resized = new ResizeObserver(() => {
    plot.setSize({ width: Math.max(container.clientWidth, 320), height: HEIGHT });
  });
  resized.observe(container);
  let drawn = 0;

  return {
    data,
    add(e, onHand) {
      const xs = data[0];
      let x = Date.parse(e.occurredAt) / 1000;
      if (xs.length && x <= xs[xs.length - 1]) x = xs[xs.length - 1] + 0.001;
      xs.push(x);
      data[1].push(onHand);
      data[2].push(e.available);
      const at = markerOf(e);
      for (let column = 3; column < data.length; column += 1) {
        data[column].push(column !== at ? null : column === 3 ? e.available : onHand);
      }
    },
    draw() {
      if (data[0].length !== drawn) plot.setData(data);
      drawn = data[0].length;
    },
    destroy() {
      resized.disconnect();
      plot.destroy();
    },
  };
}
