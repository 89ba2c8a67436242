"""deploy/prometheus/inventory.rules.yml passes `promtool check rules` and its unit tests
(`promtool test rules`), and every alert carries what an on-call engineer needs."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.alert_checks import RULE_TESTS, RULES, binary, metric_names

SEVERITIES = {"critical", "warning"}


def alerts() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([binary("promtool"), *args], cwd=RULES.parent, capture_output=True,
                          text=True, timeout=120)


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout


def test_example_prometheus_config_is_valid_and_loads_the_rules() -> None:
    result = promtool("check", "config", "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alerts())} rules found" in result.stdout
    jobs = [job["job_name"] for job in
            yaml.safe_load((RULES.parent / "prometheus.yml").read_text())["scrape_configs"]]
    assert jobs == ["inventory"]  # InventoryDown reads up{job="inventory"}


def test_promtool_unit_tests_pass() -> None:
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_a_broken_rule_fails_its_unit_tests(tmp_path: Any) -> None:
    """The unit tests can fail: with the overdue-holds threshold raised past every test value,
    its `fires` case must fail (guards against tests that pass whatever the rules say)."""
    text = RULES.read_text().replace('{measure="oldest_seconds"}) > 60',
                                     '{measure="oldest_seconds"}) > 60000')
    assert text != RULES.read_text()
    (tmp_path / RULES.name).write_text(text)
    (tmp_path / RULE_TESTS.name).write_text(RULE_TESTS.read_text())
    result = subprocess.run([binary("promtool"), "test", "rules", RULE_TESTS.name],
                            cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "InventoryHoldsNotExpiring" in result.stdout + result.stderr


@pytest.mark.parametrize("rule", alerts(), ids=lambda rule: str(rule["alert"]))
def test_alert_has_severity_summary_and_one_line_runbook(rule: dict[str, Any]) -> None:
    assert rule["alert"].startswith("Inventory")
    assert rule["labels"]["severity"] in SEVERITIES
    assert rule["annotations"]["summary"].strip()
    runbook = rule["annotations"]["runbook"]
    assert runbook.strip() and "\n" not in runbook
    assert metric_names(rule["expr"]), "an alert reads at least one metric"


def test_every_alert_has_a_firing_and_a_quiet_unit_test() -> None:
    cases = [check for test in yaml.safe_load(RULE_TESTS.read_text())["tests"]
             for check in test["alert_rule_test"]]
    for rule in alerts():
        mine = [c for c in cases if c["alertname"] == rule["alert"]]
        assert any(c["exp_alerts"] for c in mine), f"{rule['alert']} never fires in a test"
        assert any(not c["exp_alerts"] for c in mine), f"{rule['alert']} never stays quiet"


@pytest.mark.parametrize(("expr", "names"), [
    ('sum by (job) (rate(a_total{outcome="x"}[5m])) / on (instance) group_left b', {"a_total", "b"}),
    ("histogram_quantile(0.99, sum by (le) (rate(c_bucket{job=~\"$job\"}[$__rate_interval])))",
     {"c_bucket"}),
    ("time() - max(d_seconds > 0) > 3 * 3600 and topk by (job) (1, e)", {"d_seconds", "e"}),
])
def test_metric_names_are_read_from_promql(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names
