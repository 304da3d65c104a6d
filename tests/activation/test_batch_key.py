"""Batch keys: the same key from Arrow columns as from Python lists, so a resumed sync recognises its batches."""

from __future__ import annotations

import hashlib

import pyarrow as pa
import pytest

from activation.destinations import batch_key


def test_batch_key_is_the_sha256_of_the_batch_from_lists_and_from_arrow_columns() -> None:
    expected = hashlib.sha256(b"spring\x1ffiles\x1fupsert\x1dc1\x1ec2\x1ec3\x1dh1\x1eh2\x1e").hexdigest()
    ids = pa.chunked_array([pa.array(["c1", "c2"]), pa.array(["c3"])])  # two chunks, as a sliced table gives
    hashes = pa.chunked_array([pa.array(["h1"]), pa.array(["h2", ""])])
    assert batch_key("spring", "files", "upsert", ["c1", "c2", "c3"], ["h1", "h2", ""]) == expected
    assert batch_key("spring", "files", "upsert", ids, hashes) == expected
    empty = pa.chunked_array([], pa.string())
    assert batch_key("spring", "files", "remove", empty, empty) == batch_key("spring", "files", "remove", [], [])


def test_batch_key_refuses_a_missing_value() -> None:
    with pytest.raises(ValueError, match="missing"):
        batch_key(
            "spring", "files", "upsert", pa.chunked_array([pa.array(["c1", None])]), pa.chunked_array([["h", "h"]])
        )
