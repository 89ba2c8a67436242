"""The inventory server's Grafana dashboard as code (grafana-foundation-sdk): `make dashboard`
writes inventory-dashboard.json from it; tests/integration/test_dashboard.py checks that the file
is this output and that every query reads a metric the server exports."""

from __future__ import annotations

import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import (
    Dashboard,
    DataSourceRef,
    VariableOption,
    VariableRefresh,
    VariableSort,
)

OUTPUT = Path(__file__).with_name("inventory-dashboard.json")
UID = "inventory-server"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")
SCOPE = 'job=~"$job", instance=~"$instance"'
RATE = "$__rate_interval"


def sel(metric: str, matchers: str = "") -> str:
    """`metric` within the chosen job and instances, and `matchers`."""
    return f"{metric}{{{SCOPE}{', ' + matchers if matchers else ''}}}"


def rate(metric: str, by: str, matchers: str = "") -> str:
    return f"sum by ({by}) (rate({sel(metric, matchers)}[{RATE}]))"


def quantile(q: float, histogram: str, by: str, matchers: str = "") -> str:
    return (f"histogram_quantile({q}, sum by (le, {by}) "
            f"(rate({sel(histogram + '_bucket', matchers)}[{RATE}])))")


def query(expr: str, legend: str) -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).datasource(DATASOURCE)


def graph(title: str, unit: str, *queries: tuple[str, str], width: int = 8,
          description: str = "") -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).unit(unit).span(width).height(8)
             .datasource(DATASOURCE).description(description))
    for n, (expr, legend) in enumerate(queries):
        panel.with_target(query(expr, legend).ref_id(chr(ord("A") + n)))
    return panel


def figure(title: str, unit: str, expr: str, description: str) -> stat.Panel:
    return (stat.Panel().title(title).unit(unit).span(6).height(4).datasource(DATASOURCE)
            .description(description).with_target(query(expr, title).ref_id("A")))


