"""The one parse of a credential (domain.access) and the trusted-proxy setting, and the shipped
compose and nginx files that depend on it (issue 11, item 1)."""

from __future__ import annotations

from pathlib import Path

import pytest

from domain.access import bearer_token, key_shaped
from settings import Settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("value", ["Bearer k", "bearer k", "  BEARER   k  ", "Bearer k "])
def test_bearer_is_read_in_any_case_and_spacing(value: str) -> None:
    assert bearer_token(value) == "k"


@pytest.mark.parametrize("value", ["", "Bearer", "Bearer  ", "Basic k", "k", "Bearer a b",
                                   "Bearer\tk", "Bearer " + "k" * 201])
def test_other_shapes_are_malformed(value: str) -> None:
    with pytest.raises(ValueError):
        bearer_token(value)


@pytest.mark.parametrize(("token", "shaped"), [
    ("inv_ab_cd", True), ("inv_ab_c_d", True), ("inv__cd", False), ("inv_ab_", False),
    ("inv_ab", False), ("xyz_ab_cd", False), ("test-admin-key", False),
])
def test_only_key_shaped_tokens_can_be_looked_up(token: str, shaped: bool) -> None:
    assert key_shaped(token) is shaped


def test_forwarded_allow_ips_takes_networks_and_refuses_a_wildcard() -> None:
    assert Settings.from_env({}).forwarded_allow_ips == "127.0.0.1,::1"
    assert Settings.from_env({"FORWARDED_ALLOW_IPS": "10.0.0.0/8, 172.28.0.10"}
                             ).forwarded_allow_ips == "10.0.0.0/8, 172.28.0.10"
    with pytest.raises(ValueError, match="FORWARDED_ALLOW_IPS"):
        Settings.from_env({"FORWARDED_ALLOW_IPS": "*"})


def test_the_shipped_proxy_setup_lets_no_client_pick_its_address() -> None:
    compose = (ROOT / "docker-compose.yml").read_text()
    nginx = (ROOT / "deploy" / "nginx.conf").read_text()
    trusted = next(line for line in compose.splitlines() if "FORWARDED_ALLOW_IPS:" in line)
    assert "*" not in trusted and "172.28.0.10" in trusted
    assert "ipv4_address: 172.28.0.10" in compose  # the proxy is the address trusted
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in nginx
    code = [line.split("#")[0] for line in nginx.splitlines()]
    assert not any("$proxy_add_x_forwarded_for" in line for line in code)
