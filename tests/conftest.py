"""Shared fixtures: one Spark session for the whole run, tuned for tiny data, on the configured engine.

The suite runs on the embedded Sail server by default; ``CDP_SPARK_ENGINE=jvm`` runs it on Apache Spark local mode
and ``CDP_SPARK_REMOTE=sc://host:port`` on any Spark Connect cluster. In CI (``CI`` set) a skipped test fails the
run: a skip there means a required service or part is missing.
"""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest

from cdp.lake import Lake
from cdp.settings import Settings


@pytest.fixture(scope="session")
def spark():
    from cdp.spark import get_spark

    # Two shuffle partitions: tests use a handful of rows, and each partition is a task to schedule.
    return get_spark(Settings(spark_shuffle_partitions=2))


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    return Lake(tmp_path / "lake")


@pytest.fixture
def landing(tmp_path: Path) -> Path:
    root = tmp_path / "landing"
    root.mkdir()
    return root


WriteFile = Callable[..., Path]


@pytest.fixture
def write_file(landing: Path) -> WriteFile:
    """Write a landing file: ``write_file("events", "a.jsonl", rows)`` where rows are dicts (JSON lines) or a str,
    gzip-compressed for ``.gz`` names; bytes are written exactly as given."""

    def write(source: str, name: str, content: list[dict] | str | bytes) -> Path:
        path = landing / source / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, list):
            content = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in content)
        if isinstance(content, bytes):
            data = content
        else:
            data = content.encode("utf-8")
            if name.endswith(".gz"):
                data = gzip.compress(data, mtime=0)
        path.write_bytes(data)
        return path

    return write


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if os.environ.get("CI") and skipped:
        reporter.write_line(
            f"CI: {skipped} test(s) skipped; a skip in CI is a failure (missing service or part).", red=True
        )
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
