"""The worker-process pool that spreads UDF work over cores (pure Python)."""

from __future__ import annotations

import os

from spark_jobs import processes


def _tagged(rows: list[int]) -> list[tuple[int, int]]:
    return [(row, os.getpid()) for row in rows]


def _fails(rows: list[int]) -> list[int]:
    raise ValueError(f"bad row {rows[0]}")


def test_rows_come_back_in_order_computed_in_other_processes():
    rows = list(range(4 * processes.MIN_ROWS_PER_WORKER))
    try:
        out = processes.parallel_map(_tagged, rows, 2)
    finally:
        processes.shutdown()
    assert [row for row, _ in out] == rows
    pids = {pid for _, pid in out}
    assert pids and os.getpid() not in pids  # (one worker may take both chunks while the other starts)


def test_small_batches_and_one_worker_run_inline():
    assert {pid for _, pid in processes.parallel_map(_tagged, list(range(10)), 2)} == {os.getpid()}
    rows = list(range(4 * processes.MIN_ROWS_PER_WORKER))
    assert {pid for _, pid in processes.parallel_map(_tagged, rows, 1)} == {os.getpid()}


def test_the_functions_own_errors_reach_the_caller():
    rows = list(range(4 * processes.MIN_ROWS_PER_WORKER))
    try:
        processes.parallel_map(_fails, rows, 2)
        raise AssertionError("no error")
    except ValueError as error:
        assert "bad row" in str(error)
    finally:
        processes.shutdown()


def test_in_driver_process():
    assert processes.in_driver_process(os.getpid())
    assert not processes.in_driver_process(os.getpid() + 1)
