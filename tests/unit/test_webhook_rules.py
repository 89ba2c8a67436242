"""domain/webhook_rules.py: URL forms, addresses, ids, the replay window (no fixtures)."""

from __future__ import annotations

import pytest

from domain.errors import InvalidInput, NotFound
from domain.webhook_rules import (
    MAX_REPLAY_EVENTS,
    Target,
    check_addresses,
    check_replay,
    check_url,
    endpoint_id,
)


@pytest.mark.parametrize(("url", "target"), [
    ("http://example.com/hook", Target("example.com", 80)),
    ("HTTPS://Example.COM:8443/h?x=1", Target("example.com", 8443)),
    ("https://[2606:4700::1111]/h", Target("2606:4700::1111", 443)),
    ("http://93.184.215.14:9000", Target("93.184.215.14", 9000)),
])
def test_a_url_names_its_host_and_port(url: str, target: Target) -> None:
    assert check_url(url, ["url"]) == target


@pytest.mark.parametrize("url", [
    "ftp://h/x", "//h/x", "http://", "http://u@h/x", "http://h:0x1/x", "http://h/\t",
    "http://h/" + "a" * 2048,
])
def test_other_urls_are_refused_naming_the_field(url: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        check_url(url, ["url"])
    assert refused.value.field == ["url"]


@pytest.mark.parametrize("address", ["127.0.0.1", "::1", "10.0.0.1", "169.254.1.1",
                                     "::ffff:10.0.0.1", "fe80::1%eth0", "100.64.0.1",
                                     "2002:7f00:1::", "2002:a00:1::1"])
def test_private_addresses_are_refused_unless_allowed(address: str) -> None:
    with pytest.raises(InvalidInput):
        check_addresses("h", ["93.184.215.14", address], ["url"], allow_private=False)
    check_addresses("h", [address], ["url"], allow_private=True)
    check_addresses("h", ["93.184.215.14", "2606:4700::1111", "2002:808:808::1"], ["url"],
                    allow_private=False)


def test_ids_are_decimal_numbers_of_a_bigint() -> None:
    assert endpoint_id("1", ["id"]) == 1
    assert endpoint_id(str(2**63 - 1), ["id"]) == 2**63 - 1
    for bad in ["", "0", "01", "-1", "+1", "1 ", "٣", str(2**63), "1" * 40]:
        with pytest.raises(NotFound):
            endpoint_id(bad, ["id"])


def test_the_replay_window() -> None:
    check_replay(0, MAX_REPLAY_EVENTS, ["afterSequence"])
    check_replay(10, 10, ["afterSequence"])
    check_replay(50, 10, ["afterSequence"])  # past the head: nothing to replay
    with pytest.raises(InvalidInput, match="at least 1"):
        check_replay(0, MAX_REPLAY_EVENTS + 1, ["afterSequence"])
    with pytest.raises(InvalidInput, match="negative"):
        check_replay(-1, 0, ["afterSequence"])
