"""A lock file that keeps two writers of one kind (two identity runs) from interleaving their writes on a lake.

``<lake>/_locks/<name>.lock`` is created atomically (``O_CREAT | O_EXCL``: of two processes racing, exactly one
creates it) and holds who took it: pid, host, time, run id. While held, a heartbeat thread touches the file, so
its modification time says the holder is alive. It is released (removed) in ``finally``, and only by its owner.

A lock left behind by a holder that died is *stale* and is broken by the next run: at once when the holder ran on
this host and its pid is gone, otherwise when no heartbeat came for ``stale_after`` (a crash on another host, a
container killed). Breaking goes through a second, short-lived ``.break`` lock, so two runs that both find a stale
lock cannot both take it: the second one to break sees the first one's fresh lock and stops.

The holder checks it still owns the lock before it writes (:meth:`LakeLock.ensure_held`): a run paused for longer
than ``stale_after`` whose lock was broken fails instead of writing over the run that took over.

This works on local disks and shared file systems with atomic exclusive create (NFSv3+); on object storage the
Dagster pool ``lake_writes`` serialises the writers.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cdp.lake import Lake

DEFAULT_STALE_AFTER = timedelta(minutes=30)
# A lock breaker holds the .break lock for milliseconds; one older than this belonged to a process that died.
_BREAK_STALE_AFTER = timedelta(minutes=1)


class LakeLocked(RuntimeError):
    """Another live process holds the lock."""

    def __init__(self, path: Path, holder: Holder | None) -> None:
        self.path, self.holder = path, holder
        who = holder.describe() if holder is not None else "a process that has not written its name yet"
        super().__init__(
            f"{path.stem} is locked on this lake by {who}; wait for it to finish, or remove {path} if that "
            "process is gone"
        )


class LockLost(RuntimeError):
    """The lock was broken as stale while this process still ran (it was paused or hung for too long)."""


@dataclass(frozen=True)
class Holder:
    pid: int
    host: str
    acquired_at: str  # ISO 8601, UTC
    run_id: str
    token: str  # tells this holder's lock from a later one at the same path

    def describe(self) -> str:
        return f"pid {self.pid} on {self.host} since {self.acquired_at} (run {self.run_id})"


def stale_reason(
    holder: Holder | None, last_heartbeat: datetime, now: datetime, stale_after: timedelta, host: str
) -> str | None:
    """Why a lock is stale, or None while its holder may still be running."""
    if holder is not None and holder.host == host and not _pid_alive(holder.pid):
        return f"process {holder.pid} on {host} is gone"
    if now - last_heartbeat > stale_after:
        return f"no heartbeat for {now - last_heartbeat} (more than {stale_after})"
    return None


class LakeLock:
    """A held lock: see :func:`lake_lock`."""

    def __init__(self, path: Path, holder: Holder, stale_after: timedelta) -> None:
        self.path, self.holder = path, holder
        self._stop = threading.Event()
        # Four heartbeats per stale period, at most a minute apart.
        interval = min(60.0, stale_after.total_seconds() / 4)
        self._heartbeat = threading.Thread(target=self._beat, args=(interval,), name=f"{path.name}-heartbeat")
        self._heartbeat.daemon = True

    def held(self) -> bool:
        return _read(self.path) == self.holder

    def ensure_held(self) -> None:
        if not self.held():
            raise LockLost(
                f"the lock {self.path} is no longer held by this run ({self.holder.describe()}): it was broken as "
                "stale, and another run may be writing; this run stops without writing"
            )

    def _beat(self, interval: float) -> None:
        while not self._stop.wait(interval):
            if self.held():
                with suppress(FileNotFoundError):  # broken as stale between the check and the touch
                    os.utime(self.path)

    def _release(self) -> None:
        self._stop.set()
        if self._heartbeat.is_alive():
            self._heartbeat.join()
        if self.held():
            self.path.unlink(missing_ok=True)


@contextmanager
def lake_lock(
    lake: Lake, name: str, *, run_id: str, stale_after: timedelta = DEFAULT_STALE_AFTER
) -> Iterator[LakeLock]:
    """Hold ``<lake>/_locks/<name>.lock`` for the body; raise :class:`LakeLocked` naming the holder when busy."""
    path = lake.lock_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    holder = Holder(
        pid=os.getpid(),
        host=socket.gethostname(),
        acquired_at=f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ}",
        run_id=run_id,
        token=uuid.uuid4().hex,
    )
    _acquire(path, holder, stale_after)
    lock = LakeLock(path, holder, stale_after)
    lock._heartbeat.start()
    try:
        yield lock
    finally:
        lock._release()


def _acquire(path: Path, holder: Holder, stale_after: timedelta) -> None:
    if _create(path, holder):
        return
    _break_if_stale(path, stale_after, holder.host)  # raises LakeLocked while the holder may be alive
    if not _create(path, holder):
        raise LakeLocked(path, _read(path))  # another run took it between the break and this attempt


def _create(path: Path, holder: Holder) -> bool:
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(asdict(holder), handle)
        handle.flush()
        os.fsync(handle.fileno())
    return True


def _break_if_stale(path: Path, stale_after: timedelta, host: str) -> None:
    """Remove the lock at ``path`` if it is stale; raise LakeLocked if its holder may still be running."""
    breaker = path.with_name(path.name + ".break")
    if not _create_break(breaker):
        raise LakeLocked(path, _read(path))  # another process is breaking or taking it right now
    try:
        holder, heartbeat = _read(path), _mtime(path)
        if heartbeat is None:
            return  # released meanwhile: try again
        reason = stale_reason(holder, heartbeat, datetime.now(UTC), stale_after, host)
        if reason is None:
            raise LakeLocked(path, holder)
        path.unlink(missing_ok=True)
    finally:
        breaker.unlink(missing_ok=True)


def _create_break(breaker: Path) -> bool:
    for _ in range(2):
        try:
            os.close(os.open(breaker, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return True
        except FileExistsError:
            age = _mtime(breaker)
            if age is None or datetime.now(UTC) - age <= _BREAK_STALE_AFTER:
                return False
            breaker.unlink(missing_ok=True)  # left by a breaker that died mid-way
    return False


def _read(path: Path) -> Holder | None:
    try:
        return Holder(**json.loads(path.read_text(encoding="utf-8")))
    except (FileNotFoundError, ValueError, TypeError):
        return None  # gone, or created but not written yet (the creator is between open and write)


def _mtime(path: Path) -> datetime | None:
    try:
        return datetime.fromtimestamp(path.stat().st_mtime, UTC)
    except FileNotFoundError:
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, owned by another user
    return True
