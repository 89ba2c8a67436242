"""The serve banner's text: browsable URLs for wildcard addresses, no password ever, one short
block."""

from __future__ import annotations

from pathlib import Path

import pytest

from bootstrap.banner import banner, base_url, without_password
from settings import Settings
from settings.version import version


@pytest.mark.parametrize(("host", "url"), [
    ("127.0.0.1", "http://127.0.0.1:8000"), ("0.0.0.0", "http://127.0.0.1:8000"),
    ("::", "http://[::1]:8000"), ("::1", "http://[::1]:8000"),
    ("inventory.local", "http://inventory.local:8000"),
])
def test_base_url_is_one_a_browser_here_opens(host: str, url: str) -> None:
    assert base_url(host, 8000) == url


@pytest.mark.parametrize(("given", "shown"), [
    ("postgresql://app:s3cret@db:5432/inv", "postgresql://app:***@db:5432/inv"),
    ("postgresql://app:s3cret@[fd00::1]/inv?sslmode=require",
     "postgresql://app:***@[fd00::1]/inv?sslmode=require"),
    ("postgresql://app@db/inv", "postgresql://app@db/inv"),
    ("postgresql://:s3cret@db/inv", "postgresql://db/inv"),
])
def test_database_url_is_shown_without_its_password(given: str, shown: str) -> None:
    assert without_password(given) == shown


def test_banner_is_a_short_block_with_every_page() -> None:
    text = banner(Settings(data_dir=Path("/srv/inv")), "0.0.0.0", 8123)
    lines = text.splitlines()
    assert lines[0] == lines[-1] and set(lines[0]) == {"-"}
    assert lines[1] == f"inventory-server {version()} listening on http://127.0.0.1:8123"
    for path in ("/graphql", "/console", "/demo", "/metrics", "/readyz"):
        assert f"http://127.0.0.1:8123{path}" in text
    assert "embedded PostgreSQL in /srv/inv/pg (start-up log /srv/inv/embedded-postgres.log, " \
           "server log /srv/inv/pg/log)" in text
    assert len(lines) == 9
    assert "(4 workers)" in banner(Settings(), "127.0.0.1", 8000, workers=4)
