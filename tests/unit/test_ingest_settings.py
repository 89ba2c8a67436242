"""settings/ingest.py: INGEST_* read from the environment, each bad value refused with an error
naming its variable; ingestion is on only with both a URL and subjects."""

from __future__ import annotations

import pytest

from settings import Settings
from settings.ingest import IngestSettings

ON = {"INGEST_STREAM_URL": "nats://127.0.0.1:4222", "INGEST_SUBJECTS": "stores.*.stock, pos.>",
      "INGEST_API_KEY": "inv_abc_secret"}


def test_defaults_and_off_without_url_or_subjects() -> None:
    s = IngestSettings.from_env({})
    assert not s.wanted
    assert (s.stream, s.consumer, s.dead_letter_subject, s.dead_letter_stream, s.batch) == (
        "INGEST", "inventory-ingest", "inventory.ingest.dead", "INGEST_DEAD", 500)
    assert not IngestSettings.from_env({"INGEST_SUBJECTS": "a.b"}).wanted


def test_on_with_url_subjects_and_key() -> None:
    s = Settings.from_env({**ON, "INGEST_STREAM": "POS", "INGEST_BATCH": "100",
                           "INGEST_ACK_WAIT": "30s"}).ingest
    assert s.wanted
    assert s.subjects == ("stores.*.stock", "pos.>")
    assert (s.stream, s.dead_letter_stream, s.batch, s.ack_wait) == ("POS", "POS_DEAD", 100, 30.0)
    assert s.api_key == "inv_abc_secret"


@pytest.mark.parametrize(("env", "names"), [
    ({**ON, "INGEST_STREAM_URL": "http://x"}, "INGEST_STREAM_URL"),
    ({**ON, "INGEST_SUBJECTS": "stores..stock"}, "INGEST_SUBJECTS"),
    ({**ON, "INGEST_SUBJECTS": "a b"}, "INGEST_SUBJECTS"),
    ({**ON, "INGEST_DEAD_LETTER_SUBJECT": "dead.>"}, "INGEST_DEAD_LETTER_SUBJECT"),
    ({**ON, "INGEST_STREAM": "has.dot"}, "INGEST_STREAM"),
    ({**ON, "INGEST_CONSUMER": ""}, None),  # empty: the default
    ({**ON, "INGEST_BATCH": "0"}, "INGEST_BATCH"),
    ({**ON, "INGEST_BATCH": "lots"}, "INGEST_BATCH"),
    ({**ON, "INGEST_ACK_WAIT": "soon"}, "INGEST_ACK_WAIT"),
    ({**ON, "INGEST_API_KEY": ""}, "INGEST_API_KEY"),
    ({**ON, "INGEST_DEAD_LETTER_STREAM": "INGEST"}, "INGEST_DEAD_LETTER_STREAM"),
])
def test_bad_values_name_their_variable(env: dict[str, str], names: str | None) -> None:
    if names is None:
        assert IngestSettings.from_env(env).consumer == "inventory-ingest"
        return
    with pytest.raises(ValueError, match=names):
        IngestSettings.from_env(env)


def test_subjects_that_would_ingest_the_dead_letters_are_refused() -> None:
    with pytest.raises(ValueError, match="would ingest the dead letters"):
        IngestSettings.from_env({**ON, "INGEST_SUBJECTS": "inventory.>"})
    with pytest.raises(ValueError, match="would ingest the dead letters"):
        IngestSettings.from_env({**ON, "INGEST_SUBJECTS": "stores.*.stock",
                                 "INGEST_DEAD_LETTER_SUBJECT": "stores.dead.stock"})
    assert IngestSettings.from_env({**ON, "INGEST_SUBJECTS": "inventory.*"}).wanted
