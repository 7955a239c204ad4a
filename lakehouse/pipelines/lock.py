"""One run at a time per pipeline and environment: a lock file under the lakehouse's files.

The lock is created atomically (``O_EXCL`` locally, Hadoop's create-without-overwrite on ADLS and
OneLake) and holds its owner: run id, host, pid, start, and a heartbeat that a thread refreshes
with the run's progress. A second run finds it and stops with :class:`PipelineLockedError`. A lock
is stale, and is released by the next run, when its owner was on this host and its process is
gone (killed), or when its heartbeat is older than ``lock.stale_after_seconds`` (another host).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import threading
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace

from pyspark.sql import SparkSession

from lakehouse.config.model import PipelineLockSettings
from lakehouse.errors import PipelineLockedError
from lakehouse.io import files
from lakehouse.processes import alive
from lakehouse.storage.layout import StorageLayout

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LockOwner:
    """Who holds a pipeline's lock, as written in the lock file."""

    pipeline_run_id: str
    pipeline: str
    env: str
    host: str
    pid: int
    started_at: str  # ISO UTC
    heartbeat_at: str  # ISO UTC
    progress: str = ""

    def heartbeat_age(self, now: dt.datetime) -> float:
        return (now - dt.datetime.fromisoformat(self.heartbeat_at)).total_seconds()

    def stale_because(self, settings: PipelineLockSettings, now: dt.datetime) -> str | None:
        """Why this owner's lock is stale, or None while it holds."""
        if self.host == socket.gethostname() and not alive(self.pid):
            return f"its process {self.pid} on {self.host} is gone"
        age = self.heartbeat_age(now)
        if age > settings.stale_after_seconds:
            return (
                f"its last heartbeat was {age:.0f} s ago (stale after {settings.stale_after_seconds:.0f} s)"
            )
        return None


def lock_location(layout: StorageLayout, pipeline: str, env: str) -> str:
    """Where the lock of a pipeline in an environment lives."""
    return layout.files_location("locks", "pipelines", f"{pipeline}.{env}.lock.json")


class PipelineLock:
    """The lock of one pipeline in one environment.

    Args:
        location: the lock file (:func:`lock_location`).
        settings: heartbeat period and staleness.
        spark: a session, needed only for a remote (``abfss://``) location.
        on_stale: called with the owner of a stale lock before it is released (to mark its run
            abandoned).
    """

    def __init__(
        self,
        location: str,
        settings: PipelineLockSettings,
        spark: SparkSession | None = None,
        on_stale: Callable[[LockOwner], None] | None = None,
    ):
        self.location, self.settings, self.spark, self.on_stale = location, settings, spark, on_stale
        self.owner: LockOwner | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._guard = threading.Lock()

    def holder(self) -> LockOwner | None:
        """The current owner, or None when the lock is free."""
        data = files.read_bytes(self.spark, self.location)
        if data is None:
            return None
        try:
            return LockOwner(**json.loads(data))
        except (ValueError, TypeError):  # a lock from another version, or caught mid-write
            return LockOwner(
                "unknown", "unknown", "unknown", "unknown", -1, _now().isoformat(), _now().isoformat()
            )

    def acquire(self, pipeline_run_id: str, pipeline: str, env: str) -> LockOwner | None:
        """Take the lock and start the heartbeat.

        Returns:
            The owner of a stale lock that was released first, or None.

        Raises:
            PipelineLockedError: another live run holds the lock; names it.
        """
        now = _now()
        owner = LockOwner(
            pipeline_run_id,
            pipeline,
            env,
            socket.gethostname(),
            os.getpid(),
            now.isoformat(),
            now.isoformat(),
        )
        released = None
        for _ in range(3):
            if files.create_new(self.spark, self.location, _encode(owner)):
                self.owner = owner
                self._start_heartbeat()
                return released
            held = self.holder()
            if held is None:
                continue  # released between the two calls
            reason = held.stale_because(self.settings, _now())
            if reason is None:
                raise PipelineLockedError(
                    f"pipeline {pipeline} (env {env}) is already running: run {held.pipeline_run_id} started "
                    f"{held.started_at} by pid {held.pid} on {held.host}"
                    f"{f', at {held.progress}' if held.progress else ''}; heartbeat "
                    f"{held.heartbeat_age(_now()):.0f} s ago (lock {self.location}). Wait for it; if it "
                    "is dead, the next run releases the lock once it is stale"
                )
            log.warning(
                "pipeline %s (env %s): releasing the stale lock of run %s: %s",
                pipeline, env, held.pipeline_run_id, reason,
            )  # fmt: skip
            if self.on_stale is not None:
                self.on_stale(held)
            files.delete(self.spark, self.location)
            released = held
        raise PipelineLockedError(f"pipeline {pipeline} (env {env}): could not take the lock {self.location}")

    def update(self, progress: str) -> None:
        """Record the run's progress in the lock (shown to a second run and by ``lakehouse runs``)."""
        with self._guard:
            if self.owner is not None:
                self.owner = replace(self.owner, progress=progress, heartbeat_at=_now().isoformat())
                files.write_bytes(self.spark, self.location, _encode(self.owner))

    def release(self) -> None:
        """Stop the heartbeat and delete the lock, if it is still ours."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        with self._guard:
            if self.owner is None:
                return
            held = self.holder()
            if held is not None and held.pipeline_run_id == self.owner.pipeline_run_id:
                files.delete(self.spark, self.location)
            self.owner = None

    def _start_heartbeat(self) -> None:
        self._stop.clear()

        def beat() -> None:
            while not self._stop.wait(self.settings.heartbeat_seconds):
                try:
                    self.update(self.owner.progress if self.owner else "")
                except Exception:  # a missed beat is not fatal; staleness allows several
                    log.warning("pipeline lock %s: heartbeat failed", self.location, exc_info=True)

        self._thread = threading.Thread(target=beat, name="pipeline-lock-heartbeat", daemon=True)
        self._thread.start()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _encode(owner: LockOwner) -> bytes:
    return json.dumps(asdict(owner), sort_keys=True).encode("utf-8")