def variable(name: str, values: str) -> dashboard.QueryVariable:
    return (dashboard.QueryVariable(name).label(name).datasource(DATASOURCE)
            .query(f"label_values({values}, {name})").multi(True).include_all(True)
            .all_value(".*").refresh(VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(VariableSort.ALPHABETICAL_ASC)
            .current(VariableOption(selected=True, text="All", value="$__all")))


class Layout:
    """Rows and panels in order, each with its own id (Grafana links and repeats use them)."""

    def __init__(self, board: dashboard.Dashboard) -> None:
        self.board = board
        self.last_id = 0

    def row(self, title: str) -> None:
        self.last_id += 1
        self.board.with_row(dashboard.Row(title).id(self.last_id))

    def panel(self, panel: timeseries.Panel | stat.Panel) -> None:
        self.last_id += 1
        self.board.with_panel(panel.id(self.last_id))


def build() -> Dashboard:
    board = (
        dashboard.Dashboard("Inventory server").uid(UID).tags(["inventory"])
        .refresh("30s").time("now-3h", "now").timezone("browser").editable()
        .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus")
                       .type("prometheus"))
        .with_variable(variable("job", "inventory_http_responses_total"))
        .with_variable(variable("instance", 'inventory_http_responses_total{job=~"$job"}'))
    )
    layout = Layout(board)
    layout.row("Requests")
    layout.panel(graph(
        "GraphQL operations", "reqps",
        (rate("inventory_graphql_requests_total", "operation, outcome"),
         "{{operation}} {{outcome}}"),
        description="Per root field (skus, reserve; multiple, invalid) and outcome"))
    layout.panel(graph(
        "GraphQL latency", "s",
        (quantile(0.5, "inventory_graphql_request_seconds", "type"), "p50 {{type}}"),
        (quantile(0.99, "inventory_graphql_request_seconds", "type"), "p99 {{type}}")))
    layout.panel(graph(
        "HTTP responses", "reqps", (rate("inventory_http_responses_total", "code"), "{{code}}"),
        description="The 5xx share drives InventoryServerErrors"))
    layout.row("Stock")
    layout.panel(graph(
        "Reservations by outcome", "ops",
        (rate("inventory_reservations_total", "outcome"), "{{outcome}}"),
        description="insufficient: reserves refused INSUFFICIENT_STOCK "
                    "(InventoryOversellAttempts)"))
    layout.panel(graph(
        "Stock events by kind", "ops", (rate("inventory_stock_events_total", "kind"), "{{kind}}")))
    layout.panel(graph(
        "Expiry: holds past their expiry", "s",
        ("max(" + sel("inventory_holds_overdue", 'measure="oldest_seconds"') + ")",
         "oldest overdue"),
        (rate("inventory_reservations_total", "outcome", 'outcome="expired"'), "expired / s"),
        description="ACTIVE holds past expires_at (InventoryHoldsNotExpiring) and expiries"))
    layout.panel(figure(
        "Ledger drift", "none", f"max({sel('inventory_ledger_drift_levels')})",
        "Levels differing from their ledger at the last in-server check (InventoryLedgerDrift)"))
    layout.panel(figure(
        "Ledger checked", "s",
        f"time() - max({sel('inventory_ledger_check_timestamp_seconds')} > 0)",
        "Seconds since the last in-server ledger check (LEDGER_CHECK_INTERVAL)"))
    layout.panel(figure(
        "Ready", "none", f"min({sel('inventory_ready')})", "1: /readyz passes everywhere"))
    layout.panel(figure(
        "DB pool in use", "none",
        "sum(" + sel("inventory_db_pool_connections", 'state="used"') + ")",
        "Database connections in use (the API's pool)"))
    layout.row("Live feed")
    layout.panel(graph(
        "Subscribers", "none", (f"sum by (kind) ({sel('inventory_subscriptions')})", "{{kind}}"),
        (f"sum({sel('inventory_websocket_connections')})", "WebSockets")))
    layout.panel(graph(
        "Delivery latency (p99)", "s",
        (quantile(0.99, "inventory_feed_lag_seconds", "stage"), "{{stage}}"),
        description="commit_to_send drives InventoryFeedLag"))
    layout.panel(graph(
        "Events and SLOW_CONSUMER drops", "ops",
        (f"sum(rate({sel('inventory_events_delivered_total')}[{RATE}]))", "delivered"),
        (rate("inventory_sink_events_total", "sink, outcome"), "{{sink}} {{outcome}}"),
        (rate("inventory_slow_consumers_total", "transport"), "SLOW_CONSUMER {{transport}}")))
    layout.row("Sinks: webhooks, NATS, MQTT")
    layout.panel(graph(
        "Partner events", "ops",
        (rate("inventory_partner_events_total", "sink, outcome"), "{{sink}} {{outcome}}"),
        description="delivered, failed (retried), dead (webhooks gave up)"))
    layout.panel(graph(
        "Partner latency (p99)", "s",
        (quantile(0.99, "inventory_partner_latency_seconds", "sink"), "{{sink}}")))
    layout.panel(graph(
        "Sink lag", "s",
        (f"max by (sink) ({sel('inventory_sink_lag_seconds')})", "{{sink}}"),
        (f"max by (sink) ({sel('inventory_partner_oldest_pending_seconds')})",
         "{{sink}} oldest pending"),
        (f"sum({sel('inventory_relay_leader')})", "relay leaders")))
    layout.row("Ingest")
    layout.panel(graph(
        "Ingest dead letters", "ops",
        (rate("inventory_ingest_dead_lettered_total", "code"), "{{code}}"),
        description="Only with INGEST_STREAM_URL and INGEST_SUBJECTS"))
    layout.panel(graph(
        "Ingest lag", "none",
        (f"max({sel('inventory_ingest_lag_messages')})", "messages waiting"),
        (f"sum({sel('inventory_ingest_leader')})", "leaders")))
    layout.panel(graph(
        "Incoming overdue", "none",
        (f"max by (measure) ({sel('inventory_incoming_overdue')})", "{{measure}}")))
    return board.build()


def render() -> str:
    return JSONEncoder(sort_keys=True, indent=2).encode(build()) + "\n"


if __name__ == "__main__":
    if sys.argv[1:] == ["--check"]:
        sys.exit(0 if OUTPUT.read_text() == render() else f"{OUTPUT} is stale: make dashboard")
    OUTPUT.write_text(render())
