"""The shared cache of parsed documents: same text, same document; bounded by text bytes."""

from __future__ import annotations

import pytest
from graphql import GraphQLSyntaxError

from resolvers.limits import DocumentCache


def test_a_text_is_parsed_once_and_measured_with_it() -> None:
    cache = DocumentCache()
    first = cache.get("{ sku(code: \"A\") { code levels { onHand } } }", 2000)
    again = cache.get("{ sku(code: \"A\") { code levels { onHand } } }", 2000)
    assert again is first
    assert first.shape.depth == 3
    # another token limit is another entry: the limit is part of what was parsed
    assert cache.get("{ sku(code: \"A\") { code levels { onHand } } }", 100) is not first


def test_a_syntax_error_is_raised_every_time_and_not_kept() -> None:
    cache = DocumentCache()
    for _ in range(2):
        with pytest.raises(GraphQLSyntaxError):
            cache.get("{ sku(code: ", 2000)
    assert len(cache) == 0


def test_the_cache_is_bounded_by_the_length_of_its_texts() -> None:
    cache = DocumentCache(max_text_bytes=1000, max_entry_bytes=300)
    texts = [f"{{ f{i}: sku(code: \"{i}\") {{ code }} }}" for i in range(200)]
    for text in texts:
        cache.get(text, 2000)
    assert sum(len(t) for t in texts[-len(cache):]) <= 1000
    assert cache.get(texts[-1], 2000) is cache.get(texts[-1], 2000)  # the newest stayed
    long_text = "{ " + " ".join(f"f{i}" for i in range(100)) + " }"
    assert cache.get(long_text, 2000) is not cache.get(long_text, 2000)  # too long to keep
