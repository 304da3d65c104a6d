"""The lake lock that keeps two identity runs from interleaving their writes (files only, no Spark)."""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cdp.lake import Lake
from spark_jobs.jobs.locking import Holder, LakeLocked, LockLost, lake_lock, stale_reason

HOST = socket.gethostname()
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _plant(lake: Lake, *, pid: int, host: str, age: timedelta = timedelta(0)) -> Path:
    """A lock file as another process would have left it, last touched ``age`` ago."""
    path = lake.lock_path("identity")
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = {"pid": pid, "host": host, "acquired_at": "2026-11-23T11:00:00Z", "run_id": "identity-old", "token": "t"}
    path.write_text(json.dumps(holder))
    stamp = (datetime.now(UTC) - age).timestamp()
    os.utime(path, (stamp, stamp))
    return path


def test_the_lock_names_its_holder_and_is_removed_on_release(lake):
    with lake_lock(lake, "identity", run_id="identity-1") as lock:
        content = json.loads(lake.lock_path("identity").read_text())
        assert content["pid"] == os.getpid() and content["host"] == HOST and content["run_id"] == "identity-1"
        assert content["acquired_at"].endswith("Z")
        assert lock.held()
    assert not lake.lock_path("identity").exists()


def test_a_second_run_is_refused_with_the_holders_name(lake):
    with (
        lake_lock(lake, "identity", run_id="identity-1"),
        pytest.raises(LakeLocked) as refused,
        lake_lock(lake, "identity", run_id="identity-2"),
    ):
        pytest.fail("two holders at once")
    message = str(refused.value)
    assert f"pid {os.getpid()} on {HOST}" in message and "identity-1" in message
    assert str(lake.lock_path("identity")) in message


def test_the_lock_is_released_when_the_body_fails(lake):
    with pytest.raises(ValueError, match="boom"), lake_lock(lake, "identity", run_id="identity-1"):
        raise ValueError("boom")
    with lake_lock(lake, "identity", run_id="identity-2"):
        pass


def test_a_lock_of_a_dead_process_on_this_host_is_broken_at_once(lake):
    _plant(lake, pid=_dead_pid(), host=HOST)
    with lake_lock(lake, "identity", run_id="identity-new") as lock:
        assert lock.holder.run_id == "identity-new"


def test_a_lock_from_another_host_is_kept_until_its_heartbeat_is_older_than_stale_after(lake):
    _plant(lake, pid=1, host="other-host", age=timedelta(minutes=5))
    with (
        pytest.raises(LakeLocked, match="pid 1 on other-host"),
        lake_lock(lake, "identity", run_id="identity-new", stale_after=timedelta(minutes=10)),
    ):
        pass
    with lake_lock(lake, "identity", run_id="identity-new", stale_after=timedelta(minutes=4)) as lock:
        assert lock.held()


def test_a_live_holder_on_this_host_is_never_stale_before_stale_after():
    me = Holder(os.getpid(), HOST, "2026-11-23T11:00:00Z", "identity-1", "t")
    assert stale_reason(me, NOW - timedelta(minutes=29), NOW, timedelta(minutes=30), HOST) is None
    assert "no heartbeat" in (stale_reason(me, NOW - timedelta(minutes=31), NOW, timedelta(minutes=30), HOST) or "")
    gone = Holder(_dead_pid(), HOST, "2026-11-23T11:00:00Z", "identity-1", "t")
    assert "is gone" in (stale_reason(gone, NOW, NOW, timedelta(minutes=30), HOST) or "")
    # A pid on another host says nothing about this host's processes.
    elsewhere = Holder(gone.pid, "other-host", "2026-11-23T11:00:00Z", "identity-1", "t")
    assert stale_reason(elsewhere, NOW, NOW, timedelta(minutes=30), HOST) is None


def test_a_run_whose_lock_was_broken_stops_before_writing_and_leaves_the_new_lock(lake):
    with lake_lock(lake, "identity", run_id="identity-1") as lock:
        lock.ensure_held()
        lake.lock_path("identity").unlink()  # broken as stale by another run ...
        _plant(lake, pid=1, host="other-host")  # ... which took the lock
        with pytest.raises(LockLost, match="no longer held"):
            lock.ensure_held()
    assert json.loads(lake.lock_path("identity").read_text())["run_id"] == "identity-old"


def _try_lock(root: str, barrier, results) -> None:
    barrier.wait()
    try:
        with lake_lock(Lake(Path(root)), "identity", run_id=f"identity-{os.getpid()}"):
            results.put("held")
            barrier.wait()  # hold until every contender has tried
    except LakeLocked:
        results.put("refused")
        barrier.wait()


def test_of_several_processes_racing_for_the_lock_exactly_one_gets_it(lake):
    contenders = 6
    context = multiprocessing.get_context("spawn")
    barrier, results = context.Barrier(contenders), context.Queue()
    processes = [context.Process(target=_try_lock, args=(str(lake.root), barrier, results)) for _ in range(contenders)]
    for process in processes:
        process.start()
    outcomes = sorted(results.get(timeout=120) for _ in range(contenders))
    for process in processes:
        process.join(timeout=120)
    assert outcomes == ["held"] + ["refused"] * (contenders - 1)
    assert not lake.lock_path("identity").exists()
