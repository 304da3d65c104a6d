"""Every benchmark script still starts: it imports what it measures and parses its arguments. A benchmark is run
by hand, not by CI, so without this a refactoring can break it unnoticed (benchmarks/activation_export.py failed at
import for a whole stop after activation.inputs.connect was removed)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from cdp.settings import project_root

SCRIPTS = sorted((project_root() / "benchmarks").glob("*.py"))


def test_there_are_benchmarks() -> None:
    assert len(SCRIPTS) >= 10


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_benchmark_script_starts(script) -> None:
    done = subprocess.run([sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "usage:" in done.stdout
