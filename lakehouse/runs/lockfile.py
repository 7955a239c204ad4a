"""A lock file under the lakehouse's files: created atomically, holding its owner, released when stale.

The file is created with ``O_EXCL`` locally and Hadoop's create-without-overwrite on ADLS and
OneLake, so of two runs taking it at once exactly one wins. It holds its owner as JSON (run id,
host, pid, start and a heartbeat a thread refreshes). An owner is stale when it was on this host
and its process is gone (killed), or when its heartbeat is older than the staleness allowed
(another host). Pipelines lock their runs with it (:mod:`lakehouse.pipelines.lock`); jobs lock
the tables they write and keep the state of their running runs with it (:mod:`lakehouse.runs.guard`).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from typing import Any, Generic, Protocol, TypeVar

from pyspark.sql import SparkSession

from lakehouse.io import files
from lakehouse.processes import alive

log = logging.getLogger(__name__)


class Holder(Protocol):
    """What every lock owner records (a frozen dataclass with these fields)."""

    host: str
    pid: int
    started_at: str  # ISO UTC
    heartbeat_at: str  # ISO UTC

    @property
    def holder_id(self) -> str:
        """The run that holds it: a lock is released only by the run it names."""


H = TypeVar("H", bound=Holder)


def now() -> dt.datetime:
    """The current time, UTC."""
    return dt.datetime.now(dt.UTC)


def heartbeat_age(holder: Holder, at: dt.datetime | None = None) -> float:
    """Seconds since the holder's last heartbeat."""
    return ((at or now()) - dt.datetime.fromisoformat(holder.heartbeat_at)).total_seconds()


def stale_because(holder: Holder, stale_after_seconds: float, at: dt.datetime | None = None) -> str | None:
    """Why a holder no longer holds (its process is gone from this host, or its heartbeat is too
    old), or None while it holds."""
    if holder.host == socket.gethostname() and not alive(holder.pid):
        return f"its process {holder.pid} on {holder.host} is gone"
    age = heartbeat_age(holder, at)
    if age > stale_after_seconds:
        return f"its last heartbeat was {age:.0f} s ago (stale after {stale_after_seconds:.0f} s)"
    return None


def encode(holder: Holder) -> bytes:
    """A holder as the lock file's content."""
    return json.dumps(asdict(holder), sort_keys=True).encode("utf-8")  # type: ignore[call-overload]


class LockFile(Generic[H]):
    """One lock file and, once taken, its owner.

    Args:
        location: the file (under the lakehouse's files).
        decode: the owner from the file's JSON (a dict); raises ``TypeError``/``ValueError`` when
            the file is from another version or caught mid-write.
        unreadable: the owner to assume when the file cannot be decoded.
        stale_after_seconds: a heartbeat older than this makes the owner stale.
        spark: a session, needed only for a remote (``abfss://``) location.
        on_stale: called with the owner of a stale lock before it is released.
    """

    def __init__(
        self,
        location: str,
        decode: Callable[[dict[str, Any]], H],
        unreadable: Callable[[], H],
        stale_after_seconds: float,
        spark: SparkSession | None = None,
        on_stale: Callable[[H], None] | None = None,
    ):
        self.location, self.decode, self.unreadable = location, decode, unreadable
        self.stale_after_seconds, self.spark, self.on_stale = stale_after_seconds, spark, on_stale
        self.owner: H | None = None
        self._guard = threading.Lock()

    def holder(self) -> H | None:
        """The current owner, or None when the lock is free."""
        for attempt in range(5):
            data = files.read_bytes(self.spark, self.location)
            if data is None:
                return None
            try:
                return self.decode(json.loads(data))
            except (ValueError, TypeError, KeyError):
                if attempt < 4:  # caught between the file's creation and its content: read again
                    time.sleep(0.1)
        return self.unreadable()

    def acquire(self, owner: H, busy: Callable[[H], Exception]) -> H | None:
        """Take the lock for ``owner``, releasing a stale one first.

        Args:
            owner: who takes it.
            busy: the error to raise when a live owner holds it.

        Returns:
            The owner of a stale lock that was released first, or None.

        Raises:
            The error ``busy`` makes: another live owner holds the lock.
        """
        released = None
        for _ in range(3):
            if files.create_new(self.spark, self.location, encode(owner)):
                self.owner = owner
                return released
            held = self.holder()
            if held is None:
                continue  # released between the two calls
            reason = stale_because(held, self.stale_after_seconds)
            if reason is None:
                raise busy(held)
            log.warning("lock %s: releasing the stale lock of %s: %s", self.location, held.holder_id, reason)
            if self.on_stale is not None:
                self.on_stale(held)
            files.delete(self.spark, self.location)
            released = held
        raise busy(self.holder() or owner)

    def update(self, **changes: Any) -> None:
        """Refresh the heartbeat (and change other fields of the owner), if the lock is still ours."""
        with self._guard:
            if self.owner is not None:
                self.owner = replace(self.owner, heartbeat_at=now().isoformat(), **changes)  # type: ignore[type-var]
                files.write_bytes(self.spark, self.location, encode(self.owner))

    def release(self) -> None:
        """Delete the lock, if it is still ours."""
        with self._guard:
            if self.owner is None:
                return
            held = self.holder()
            if held is not None and held.holder_id == self.owner.holder_id:
                files.delete(self.spark, self.location)
            self.owner = None


class Heartbeat:
    """A daemon thread refreshing the heartbeat of some lock files every ``seconds``.

    Args:
        locks: the locks to refresh (a list the owner may extend while it runs).
        seconds: the period.
        name: the thread's name.
    """

    def __init__(self, locks: Sequence[LockFile], seconds: float, name: str = "lock-heartbeat"):
        self.locks, self.seconds, self.name = locks, seconds, name
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> Heartbeat:
        self._stop.clear()

        def beat() -> None:
            while not self._stop.wait(self.seconds):
                for lock in list(self.locks):
                    try:
                        lock.update()
                    except Exception:  # a missed beat is not fatal; staleness allows several
                        log.warning("lock %s: heartbeat failed", lock.location, exc_info=True)

        self._thread = threading.Thread(target=beat, name=self.name, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
